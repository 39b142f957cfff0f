from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests

import forges
from tests.forges.flavor import OAuthFake
from tests.forges.forge_kit import OAUTH
from tests.forges.github.fake_server import FakeGitHub


@pytest.fixture(autouse=True)
def open_sign_in(settings):
    """Forge sign-in is closed by default (HERALD_OPEN); tests about
    something else sign in as anyone. test_signin_gate.py closes it again."""
    settings.HERALD_OPEN = True
    settings.HERALD_ORGS = settings.HERALD_ADMINS = []


@pytest.fixture
def fake_github(settings):
    fake = FakeGitHub().start()
    fake.configure(settings)
    yield fake
    fake.stop()


def start_sign_in(client, next_url=None, provider="github"):
    """POST the sign-in button; returns the forge's authorize URL."""
    data = {"process": "login", **({"next": next_url} if next_url else {})}
    response = client.post(f"/accounts/{provider}/login/", data)
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def follow_forge(url, status=302):
    """What the browser does at the forge: it redirects back to Herald
    (GitHub and GitLab with 302, Gitea with 303)."""
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == status, response.text
    callback = urlsplit(response.headers["Location"])
    return f"{callback.path}?{callback.query}"


def sign_in(client, fake, login="octocat", provider="github", status=302):
    fake.login_as = login
    fake.add_user(login)
    return client.get(follow_forge(start_sign_in(client, provider=provider), status=status))


@dataclass
class OnForge:
    """One forge with sign-in, its fake server running: what the tests
    common to those forges are parametrized with (`oauth_forge`)."""

    kit: OAuthFake
    fake: object

    @property
    def id(self):
        return self.kit.forge

    @property
    def forge(self):
        return forges.get(self.id)

    def sign_in(self, client, login=None):
        return sign_in(client, self.fake, login or self.kit.login, provider=self.id, status=self.kit.redirect)


@pytest.fixture(params=[forge.id for forge in forges.every() if forge.oauth_provider])
def oauth_forge(request, settings):
    """Each forge of the registry that has sign-in, through its fake (the
    OAUTH of tests/forges/<id>/kit.py)."""
    if request.param not in OAUTH:
        pytest.fail(f"add OAUTH to tests/forges/{request.param}/kit.py")
    on = OnForge(OAUTH[request.param], OAUTH[request.param].start(settings))
    yield on
    on.fake.stop()


@pytest.fixture
def signed_in(client, fake_github, db):
    """A Django test client signed in through the fake GitHub as octocat."""
    response = sign_in(client, fake_github)
    assert response.status_code == 302, response.content[:1000]
    return client


# The head commit of GitHub's push example, used as the built commit.
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"


def new_job(repo, capture):
    """A queued push build of SHA; `capture` is django_capture_on_commit_callbacks,
    so the commit status it queues is recorded."""
    from django.db import transaction

    from builds.lifecycle import create_job

    with capture(execute=True):
        with transaction.atomic():
            job, _ = create_job(repo, event="push", commit=SHA, ref="refs/heads/main", branch="main")
    return job


def build_to_success(job, capture, seconds=41):
    """The job is claimed by a worker, runs `seconds`, and passes."""
    from django.utils import timezone

    from builds import constants as C
    from builds.models import Job

    with capture(execute=True):
        assert job.claim("worker-1")
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now() - timezone.timedelta(seconds=seconds))
    job.refresh_from_db()
    with capture(execute=True):
        assert job.finish(C.SUCCESS, exit_code=0)
    return job
