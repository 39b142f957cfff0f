"""The GitHub client turns every kind of answer into Herald's own exceptions
(forges/client.py, shared by every forge's client)."""

import time

import pytest

from forges.client import BadCredentials, NotFound, RateLimited, Refused, Unavailable
from forges.github.client import GitHubClient
from tests.forges.github.fake_server import FakeGitHub


@pytest.fixture
def fake(settings):
    server = FakeGitHub().start()
    server.configure(settings)
    yield server
    server.stop()


def test_it_maps_github_answers_to_exceptions(fake):
    client = GitHubClient(fake.issue_token())
    fake.add_repo("acme/app", permission="push")
    assert client.repository("acme/app").permission == "push"
    with pytest.raises(NotFound):
        client.repository("acme/missing")
    with pytest.raises(NotFound):  # GitHub hides hooks from non-admins
        client.create_hook("acme/app", "https://ci.example/webhooks/github/", "s")
    fake.fail("GET", "/repos/acme/app$", 403, body={"message": "Resource not accessible by integration"})
    with pytest.raises(Refused) as e:
        client.repository("acme/app")
    assert "Resource not accessible" in str(e.value) and e.value.status == 403
    reset = int(time.time()) + 120
    fake.clear_failures()
    fake.fail(
        "GET",
        "/repos/acme/app$",
        403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        body={"message": "API rate limit exceeded"},
    )
    with pytest.raises(RateLimited) as e:
        client.repository("acme/app")
    assert 110 <= e.value.retry_after <= 120
    fake.clear_failures()
    fake.fail("GET", "/repos/acme/app$", 429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as e:
        client.repository("acme/app")
    assert e.value.retry_after == 7
    fake.clear_failures()
    fake.fail("GET", "/repos/acme/app$", 502, body=b"<html>Bad gateway</html>")
    with pytest.raises(Unavailable):
        client.repository("acme/app")
    fake.clear_failures()
    fake.revoke()
    with pytest.raises(BadCredentials):
        client.repository("acme/app")


def test_an_unreachable_forge_is_unavailable(settings):
    from tests.support import free_port

    settings.HERALD_GITHUB_API_URL = f"http://127.0.0.1:{free_port()}/api/v3"
    with pytest.raises(Unavailable) as e:
        GitHubClient("t").user()
    assert "unreachable" in str(e.value)
