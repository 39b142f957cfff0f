"""A real Herald (web + django-q2 worker + Docker) enabled through the fake
GitHub, rate limited as GitHub does (what every forge with sign-in does is in
tests/oauth/test_status_e2e.py)."""

import json

import pytest

from tests.forges.github.fake_server import FakeGitHub
from tests.oauth.live import commit_statuses, enable, sign_in, wait_for
from tests.support import github_headers, github_push, herald_yml

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


@pytest.fixture
def fake():
    server = FakeGitHub().start()
    yield server
    server.stop()


def push(herald, fake, full_name, sha):
    body = json.dumps(github_push(full_name, sha, message="change")).encode()
    r = herald.post("/webhooks/github/", body, github_headers(fake.hook_secret(full_name), body))
    assert r.status_code == 202, r.text
    return r.json()["jobs"][0]


def test_a_rate_limited_forge_gets_the_status_later(live_herald, git_repo, fake):
    src = git_repo()
    sha = src.commit({".herald.yml": herald_yml("true")}, "works")
    fake.add_repo("octocat/widgets", permission="admin", clone_url=src.url)
    herald = live_herald(**fake.env(), HERALD_OPEN="1", HERALD_STATUS_RETRY_SECONDS="1")
    enable(herald, sign_in(herald), "octocat/widgets")
    # Every post of this build is refused once, as GitHub does past the limit.
    fake.fail(
        "POST",
        "/statuses/",
        403,
        times=3,
        headers={"X-RateLimit-Remaining": "0", "Retry-After": "1"},
        body={"message": "API rate limit exceeded for user ID 1."},
    )

    job_id = push(herald, fake, "octocat/widgets", sha)
    assert herald.wait_job(job_id)["status"] == "success"
    wait_for(lambda: len(fake.received("POST", "/statuses/")) >= 3, what="the first, refused posts")
    # The retries are django-q2 schedules (its scheduler runs about every 30 s).
    rows = wait_for(
        lambda: (lambda r: r if r[-1]["outcome"] == "sent" else None)(commit_statuses(herald, job_id)),
        timeout=120,
        what="the retried success status",
    )
    # At least one refused attempt, one accepted (and one more if an older state
    # landed after it and the newest was posted again).
    assert rows[-1]["job_status"] == "success" and rows[-1]["attempts"] >= 2
    assert "rate limit" not in rows[-1]["last_error"]
    # The three retries run at about the same moment on two workers: an older
    # state may land last for a moment, and then the newest is posted again.
    wait_for(
        lambda: fake.statuses("octocat/widgets")[-1]["state"] == "success",
        timeout=60,
        what="success as the forge's last word",
    )
    # Older states retried later never overwrite the newer one on the forge.
    wait_for(
        lambda: all(r["outcome"] in ("sent", "superseded") for r in commit_statuses(herald, job_id)),
        timeout=120,
        what="the other retries",
    )
    assert fake.statuses("octocat/widgets")[-1]["state"] == "success"
