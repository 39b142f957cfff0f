from urllib.parse import urlsplit

import pytest
import requests

from tests.forge_api.server import FakeGitHub


@pytest.fixture
def fake_github(settings):
    fake = FakeGitHub().start()
    fake.configure(settings)
    yield fake
    fake.stop()


def start_sign_in(client, next_url=None):
    """POST the sign-in button; returns the forge's authorize URL."""
    data = {"process": "login", **({"next": next_url} if next_url else {})}
    response = client.post("/accounts/github/login/", data)
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def follow_forge(url):
    """What the browser does at the forge: it redirects back to Herald."""
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    callback = urlsplit(response.headers["Location"])
    return f"{callback.path}?{callback.query}"


def sign_in(client, fake, login="octocat"):
    fake.login_as = login
    fake.add_user(login)
    return client.get(follow_forge(start_sign_in(client)))


@pytest.fixture
def signed_in(client, fake_github, db):
    """A Django test client signed in through the fake GitHub as octocat."""
    response = sign_in(client, fake_github)
    assert response.status_code == 302, response.content[:1000]
    return client
