"""Path filters' half at the webhook: each forge's push payload gives the
previous commit (`before`) and, where it lists every commit's added,
modified and removed files, the changed files; where the list may be cut
short, or there is none, the files stay unknown (None) and the worker runs
`git diff` itself (builds/changes.py). Documented payloads, in tests/forges/<id>/payloads."""

import copy
import json

import pytest

import forges
from builds.models import Job
from tests.forges.forge_kit import post
from tests.support import fixture

PREVIOUS = "a10867b14bb761a232cd80139fbd4c0d33264240"


def parse(provider, event, payload):
    return forges.get(provider).webhook.parse(event, payload)


def github_push(**changes):
    """GitHub's documented push (a new branch) made an ordinary push to an
    existing branch: `created` false, a previous commit, two commits."""
    payload = fixture("github", "push__new_branch")
    payload.update(created=False, before=PREVIOUS)
    first = copy.deepcopy(payload["commits"][0])
    first.update(id="b" * 40, added=["src/new.py"], modified=["README.md"], removed=[])
    payload["commits"] = [first, payload["commits"][0]]
    payload["commits"][1].update(added=[], modified=["src/app.py"], removed=["docs/old.md"])
    payload.update(changes)
    return payload


def test_github_lists_the_files_of_every_commit():
    build = parse("github", "push", github_push())
    assert build.before == PREVIOUS
    assert build.changed_files == ["README.md", "docs/old.md", "src/app.py", "src/new.py"]
    assert build.job_fields()["changed_files"] == build.changed_files


@pytest.mark.parametrize(
    "changes, before",
    [
        # A new branch (the documented sample as it is): nothing to compare with.
        ({"created": True, "before": "0" * 40}, ""),
        # A force push: the previous head is no ancestor, GitHub says so.
        ({"forced": True}, ""),
        # 20 commits listed: GitHub's cap; the push may have had more.
        (
            {"commits": [{"id": f"{i:040x}", "added": [], "modified": [f"f{i}"], "removed": []} for i in range(20)]},
            PREVIOUS,
        ),
        # A commit without its lists (as GitHub Actions' copy of the payload).
        ({"commits": [{"id": "c" * 40, "message": "x"}]}, PREVIOUS),
        # Names that are no storable text, or too long: the list is unknown, never a 500.
        ({"commits": [{"id": "c" * 40, "added": ["a\u0000b"], "modified": [], "removed": []}]}, PREVIOUS),
        ({"commits": [{"id": "c" * 40, "added": ["\ud800"], "modified": [], "removed": []}]}, PREVIOUS),
        ({"commits": [{"id": "c" * 40, "added": [{"path": "x"}], "modified": [], "removed": []}]}, PREVIOUS),
        ({"commits": [{"id": "c" * 40, "added": ["x" * 5000], "modified": [], "removed": []}]}, PREVIOUS),
        # More files than path filters look at.
        (
            {"commits": [{"id": "c" * 40, "added": [f"f{i}" for i in range(3001)], "modified": [], "removed": []}]},
            PREVIOUS,
        ),
    ],
)
def test_github_leaves_the_files_unknown_when_the_list_may_be_incomplete(changes, before):
    build = parse("github", "push", github_push(**changes))
    assert build.before == before
    assert build.changed_files is None


def test_github_tags_build_everything():
    build = parse("github", "push", fixture("github", "push__tag_created"))
    assert (build.event, build.before, build.changed_files) == ("tag", "", None)


def test_gitlab_lists_the_files_when_it_listed_every_commit():
    payload = fixture("gitlab", "push__several_commits")
    # As documented: total_commits_count 4, two commits listed (GitLab lists
    # at most 20): the files of the other two are not there.
    build = parse("gitlab", "Push Hook", payload)
    assert build.before == "95790bf891e76fee5e1747ab589903a6a1f80f22"
    assert build.changed_files is None
    payload["total_commits_count"] = 2
    build = parse("gitlab", "Push Hook", payload)
    assert build.changed_files == ["CHANGELOG", "app/controller/application.rb"]


def test_gitlab_tags_and_new_branches_build_everything():
    build = parse("gitlab", "Tag Push Hook", fixture("gitlab", "tag_push__created"))
    assert (build.event, build.before, build.changed_files) == ("tag", "", None)
    payload = fixture("gitlab", "push__several_commits")
    payload.update(before="0" * 40, total_commits_count=2)
    build = parse("gitlab", "Push Hook", payload)
    assert (build.before, build.changed_files) == ("", None)


def gitea_push(**changes):
    """Gitea's documented push, with the file lists and total_commits its
    payload structs carry (modules/structs/hook.go PayloadCommit.Added,
    Removed, Modified; PushPayload.TotalCommits), which the docs' sample
    leaves out."""
    payload = fixture("gitea", "push__docs_example")
    payload["commits"][0].update(added=["CHANGELOG.md"], removed=[], modified=["src/main.go"])
    payload["total_commits"] = 1
    payload.update(changes)
    return payload


def test_gitea_lists_the_files_when_total_commits_says_all_are_there():
    build = parse("gitea", "push", gitea_push())
    assert build.before == "28e1879d029cb852e4844d9c718537df08844e03"
    assert build.changed_files == ["CHANGELOG.md", "src/main.go"]
    # Gitea lists at most FEED_MAX_COMMIT_NUM commits (5 by default).
    assert parse("gitea", "push", gitea_push(total_commits=9)).changed_files is None
    # An older Gitea, or the docs' sample as it is: no total, no lists.
    assert parse("gitea", "push", fixture("gitea", "push__docs_example")).changed_files is None


def test_gogs_never_says_how_many_commits_a_push_had():
    payload = fixture("gogs", "push__docs_example")
    payload["commits"][0].update(added=["a"], removed=[], modified=[])
    build = parse("gogs", "push", payload)
    assert build.before == "28e1879d029cb852e4844d9c718537df08844e03"
    assert build.changed_files is None


def test_bitbucket_gives_the_previous_head_and_no_files():
    payload = fixture("bitbucket", "repo_push__branch")
    [build] = parse("bitbucket", "repo:push", payload)
    assert (build.before, build.changed_files) == ("a51241ae1f00cbe728930db48e890b18fd527f99", None)
    payload["push"]["changes"][0]["forced"] = True
    [build] = parse("bitbucket", "repo:push", payload)
    assert build.before == ""


def test_plain_git_gives_the_previous_commit_and_no_files():
    payload = fixture("git", "push__branch")  # a new branch: before is the zero sha
    assert parse("git", "push", payload).before == ""
    payload["before"] = PREVIOUS
    build = parse("git", "push", payload)
    assert (build.before, build.changed_files) == (PREVIOUS, None)
    tag = fixture("git", "push__tag")
    tag["before"] = PREVIOUS
    assert parse("git", "push", tag).before == ""


def test_pull_requests_carry_no_list(client):
    build = parse("github", "pull_request", fixture("github", "pull_request__opened"))
    assert (build.before, build.changed_files) == ("", None)


# --- stored on the job, through the receiver -------------------------------------------


@pytest.mark.django_db
def test_the_job_keeps_what_the_payload_said(client, repo_for):
    repo_for("github", full_name="Codertocat/Hello-World")
    r = post(client, "github", github_push(), "push")
    assert r.status_code == 202, r.content
    job = Job.objects.get()
    assert job.before == PREVIOUS
    assert job.changed_files == ["README.md", "docs/old.md", "src/app.py", "src/new.py"]


@pytest.mark.django_db
def test_a_hostile_file_list_is_no_error(client, repo_for):
    repo_for("github", full_name="Codertocat/Hello-World")
    payload = github_push(commits=[{"id": "c" * 40, "added": ["a\u0000b", "../../etc"], "modified": [], "removed": []}])
    r = post(client, "github", payload, "push")
    assert r.status_code == 202, r.content
    job = Job.objects.get()
    assert (job.before, job.changed_files) == (PREVIOUS, None)
    assert json.loads(json.dumps(job.changed_files)) is None
