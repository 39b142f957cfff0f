"""What a user sees and may do follows the forge, here GitHub: pull to read,
push to restart or cancel, admin for settings; refreshed on sign-in, cached
briefly."""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from builds.models import Job
from repositories.models import Membership, Repository
from tests.forges.oauth_kit import sign_in


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def private_repo(db):
    repo = Repository.objects.create(
        full_name="acme/secret",
        clone_url="https://example.com/acme/secret.git",
        private=True,
        forge_id="4242",
        job_counter=1,
    )
    Job.objects.create(repository=repo, number=1, commit="a" * 40, status="failed")
    return repo


def test_sign_in_grants_what_the_forge_says(client, fake_github, private_repo):
    fake_github.add_repo("acme/secret", permission="pull", private=True)
    assert client.get("/repos/acme/secret/").status_code == 404
    sign_in(client, fake_github)
    user = User.objects.get(username="octocat")
    assert Membership.objects.get(user=user, repository=private_repo).permission == "pull"
    assert client.get("/repos/acme/secret/").status_code == 200
    job = private_repo.jobs.get()
    # pull may read but not restart.
    assert client.post(f"/api/jobs/{job.pk}/restart").status_code == 403


def test_push_access_may_restart(client, fake_github, private_repo):
    fake_github.add_repo("acme/secret", permission="push", private=True)
    sign_in(client, fake_github)
    job = private_repo.jobs.get()
    assert client.post(f"/api/jobs/{job.pk}/restart").status_code in (200, 201, 202)


def test_losing_access_on_the_forge_removes_it_in_herald(client, fake_github, private_repo, settings):
    settings.HERALD_FORGE_PERMISSION_TTL = 300
    fake_github.add_repo("acme/secret", permission="push", private=True)
    sign_in(client, fake_github)
    del fake_github.repos["acme/secret"].permissions["octocat"]
    # Within the cache period the last answer stands…
    assert client.get("/repos/acme/secret/").status_code == 200
    # …after it, the forge is asked again and its 404 removes the access.
    Membership.objects.update(refreshed_at="2000-01-01T00:00:00Z")
    cache.clear()
    assert client.get("/repos/acme/secret/").status_code == 404
    assert not Membership.objects.exists()


def test_a_permission_change_is_picked_up_after_the_cache_period(client, fake_github, private_repo):
    fake_github.add_repo("acme/secret", permission="pull", private=True)
    sign_in(client, fake_github)
    fake_github.repos["acme/secret"].permissions["octocat"] = "admin"
    Membership.objects.update(refreshed_at="2000-01-01T00:00:00Z")
    cache.clear()
    client.get("/repos/acme/secret/")
    assert Membership.objects.get().permission == "admin"
    asked = len(fake_github.received("GET", "^/api/v3/repos/acme/secret$"))
    client.get("/repos/acme/secret/")
    client.get("/repos/acme/secret/")
    assert len(fake_github.received("GET", "^/api/v3/repos/acme/secret$")) == asked  # cached


def test_a_forge_that_is_down_keeps_the_last_answer(client, fake_github, private_repo):
    fake_github.add_repo("acme/secret", permission="pull", private=True)
    sign_in(client, fake_github)
    fake_github.fail("GET", "/repos/acme/secret$", 503)
    Membership.objects.update(refreshed_at="2000-01-01T00:00:00Z")
    cache.clear()
    assert client.get("/repos/acme/secret/").status_code == 200
