"""Gogs' webhooks where they differ from the other forges' (the tests
common to all forges are in tests/forges/test_webhooks.py)."""

from builds.models import Job
from tests.forges.forge_kit import aim_pr, aim_push, post

SHA = "1234567890abcdef1234567890abcdef12345678"
REPO = "acme/widgets"


def test_gogs_tags_arrive_as_create_events(client, repo_for):
    repo_for("gogs")
    r = post(client, "gogs", aim_push("gogs", "create__tag", REPO, SHA), "create")
    assert r.status_code == 202
    job = Job.objects.get()
    assert (job.event, job.tag, job.commit) == ("tag", "v1.0.0", SHA)
    # A push event for the same tag, should Gogs send one, adds no job.
    r = post(client, "gogs", aim_push("gogs", "push__docs_example", REPO, SHA, ref="refs/tags/v1.0.0"), "push")
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate"


def test_gogs_pull_requests_are_not_folded_by_the_same_push_window(client, repo_for):
    # Without a commit in the payload two synchronize events can't be told
    # apart; each delivery (by its id) builds once.
    repo_for("gogs")
    p = aim_pr("gogs", "pull_request__synchronized", REPO, SHA)
    assert post(client, "gogs", p, "pull_request").status_code == 202
    assert post(client, "gogs", p, "pull_request").status_code == 202
    assert Job.objects.count() == 2
