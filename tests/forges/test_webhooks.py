"""Every forge × every event, with each forge's documented payloads, through
the Django test client. Forgejo is the Gitea receiver with Forgejo headers.
What only one forge does is tested in its folder (tests/forges/<id>/test_webhook.py)."""

import pytest

from builds.models import Job
from tests.forges.forge_kit import (
    FLAVORS,
    KITS,
    PR,
    PR_FACTS,
    PR_FLAVORS,
    PR_REF,
    PUSH,
    TAG,
    aim_pr,
    aim_push,
    load,
    post,
)
from webhooks.models import Delivery

SHA = "1234567890abcdef1234567890abcdef12345678"
REPO = "acme/widgets"


def push(client, flavor, sha=SHA, ref=None, message=None, **kw):
    event, name = PUSH[flavor]
    return post(client, flavor, aim_push(flavor, name, REPO, sha, ref=ref, message=message), event, **kw)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_it_builds_a_branch_push(client, repo_for, flavor):
    repo_for(flavor)
    r = push(client, flavor)
    assert r.status_code == 202, r.content
    job = Job.objects.get()
    assert r.json()["jobs"] == [job.pk]
    assert (job.event, job.commit, job.status) == ("push", SHA, "queued")
    assert job.ref == f"refs/heads/{job.branch}" and job.branch
    assert Delivery.objects.get().outcome == "accepted"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_it_builds_a_tag_push_as_a_tag_event(client, repo_for, flavor):
    repo_for(flavor)
    event, name = TAG[flavor]
    r = post(client, flavor, aim_push(flavor, name, REPO, SHA, ref="refs/tags/v1.0.0"), event)
    assert r.status_code == 202, r.content
    job = Job.objects.get()
    assert (job.event, job.tag, job.branch, job.ref, job.commit) == ("tag", "v1.0.0", "", "refs/tags/v1.0.0", SHA)


@pytest.mark.parametrize(
    "flavor,action", [(f, a) for f in FLAVORS for a in ("opened", "reopened", "synchronize") if a in PR[f]]
)
def test_it_builds_pull_requests(client, repo_for, flavor, action):
    repo_for(flavor)
    event, name = PR[flavor][action]
    r = post(client, flavor, aim_pr(flavor, name, REPO, SHA), event)
    assert r.status_code == 202, r.content
    job = Job.objects.get()
    kit = KITS[flavor]
    facts = PR_FACTS[flavor] if action == "opened" or kit.pr_facts_every_action else None
    assert job.event == "pull_request" and job.pr_number and job.source_branch and job.target_branch
    assert job.ref == PR_REF[flavor].format(n=job.pr_number, branch=job.source_branch)
    assert not job.from_fork and job.source_url == ""
    # Gogs sends no commit with a pull request (the worker builds the ref),
    # Bitbucket a 12-character one.
    assert job.commit == kit.pr_commit(SHA)
    if facts:
        assert (job.pr_number, job.pr_title, job.source_branch, job.target_branch) == (
            facts["number"],
            facts["title"],
            facts["source"],
            facts["target"],
        )


@pytest.mark.parametrize("flavor", PR_FLAVORS)
def test_it_ignores_closed_pull_requests(client, repo_for, flavor):
    repo_for(flavor)
    event, name = PR[flavor]["closed"]
    r = post(client, flavor, aim_pr(flavor, name, REPO, SHA), event)
    assert r.status_code == 200, r.content
    assert r.json()["outcome"] == "ignored" and r.json()["reason"]
    assert not Job.objects.exists()
    d = Delivery.objects.get()
    assert (d.outcome, d.reason) == ("ignored", r.json()["reason"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_it_ignores_branch_deletion(client, repo_for, flavor):
    repo_for(flavor)
    event, p = KITS[flavor].branch_deleted(REPO, SHA)
    r = post(client, flavor, p, event)
    assert r.status_code == 200, r.content
    assert r.json()["outcome"] == "ignored" and "deleted" in r.json()["reason"]
    assert not Job.objects.exists()


@pytest.mark.parametrize("flavor", [f for f in FLAVORS if KITS[f].hook_test(REPO, SHA)])
def test_it_answers_the_forges_hook_test(client, repo_for, flavor):
    repo_for(flavor)
    event, p = KITS[flavor].hook_test(REPO, SHA)
    r = post(client, flavor, p, event)
    assert r.status_code == 200, r.content
    assert "the hook is set up" in r.json()["reason"]
    assert not Job.objects.exists()
    assert Delivery.objects.get().outcome == "ignored"


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("marker", ["[ci skip]", "[skip ci]"])
def test_it_skips_pushes_whose_head_commit_asks_to(client, repo_for, flavor, marker):
    repo_for(flavor)
    r = push(client, flavor, message=f"docs only {marker}")
    assert r.status_code == 200, r.content
    assert r.json()["reason"] == "the commit message asks to skip CI"
    assert not Job.objects.exists()


@pytest.mark.parametrize("flavor,event,name", [(f, event, name) for f in FLAVORS for event, name in KITS[f].ignored])
def test_it_records_events_that_do_not_build(client, repo_for, flavor, event, name):
    repo_for(flavor)
    p = load(flavor, name)
    KITS[flavor].set_repo(p, REPO)
    r = post(client, flavor, p, event)
    assert r.status_code == 200, r.content
    assert r.json()["outcome"] == "ignored" and event in r.json()["reason"]
    assert not Job.objects.exists()
    assert Delivery.objects.get().event == event


@pytest.mark.parametrize("flavor", FLAVORS)
def test_it_does_not_build_a_redelivery_twice(client, repo_for, flavor):
    repo_for(flavor)
    first = push(client, flavor, delivery="f6266f16-1bf3-46a5-9ea4-602e06ead473")
    again = push(client, flavor, delivery="f6266f16-1bf3-46a5-9ea4-602e06ead473")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["outcome"] == "duplicate" and again.json()["jobs"] == first.json()["jobs"]
    assert "already received" in again.json()["reason"]
    assert Job.objects.count() == 1


@pytest.mark.parametrize("flavor", FLAVORS)
def test_it_does_not_build_the_same_push_twice_under_new_delivery_ids(client, repo_for, flavor):
    repo_for(flavor)
    assert push(client, flavor).status_code == 202
    r = push(client, flavor)
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
    assert Job.objects.count() == 1


# --- pull requests from forks ---------------------------------------------------------


@pytest.mark.parametrize("flavor", ["github", "gitea", "forgejo", "gogs"])
def test_it_builds_fork_pull_requests_from_the_forges_pr_ref(client, repo_for, flavor):
    repo_for(flavor)
    event, name = PR[flavor]["opened"]
    p = aim_pr(flavor, name, REPO, SHA)
    pr = p["pull_request"]
    if flavor == "gogs":
        pr["head_repo"]["full_name"] = "mallory/widgets"
    elif flavor == "github":
        pr["head"]["repo"]["full_name"] = "mallory/widgets"
    else:
        pr["head"]["repo"] = {"full_name": "mallory/widgets"}
    assert post(client, flavor, p, event).status_code == 202
    job = Job.objects.get()
    assert job.from_fork and job.source_repo == "mallory/widgets"
    # Fetched from the registered repository, never from the fork's URL.
    assert job.ref == f"refs/pull/{job.pr_number}/head" and job.source_url == ""
