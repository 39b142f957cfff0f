"""A signed delivery captured and sent again later, under a new delivery id
(issue 10, section 4): it never cancels newer work on its branch and never
builds a commit already built for that ref. An explicit rebuild still can."""

import json

import pytest
from django.utils import timezone

from builds.lifecycle import restart
from builds.models import Job
from tests.forges.forge_kit import as_meta
from tests.support import github_headers, github_push
from webhooks.models import Delivery

pytestmark = [pytest.mark.django_db(transaction=True)]

OLD, NEW = "1" * 40, "2" * 40


@pytest.fixture
def repo(make_repository):
    return make_repository("acme/widgets", provider="github")


def capture(sha, branch="main"):
    """A push as GitHub signed it: the body and its signature."""
    body = json.dumps(github_push("acme/widgets", sha, branch=branch)).encode()
    return body, github_headers("s3cret", body)


def deliver(client, captured, delivery=None):
    body, headers = captured
    headers = dict(headers, **({"X-GitHub-Delivery": delivery} if delivery else {}))
    return client.post("/webhooks/github/", data=body, content_type="application/json", **as_meta(headers))


def test_a_replayed_push_of_a_commit_already_built_builds_nothing(client, repo):
    old = capture(OLD)
    first = deliver(client, old)
    assert first.status_code == 202
    job = Job.objects.get()
    # Long after the forge's own retries could explain it.
    Job.objects.filter(pk=job.pk).update(status="success", created_at=timezone.now() - timezone.timedelta(days=3))

    r = deliver(client, old, delivery="a-new-id-from-the-attacker")
    assert r.status_code == 200
    assert r.json()["outcome"] == "duplicate" and r.json()["jobs"] == [job.pk]
    assert r.json()["reason"] == (
        f"commit {OLD[:12]} of refs/heads/main already has job #1; rebuild that job to build it again"
    )
    assert Job.objects.count() == 1
    recorded = Delivery.objects.get(delivery_id="a-new-id-from-the-attacker")
    assert recorded.outcome == "duplicate" and recorded.reason == r.json()["reason"]


def test_a_replayed_older_push_never_cancels_the_newer_build_of_its_branch(client, repo):
    old = capture(OLD)
    deliver(client, old)
    newer = deliver(client, capture(NEW)).json()["jobs"][0]
    older = Job.objects.get(commit=OLD)
    assert older.status == "cancelled"  # superseded by the newer push, as it should be

    r = deliver(client, old, delivery="replayed")
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
    assert Job.objects.get(pk=newer).status == "queued"
    assert Job.objects.count() == 2


def test_a_replayed_pull_request_event_never_cancels_the_newer_head(client, repo):
    from tests.forges.forge_kit import aim_pr, post

    def pr(sha):
        p = aim_pr("github", "pull_request__synchronize", "acme/widgets", sha, number=3)
        p["pull_request"]["head"]["repo"]["full_name"] = "acme/widgets"
        return p

    old = pr(OLD)
    post(client, "github", old, "pull_request")
    newer = post(client, "github", pr(NEW), "pull_request").json()["jobs"][0]
    r = post(client, "github", old, "pull_request", delivery="replayed")
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
    assert Job.objects.get(pk=newer).status == "queued"


def test_the_same_commit_on_another_branch_still_builds(client, repo):
    deliver(client, capture(OLD))
    r = deliver(client, capture(OLD, branch="release"))
    assert r.status_code == 202
    assert sorted(Job.objects.values_list("branch", flat=True)) == ["main", "release"]


def test_an_explicit_rebuild_still_builds_the_commit_again(client, repo):
    deliver(client, capture(OLD))
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(status="failed")
    again = restart(job)
    assert again.pk != job.pk and again.status == "queued" and again.commit == OLD
    # And a replay after the rebuild is still a no-op.
    assert deliver(client, capture(OLD), delivery="later").json()["outcome"] == "duplicate"
    assert Job.objects.count() == 2
