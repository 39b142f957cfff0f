"""A real Herald (web + django-q2 worker + Docker) enabled through each
forge's fake (the registry's forges with sign-in): commit statuses are
posted by queued tasks, and a forge that fails them never fails the build."""

import json

import pytest

from tests.forges.forge_kit import PUSH, aim_push, headers
from tests.oauth.live import commit_statuses, enable, sign_in, wait_for
from tests.support import herald_yml

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def push(herald, forge, full_name, sha):
    """The forge's documented push, signed with the hook's secret (each forge
    with sign-in is the webhook flavor of its own name)."""
    event, name = PUSH[forge.id]
    payload = aim_push(forge.id, name, full_name, sha, ref="refs/heads/main", message="change")
    body = json.dumps(payload).encode()
    secret = forge.kit.hook_secret(forge.fake, full_name)
    r = herald.post(f"/webhooks/{forge.id}/", body, headers(forge.id, event, body, secret=secret))
    assert r.status_code == 202, r.text
    return r.json()["jobs"][0]


def test_a_failing_status_api_never_fails_the_build_and_is_recorded(live_herald, git_repo, oauth_forge):
    fake, full_name = oauth_forge.fake, f"{oauth_forge.kit.login}/widgets"
    src = git_repo()
    sha = src.commit({".herald.yml": herald_yml("echo built")}, "works")
    oauth_forge.kit.add_admin_repo(fake, full_name, clone_url=src.url)
    fake.fail("POST", "/statuses/", 500, body={"message": "Internal Server Error"})
    herald = live_herald(**fake.env(), HERALD_OPEN="1", HERALD_STATUS_ATTEMPTS="1")
    enable(herald, sign_in(herald, oauth_forge.id), full_name, oauth_forge.id)

    job_id = push(herald, oauth_forge, full_name, sha)
    assert herald.wait_job(job_id)["status"] == "success"
    rows = wait_for(
        lambda: (lambda r: r if len(r) == 3 and all(x["outcome"] == "failed" for x in r) else None)(
            commit_statuses(herald, job_id)
        ),
        timeout=60,
        what="three failed commit statuses",
    )
    # Each state is recorded by its own hand (the webhook's commit, the
    # worker): on PostgreSQL "running" may be written first.
    assert sorted(r["job_status"] for r in rows) == ["queued", "running", "success"]
    assert all("HTTP 500" in r["last_error"] for r in rows)
    assert len(fake.received("POST", "/statuses/")) == 3
