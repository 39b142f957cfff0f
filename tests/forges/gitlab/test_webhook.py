"""GitLab's webhooks where they differ from the other forges' (the tests
common to all forges are in tests/forges/test_webhooks.py)."""

from builds.models import Job
from tests.forges.forge_kit import aim_pr, aim_push, post

SHA = "1234567890abcdef1234567890abcdef12345678"
REPO = "acme/widgets"


def test_it_builds_only_the_head_of_a_push_with_several_commits(client, repo_for):
    # GitLab's documented push carries two commits; the head is `after`.
    repo_for("gitlab")
    p = aim_push("gitlab", "push__several_commits", REPO, SHA)
    assert len(p["commits"]) == 2
    assert post(client, "gitlab", p, "Push Hook").status_code == 202
    job = Job.objects.get()
    assert (job.commit, job.message, job.author, job.branch) == (SHA, "fixed readme", "GitLab dev user", "master")


def test_it_ignores_a_gitlab_merge_request_update_without_new_commits(client, repo_for):
    repo_for("gitlab")
    r = post(client, "gitlab", aim_pr("gitlab", "merge_request__updated_title", REPO, SHA), "Merge Request Hook")
    assert r.status_code == 200 and "without new commits" in r.json()["reason"]
    assert not Job.objects.exists()


def test_gitlab_fork_merge_requests_use_the_merge_request_ref(client, repo_for):
    repo_for("gitlab")
    p = aim_pr("gitlab", "merge_request__opened", REPO, SHA)
    p["object_attributes"]["source_project_id"] = 99
    p["object_attributes"]["source"]["path_with_namespace"] = "mallory/widgets"
    assert post(client, "gitlab", p, "Merge Request Hook").status_code == 202
    job = Job.objects.get()
    assert (job.from_fork, job.source_repo, job.ref, job.source_url) == (
        True,
        "mallory/widgets",
        "refs/merge-requests/1/head",
        "",
    )
