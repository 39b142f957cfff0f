"""Bitbucket Cloud's webhooks where they differ from the other forges' (the
tests common to all forges are in tests/forges/test_webhooks.py)."""

import copy

import pytest

from builds.models import Job
from tests.forges.forge_kit import aim_pr, aim_push, post
from webhooks.models import Delivery

SHA = "1234567890abcdef1234567890abcdef12345678"
REPO = "acme/widgets"


def test_bitbucket_builds_each_ref_of_a_multi_ref_push(client, repo_for):
    repo_for("bitbucket")
    p = aim_push("bitbucket", "repo_push__branch", REPO, SHA)
    tag_change = copy.deepcopy(p["push"]["changes"][0])
    tag_change["new"]["type"], tag_change["new"]["name"] = "tag", "v2"
    p["push"]["changes"].append(tag_change)
    r = post(client, "bitbucket", p, "repo:push")
    assert r.status_code == 202
    assert sorted(Job.objects.values_list("event", "ref")) == [("push", "refs/heads/main"), ("tag", "refs/tags/v2")]
    assert len(r.json()["jobs"]) == 2
    assert Delivery.objects.get().jobs.count() == 2


def test_bitbucket_fork_pull_requests_clone_the_fork_from_the_forge(client, repo_for, settings):
    settings.HERALD_BITBUCKET_URL = "https://bitbucket.example.org"
    repo_for("bitbucket")
    p = aim_pr("bitbucket", "pullrequest__created", REPO, SHA)
    p["pullrequest"]["source"]["repository"]["full_name"] = "mallory/widgets"
    p["pullrequest"]["source"]["repository"]["links"]["html"]["href"] = "file:///etc"
    assert post(client, "bitbucket", p, "pullrequest:created").status_code == 202
    job = Job.objects.get()
    assert job.from_fork and job.source_url == "https://bitbucket.example.org/mallory/widgets.git"
    assert job.ref == "refs/heads/wen-emos"


@pytest.mark.parametrize("fork", ["../../etc/x", "mallory/widgets?x=1", "mallory", "-x/y", "a/b\nc"])
def test_bitbucket_refuses_fork_names_that_are_not_owner_slash_name(client, repo_for, fork):
    repo_for("bitbucket")
    p = aim_pr("bitbucket", "pullrequest__created", REPO, SHA)
    p["pullrequest"]["source"]["repository"]["full_name"] = fork
    r = post(client, "bitbucket", p, "pullrequest:created")
    assert r.status_code == 400 and "owner/name" in r.json()["reason"]
    assert not Job.objects.exists()


def test_bitbucket_refuses_branch_names_git_would_misread(client, repo_for):
    repo_for("bitbucket")
    p = aim_pr("bitbucket", "pullrequest__created", REPO, SHA)
    p["pullrequest"]["source"]["branch"]["name"] = "--upload-pack=evil"
    r = post(client, "bitbucket", p, "pullrequest:created")
    assert r.status_code == 400 and "branch" in r.json()["reason"]
