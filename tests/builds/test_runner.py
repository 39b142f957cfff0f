"""The runner against a real Docker engine and real git repositories."""

import pytest
from django.db import transaction

from builds.claim import claim_next_job
from builds.lifecycle import create_job
from builds.models import Job, LogChunk
from builds.runner import Runner
from tests.support import TEST_IMAGE, herald_yml

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def run_commit(repository, sha, branch="main"):
    with transaction.atomic():
        job, _ = create_job(repository, event="push", commit=sha, ref=f"refs/heads/{branch}", branch=branch)
    claimed, why = claim_next_job("test-worker")
    assert claimed and claimed.pk == job.pk, why
    Runner(claimed).run()
    job.refresh_from_db()
    return job


def log_of(job):
    return "".join(LogChunk.objects.filter(job=job).order_by("seq").values_list("text", flat=True))


@pytest.fixture
def setup(git_repo, make_repository, test_image):
    def make(files):
        src = git_repo()
        sha = src.commit(files)
        return make_repository("acme/widgets", clone_url=src.url), sha, src

    return make


def test_it_runs_commands_and_stores_their_output(setup):
    repo, sha, _ = setup({".herald.yml": herald_yml("echo hello from the build", "cat README"), "README": "readme!"})
    job = run_commit(repo, sha)
    assert job.status == "success" and job.exit_code == 0
    text = log_of(job)
    assert "$ echo hello from the build\nhello from the build\n" in text
    assert "readme!" in text
    assert job.started_at and job.finished_at and job.worker == "test-worker"


def test_it_checks_out_exactly_the_pushed_commit(setup):
    repo, first, src = setup({".herald.yml": herald_yml("cat version"), "version": "one"})
    src.commit({"version": "two"})
    job = run_commit(repo, first)
    assert job.status == "success"
    assert "\none\n" in log_of(job) and "two" not in log_of(job).split("cat version")[-1]


def test_a_failing_command_fails_the_job_with_its_exit_code(setup):
    repo, sha, _ = setup({".herald.yml": herald_yml("echo before", "exit 3", "echo never")})
    job = run_commit(repo, sha)
    assert (job.status, job.exit_code) == ("failed", 3)
    assert "never" not in log_of(job).replace("$ echo never", "")


def test_a_missing_build_definition_errors_with_the_reason(setup):
    repo, sha, _ = setup({"README": "nothing to build"})
    job = run_commit(repo, sha)
    assert job.status == "errored" and job.exit_code is None
    assert "No build definition" in job.reason
    assert "No build definition" in log_of(job)


def test_an_invalid_pipeline_errors_naming_file_line_and_key(setup):
    repo, sha, _ = setup({".herald.yml": f"image: {TEST_IMAGE}\ncommands:\n  - echo hi\ncolour: blue\n"})
    job = run_commit(repo, sha)
    assert job.status == "errored"
    assert ".herald.yml, line 4, colour: unknown key" in job.reason
    assert "Traceback" not in log_of(job)


def test_an_unreachable_clone_url_errors(make_repository, db):
    repo = make_repository(clone_url="file:///nonexistent/repo")
    job = run_commit(repo, "a" * 40)
    assert job.status == "errored" and job.reason.startswith("Clone failed")


def test_a_commit_missing_from_the_repository_errors(setup):
    repo, sha, _ = setup({".herald.yml": herald_yml("true")})
    job = run_commit(repo, "b" * 40)
    assert job.status == "errored"
    assert "b" * 12 in job.reason or "Clone failed" in job.reason


@pytest.mark.parametrize("url", ["-uhelper", "ext::sh -c touch% /tmp/pwned", "fd::17", "file:///etc"])
def test_it_refuses_dangerous_clone_urls(make_repository, settings, url, db):
    settings.HERALD_ALLOW_LOCAL_CLONES = False
    repo = make_repository(clone_url="https://example.com/x.git")
    repo.clone_url = url  # as if stored before validation existed
    repo.save()
    job = run_commit(repo, "c" * 40)
    assert job.status == "errored" and job.reason.startswith("Refusing clone URL")


def test_it_builds_a_root_dockerfile(setup):
    dockerfile = f"FROM {TEST_IMAGE}\nRUN echo building-layer\nRUN test -f /etc/passwd\n"
    repo, sha, _ = setup({"Dockerfile": dockerfile})
    job = run_commit(repo, sha)
    assert job.status == "success", log_of(job)
    assert "building-layer" in log_of(job)


def test_a_failing_dockerfile_fails_the_job(setup):
    repo, sha, _ = setup({"Dockerfile": f"FROM {TEST_IMAGE}\nRUN echo about-to-fail && exit 7\n"})
    job = run_commit(repo, sha)
    assert job.status == "failed" and job.exit_code == 7
    assert "about-to-fail" in log_of(job)


def test_output_is_cleaned_before_it_is_stored(setup, settings):
    settings.HERALD_LOG_LINE_MAX = 100
    script = "printf 'a\\000b\\n'; printf '\\377\\376 bad utf8\\n'; printf '%0500d\\n' 0"
    repo, sha, _ = setup({".herald.yml": herald_yml(script)})
    job = run_commit(repo, sha)
    text = log_of(job)
    assert "\x00" not in text and "ab\n" in text
    assert "\ufffd\ufffd bad utf8" in text
    assert "0" * 100 + " … [line cut]\n" in text and "0" * 101 not in text


def test_a_chatty_build_is_stored_in_a_few_chunks_not_a_row_per_line(setup):
    repo, sha, _ = setup({".herald.yml": herald_yml("i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done")})
    job = run_commit(repo, sha)
    assert job.status == "success"
    chunks = list(LogChunk.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert chunks == list(range(1, len(chunks) + 1)), "sequence numbers are gap-free"
    assert len(chunks) < 200
    assert "line 19999\n" in log_of(job)


def test_it_removes_the_container_and_workspace(setup, docker_client, settings):
    repo, sha, _ = setup({".herald.yml": herald_yml("echo hi")})
    job = run_commit(repo, sha)
    assert job.status == "success"
    assert not docker_client.containers.list(all=True, filters={"label": f"org.herald-ci.job={job.pk}"})
    assert not (settings.WORKSPACE_DIR / f"job-{job.pk}").exists()


def test_a_job_already_claimed_is_not_run_twice(setup):
    repo, sha, _ = setup({".herald.yml": herald_yml("echo once")})
    with transaction.atomic():
        job, _ = create_job(repo, event="push", commit=sha, ref="refs/heads/main", branch="main")
    assert claim_next_job("w1")[0].pk == job.pk
    assert claim_next_job("w2") == (None, "nothing-eligible")
    assert Job.objects.get(pk=job.pk).worker == "w1"
