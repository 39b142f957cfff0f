"""Path filters on real jobs: real git repositories, the real receiver for
plain git, a real Docker engine. Which files a push changed comes from the
forge's list when the payload gave one, else from `git diff` in the worker."""

import pytest

from builds.models import Job
from tests.builds.helpers import job_objects, log_of, run_commit, run_next, steps_of
from tests.forges.forge_kit import post
from tests.support import TEST_IMAGE, fixture

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

IGNORE_DOCS = f"""\
image: {TEST_IMAGE}
ignore_paths: ["docs/**", "*.md"]
steps:
  - name: test
    commands: [echo testing]
"""

ONLY_SRC = f"""\
image: {TEST_IMAGE}
paths: ["src/**", "!src/**/*.txt"]
steps:
  - name: test
    commands: [echo testing]
"""

STEPS = f"""\
image: {TEST_IMAGE}
steps:
  - name: test
    when: {{path: ["src/**"]}}
    commands: [echo testing]
  - name: docs
    when: {{path: ["docs/**"]}}
    commands: [echo building the docs]
  - name: lint
    commands: [echo linting]
"""


@pytest.fixture
def history(git_repo, make_repository, test_image):
    """A repository with an earlier build, and a commit on top of a first one
    made by `push(files)`: (repository, before, after)."""

    def make(pipeline, files, provider="github"):
        src = git_repo()
        before = src.commit({".herald.yml": pipeline, "src/app.py": "print(1)\n", "docs/guide.md": "# Guide\n"})
        after = src.commit(files)
        repo = make_repository("acme/widgets", clone_url=src.url, provider=provider)
        # Not the repository's first build (that one builds everything).
        Job.objects.create(repository=repo, number=99, commit=before, status="success")
        return repo, before, after, src

    return make


def test_a_docs_only_push_is_skipped_with_the_reason(history, docker_client):
    repo, before, after, _ = history(IGNORE_DOCS, {"docs/guide.md": "# Guide, v2\n", "README.md": "hi\n"})
    job = run_commit(repo, after, before=before)
    assert (job.status, job.exit_code) == ("skipped", None)
    assert job.reason == "2 files changed; all match ignore_paths: [docs/**, *.md]"
    text = log_of(job)
    # The worker compared the two commits itself: no list came with the job.
    assert f"2 files changed (since {before[:12]}): README.md, docs/guide.md" in text
    assert "Skipped: 2 files changed; all match ignore_paths" in text
    assert steps_of(job) == []
    assert job_objects(docker_client, job) == []


def test_a_push_touching_src_runs(history):
    repo, before, after, _ = history(IGNORE_DOCS, {"docs/guide.md": "# Guide, v2\n", "src/app.py": "print(2)\n"})
    job = run_commit(repo, after, before=before)
    assert job.status == "success", log_of(job)
    assert steps_of(job) == [("test", "success", 0)]
    assert "2 files changed; not matching ignore_paths: src/app.py" in log_of(job)


def test_paths_with_an_exclusion(history):
    repo, before, after, src = history(ONLY_SRC, {"src/notes.txt": "todo\n"})
    job = run_commit(repo, after, before=before)
    assert (job.status, job.reason) == ("skipped", "1 file changed; none matches paths: [src/**, !src/**/*.txt]")
    third = src.commit({"src/app.py": "print(3)\n"})
    job = run_commit(repo, third, before=after)
    assert job.status == "success"
    assert "1 file changed; matching paths: [src/**, !src/**/*.txt]: src/app.py" in log_of(job)


def test_the_forges_list_is_used_when_the_payload_gave_one(history):
    # The commit itself changed src/, but the forge says only docs changed:
    # the list is taken as given (no fetch, no diff).
    repo, before, after, _ = history(IGNORE_DOCS, {"src/app.py": "print(2)\n"})
    job = run_commit(repo, after, before=before, changed_files=["docs/a.md"])
    assert (job.status, job.reason) == ("skipped", "1 file changed; all match ignore_paths: [docs/**, *.md]")
    assert "1 file changed (listed by the forge): docs/a.md" in log_of(job)


def test_a_step_whose_when_path_matches_nothing_is_skipped_while_others_run(history):
    repo, before, after, _ = history(STEPS, {"src/app.py": "print(2)\n"})
    job = run_commit(repo, after, before=before)
    assert job.status == "success"
    assert steps_of(job) == [("test", "success", 0), ("docs", "skipped", None), ("lint", "success", 0)]
    text = log_of(job)
    assert "Step docs: skipped (no changed file matches its when.path)" in text
    assert "building the docs" not in text.replace("echo building the docs", "")


def test_every_step_filtered_by_path_ends_skipped(history):
    pipeline = STEPS.replace("  - name: lint\n    commands: [echo linting]\n", "")
    repo, before, after, _ = history(pipeline, {"Makefile": "all:\n"})
    job = run_commit(repo, after, before=before)
    assert job.status == "skipped"
    assert job.reason == "Every step was filtered out by when: (1 file changed, none matching their when.path)"
    assert steps_of(job) == [("test", "skipped", None), ("docs", "skipped", None)]


def test_a_plain_git_push_is_diffed_in_the_worker(client, history):
    """Through the real receiver: plain git's hook sends before and after, no files."""
    repo, before, after, src = history(IGNORE_DOCS, {"docs/guide.md": "# Guide, v2\n"}, provider="git")
    payload = fixture("git", "push__branch")
    payload.update(repository=repo.full_name, before=before, after=after)
    r = post(client, "git", payload, "push")
    assert r.status_code == 202, r.content
    queued = Job.objects.get(pk=r.json()["jobs"][0])
    assert (queued.before, queued.changed_files) == (before, None)
    job = run_next()
    assert (job.pk, job.status) == (queued.pk, "skipped")
    assert f"1 file changed (since {before[:12]}): docs/guide.md" in log_of(job)

    # The next push touches code: it runs.
    third = src.commit({"src/app.py": "print(2)\n"})
    payload.update(before=after, after=third)
    r = post(client, "git", payload, "push")
    assert r.status_code == 202, r.content
    job = run_next()
    assert job.status == "success"
    assert f"1 file changed (since {after[:12]}): src/app.py" in log_of(job)


def test_a_new_branch_builds_everything(history):
    repo, _, after, _ = history(IGNORE_DOCS, {"docs/guide.md": "# Guide, v2\n"})
    job = run_commit(repo, after, branch="feature/docs", before="")
    assert job.status == "success"
    text = log_of(job)
    assert "Changed files unknown (a new branch, or a push the forge names no previous commit for" in text
    assert "path filters do not apply, every step runs" in text


def test_a_tag_and_a_manual_build_build_everything(history):
    repo, before, after, _ = history(IGNORE_DOCS, {"docs/guide.md": "# Guide, v2\n"})
    tagged = run_commit(repo, after, event="tag", tag="v1.0", before=before)
    assert tagged.status == "success"
    assert "Changed files unknown (a tag)" in log_of(tagged)
    manual = run_commit(repo, after, event="manual", before=before)
    assert manual.status == "success"
    assert "Changed files unknown (a build started by hand)" in log_of(manual)


def test_the_repositorys_first_build_builds_everything(git_repo, make_repository, test_image):
    src = git_repo()
    before = src.commit({".herald.yml": IGNORE_DOCS})
    after = src.commit({"docs/a.md": "x\n"})
    repo = make_repository("acme/widgets", clone_url=src.url)
    job = run_commit(repo, after, before=before)
    assert job.status == "success"
    assert "Changed files unknown (the repository's first build)" in log_of(job)


def test_a_previous_commit_the_server_does_not_have_builds_everything(history):
    repo, _, after, _ = history(IGNORE_DOCS, {"docs/guide.md": "# Guide, v2\n"})
    gone = "0123456789abcdef0123456789abcdef01234567"
    job = run_commit(repo, after, before=gone)
    assert job.status == "success"
    text = log_of(job)
    assert f"Changed files unknown (the previous commit {gone[:12]} could not be fetched: " in text
    assert "every step runs" in text


def test_an_empty_push_builds_everything(history):
    repo, before, after, _ = history(IGNORE_DOCS, {})
    job = run_commit(repo, after, before=before)
    assert job.status == "success"
    assert "No file changed: paths: and ignore_paths: do not apply; the build runs" in log_of(job)


def test_a_pull_request_is_compared_with_its_target_branch(git_repo, make_repository, test_image):
    src = git_repo()
    base = src.commit({".herald.yml": IGNORE_DOCS, "src/app.py": "print(1)\n"})
    src.checkout("docs-only", create=True)
    head = src.commit({"docs/new.md": "# New\n"})
    src.checkout("main")
    repo = make_repository("acme/widgets", clone_url=src.url)
    Job.objects.create(repository=repo, number=99, commit=base, status="success")
    pr = dict(pr_number=7, source_branch="docs-only", target_branch="main")
    job = run_commit(repo, head, event="pull_request", ref="refs/heads/docs-only", branch="main", **pr)
    assert (job.status, job.reason) == ("skipped", "1 file changed; all match ignore_paths: [docs/**, *.md]")
    assert "1 file changed (compared with the tip of main; may include its own changes): docs/new.md" in log_of(job)

    # main moves on (src/ changes there): the comparison with its tip now
    # lists that file too — more is built, never less.
    src.commit({"src/app.py": "print(2)\n"})
    job = run_commit(repo, head, event="pull_request", ref="refs/heads/docs-only", branch="main", **pr)
    assert job.status == "success"
    assert "2 files changed (compared with the tip of main" in log_of(job)


def test_a_rebuild_filters_the_same_way(history):
    from builds.lifecycle import restart

    repo, before, after, _ = history(IGNORE_DOCS, {"docs/guide.md": "# Guide, v2\n"})
    job = run_commit(repo, after, before=before)
    assert job.status == "skipped"
    again = restart(job)
    assert (again.before, again.changed_files) == (before, None)
    rerun = run_next()
    assert (rerun.pk, rerun.status, rerun.reason) == (again.pk, "skipped", job.reason)


def test_a_pull_request_from_a_fork_is_compared_with_the_repositorys_own_target(git_repo, make_repository, test_image):
    """The commit comes from the fork's URL (Bitbucket has no pull request
    ref); the target branch from the repository itself."""
    base = git_repo("base")
    first = base.commit({".herald.yml": IGNORE_DOCS, "src/app.py": "print(1)\n"})
    fork = git_repo("fork")
    fork.commit({".herald.yml": IGNORE_DOCS, "src/app.py": "print(1)\n"})
    fork.checkout("fix", create=True)
    head = fork.commit({"src/app.py": "print('fixed')\n"})
    base.commit({"docs/a.md": "# A\n"})  # the target moved on: docs only
    repo = make_repository("acme/widgets", clone_url=base.url)
    Job.objects.create(repository=repo, number=99, commit=first, status="success")
    job = run_commit(
        repo,
        head,
        event="pull_request",
        ref="refs/heads/fix",
        branch="main",
        pr_number=3,
        source_branch="fix",
        target_branch="main",
        from_fork=True,
        source_url=fork.url,
        approval=False,  # approved (a pull request from a fork waits otherwise)
    )
    assert job.status == "success", log_of(job)
    assert "2 files changed (compared with the tip of main; may include its own changes): docs/a.md, src/app.py" in (
        log_of(job)
    )
