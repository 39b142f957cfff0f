"""Multi-step pipelines on a real Docker engine: order, the shared /repo,
failure and `always:`, `when:`, build steps, the build's user, old formats."""

import json
import uuid

import pytest

from builds.docker.image_build import cache_repository
from builds.models import JobStep
from builds.retry import remove_kept
from tests.builds.helpers import (
    ensure_user_image,
    job_objects,
    log_of,
    run_commit,
    section_of,
    steps_of,
)
from tests.support import TEST_IMAGE

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True, params=["bind", "copy"])
def workspace_mode(request, settings):
    """Every test here runs with the volume backed by the checkout directory
    and with the checkout copied in (a non-root worker, a remote engine)."""
    settings.HERALD_WORKSPACE_MODE = request.param
    return request.param


@pytest.fixture
def setup(git_repo, make_repository, test_image):
    def make(files, **repo_fields):
        src = git_repo()
        sha = src.commit(files)
        return make_repository("acme/widgets", clone_url=src.url, **repo_fields), sha

    return make


def test_it_runs_steps_in_order_in_one_shared_workspace(setup, docker_client):
    user_image = ensure_user_image(docker_client)
    repo, sha = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
env: {{GREETING: hello}}
steps:
  - name: write
    commands: ["echo $GREETING from step one > /repo/shared.txt", "pwd"]
  - name: read
    commands: ["cat shared.txt", "echo second >> shared.txt"]
  - name: other-image
    image: {user_image}
    env: {{GREETING: overridden}}
    commands: ["cat /repo/shared.txt", "echo $GREETING $CI $HERALD_BRANCH $HERALD_EVENT"]
"""
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "success" and job.exit_code == 0, log_of(job)
    assert steps_of(job) == [("write", "success", 0), ("read", "success", 0), ("other-image", "success", 0)]
    assert "/repo\n" in section_of(job, "write")
    assert "hello from step one\n" in section_of(job, "read")
    assert "hello from step one\nsecond\n" in section_of(job, "other-image")
    assert "overridden true main push\n" in section_of(job, "other-image")
    text = log_of(job)
    # One stream, a header per step, in order.
    headers = [text.index(f"==> Step {n}/3: {name}") for n, name in enumerate(["write", "read", "other-image"], 1)]
    assert headers == sorted(headers)
    for step in JobStep.objects.filter(job=job):
        assert step.started_at and step.finished_at and step.first_seq
        assert section_of(job, step.name).lstrip().startswith("\x1b[1;36m[herald]\x1b[0m ==> Step")


def test_a_failing_step_fails_the_job_and_skips_the_rest_but_always_steps(setup):
    repo, sha = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
steps:
  - name: ok
    commands: [echo fine]
  - name: breaks
    commands: [echo breaking, exit 4, echo unreachable]
  - name: after
    commands: [echo must-not-run]
  - name: cleanup
    always: true
    commands: [echo cleaning-up]
"""
        }
    )
    job = run_commit(repo, sha)
    assert (job.status, job.exit_code) == ("failed", 4)
    assert job.reason == "Step breaks exited with code 4"
    assert steps_of(job) == [
        ("ok", "success", 0),
        ("breaks", "failed", 4),
        ("after", "skipped", None),
        ("cleanup", "success", 0),
    ]
    text = log_of(job)
    assert "must-not-run" not in text.replace("echo must-not-run", "")
    assert "Step after: skipped (an earlier step failed)" in text
    assert "cleaning-up\n" in section_of(job, "cleanup")
    assert job.steps.get(name="after").first_seq is None


def test_when_filters_steps_by_branch_event_and_tag(setup, git_repo, make_repository):
    pipeline = f"""\
image: {TEST_IMAGE}
steps:
  - name: always-runs
    commands: [echo everywhere]
  - name: main-only
    when: {{branch: [main]}}
    commands: [echo on-main]
  - name: main-pushes
    when: {{branch: [main], event: [push]}}
    commands: [echo on-main]
  - name: release
    when: {{branch: ["release/*"], event: [push, tag]}}
    commands: [echo releasing]
  - name: tags
    when: {{tag: ["v*"]}}
    commands: [echo tagged]
"""
    repo, sha = setup({".herald.yml": pipeline})
    job = run_commit(repo, sha, branch="release/2.0")
    assert job.status == "success"
    assert steps_of(job) == [
        ("always-runs", "success", 0),
        ("main-only", "skipped", None),
        ("main-pushes", "skipped", None),
        ("release", "success", 0),
        ("tags", "skipped", None),
    ]
    assert "Step main-only: skipped (its when: does not match this push)" in log_of(job)

    # A tag is on no branch: `branch:` does not filter tag events (add
    # `event: [push]` for "pushes to main only").
    tagged = run_commit(repo, sha, event="tag", tag="v1.2")
    assert [s[1] for s in steps_of(tagged)] == ["success", "success", "skipped", "success", "success"]


def test_a_job_whose_steps_are_all_filtered_out_is_skipped(setup, docker_client):
    repo, sha = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
services:
  web: {{image: {TEST_IMAGE}, command: [sleep, "600"]}}
steps:
  - name: deploy
    when: {{branch: [main]}}
    commands: [echo deploying]
"""
        }
    )
    job = run_commit(repo, sha, branch="feature/x")
    assert job.status == "skipped" and job.exit_code is None
    assert job.reason == "Every step was filtered out by when:"
    assert steps_of(job) == [("deploy", "skipped", None)]
    assert "Service web started" not in log_of(job)
    assert job_objects(docker_client, job) == []


def test_a_build_step_builds_the_workspace_as_earlier_steps_left_it(setup):
    repo, sha = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
steps:
  - name: compile
    commands: ["echo compiled-$HERALD_COMMIT > app/artifact.txt", "echo junk > app/ignored.log"]
  - name: image
    build: {{context: app, dockerfile: Dockerfile}}
""",
            "app/Dockerfile": f"FROM {TEST_IMAGE}\nCOPY . /app/\nRUN cat /app/artifact.txt && ls /app\n",
            "app/.dockerignore": "*.log\n",
            # Two runs in the same second would otherwise make the same commit
            # (and Docker would rightly answer the build from its cache).
            "nonce": uuid.uuid4().hex,
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "success", log_of(job)
    section = section_of(job, "image")
    # Unique per commit, so the layer cannot come from Docker's cache.
    assert f"compiled-{sha}\n" in section
    assert "artifact.txt" in section and "ignored.log" not in section


def test_a_failing_build_step_reports_the_run_exit_code(setup):
    repo, sha = setup(
        {
            ".herald.yml": f"image: {TEST_IMAGE}\nsteps:\n  - name: image\n    build: Dockerfile\n",
            "Dockerfile": f"FROM {TEST_IMAGE}\nRUN echo about-to-fail && exit 6\n",
        }
    )
    job = run_commit(repo, sha)
    assert (job.status, job.exit_code) == ("failed", 6)
    assert steps_of(job) == [("image", "failed", 6)]


def test_the_checkout_belongs_to_the_user_the_image_runs_as(setup, docker_client):
    image = ensure_user_image(docker_client)
    repo, sha = setup(
        {
            ".herald.yml": f"image: {image}\ncommands:\n  - id\n  - stat -c '%u:%g %n' /repo /repo/src/a.txt\n"
            "  - echo written > /repo/src/new.txt\n",
            "src/a.txt": "a",
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "success", log_of(job)
    text = log_of(job)
    assert "uid=1234(builder) gid=2345" in text
    assert "1234:2345 /repo\n1234:2345 /repo/src/a.txt\n" in text


def test_herald_build_user_runs_every_step_as_that_user(setup, settings):
    settings.HERALD_BUILD_USER = "4321:4322"
    repo, sha = setup(
        {".herald.yml": f"image: {TEST_IMAGE}\ncommands:\n  - id -u\n  - stat -c '%u:%g' /repo\n  - touch /repo/mine\n"}
    )
    job = run_commit(repo, sha)
    assert job.status == "success", log_of(job)
    assert "$ id -u\n4321\n" in log_of(job)
    assert "\n4321:4322\n" in log_of(job)


def test_microci_json_runs_its_command_with_the_repository_at_repo(setup):
    repo, sha = setup(
        {
            ".microci.json": json.dumps({"image": TEST_IMAGE, "command": "cat /repo/README"}),
            "README": "from-the-readme\n",
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "success", log_of(job)
    assert "from-the-readme\n" in log_of(job)
    assert "Build definition: .microci.json" in log_of(job)


def test_hermes_yaml_with_schema_docker_builds_the_root_dockerfile(setup):
    repo, sha = setup(
        {"hermes.yaml": "schema: docker\n", "Dockerfile": f"FROM {TEST_IMAGE}\nRUN echo hermes-compatible-build\n"}
    )
    job = run_commit(repo, sha)
    assert job.status == "success", log_of(job)
    assert "hermes-compatible-build" in log_of(job)
    assert steps_of(job) == [("docker-build", "success", 0)]


def test_an_invalid_file_errors_with_file_line_and_key_and_no_traceback(setup):
    repo, sha = setup({".herald.yml": f"image: {TEST_IMAGE}\nsteps:\n  - name: a\n    comands: [true]\n"})
    job = run_commit(repo, sha)
    assert job.status == "errored"
    assert job.reason.startswith(".herald.yml, line 4, steps[0].comands: unknown key")
    text = log_of(job)
    assert job.reason in text and "Traceback" not in text
    assert steps_of(job) == []


def test_a_missing_image_errors_the_step_and_runs_only_always_steps(setup, settings):
    settings.HERALD_PULL_POLICY = "never"
    repo, sha = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
steps:
  - name: needs-image
    image: herald-test/does-not-exist:1
    commands: [true]
  - name: next
    commands: [true]
  - name: notify
    always: true
    commands: [echo notifying]
"""
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "errored"
    assert job.reason.startswith("Step needs-image: Image herald-test/does-not-exist:1 is not on the worker")
    assert steps_of(job) == [("needs-image", "errored", None), ("next", "skipped", None), ("notify", "success", 0)]


def test_nothing_is_left_behind_after_success_or_failure(setup, docker_client, settings):
    """A failed build keeps its workspace for a retry from its failed step
    (builds.retry), and nothing else; without HERALD_KEEP_WORKSPACE_MINUTES,
    not even that."""
    for script, keep_minutes, kept in (("true", 30, []), ("exit 1", 0, []), ("exit 1", 30, ["workspace"])):
        settings.HERALD_KEEP_WORKSPACE_MINUTES = keep_minutes
        repo, sha = setup(
            {
                ".herald.yml": f"""\
image: {TEST_IMAGE}
services:
  side: {{image: {TEST_IMAGE}, command: [sleep, "600"]}}
steps:
  - name: one
    commands: ["{script}"]
"""
            }
        )
        job = run_commit(repo, sha)
        assert job.status in ("success", "failed")
        assert [name.rsplit("-", 1)[-1] for name in job_objects(docker_client, job)] == kept
        if kept:
            remove_kept(job.pk)
            assert job_objects(docker_client, job) == []
        assert not (settings.WORKSPACE_DIR / f"job-{job.pk}").exists()
        repo.delete()


def test_build_steps_reuse_dockers_cache_until_housekeeping_removes_it(
    git_repo, make_repository, test_image, settings, docker_client
):
    """A second build of an unchanged Dockerfile takes its layers from
    Docker's cache (the RUN does not run again); housekeeping removes what
    no build used for HERALD_BUILD_CACHE_HOURS, and the next build runs it."""
    from builds.housekeeping import prune_build_cache

    nonce = uuid.uuid4().hex
    src = git_repo()
    files = {
        ".herald.yml": f"image: {TEST_IMAGE}\nsteps:\n  - name: image\n    build: Dockerfile\n",
        "Dockerfile": f"FROM {TEST_IMAGE}\nRUN echo ran-the-run-{nonce}\n",
    }
    repo = make_repository("acme/images", clone_url=src.url)

    def build(n):
        job = run_commit(repo, src.commit({**files, "n": str(n)}))
        assert job.status == "success", log_of(job)
        return job, section_of(job, "image")

    first, text = build(1)
    assert f"\nran-the-run-{nonce}\n" in text and "Using cache" not in text
    second, text = build(2)
    assert "Using cache" in text and f"ran-the-run-{nonce}\n" not in text.replace(f"RUN echo ran-the-run-{nonce}", "")
    # The repository's cache is tagged as its own (never another's, see test_build_cache).
    cache = cache_repository(repo.pk)
    assert [t for i in docker_client.images.list(name=cache) for t in i.tags] == [f"{cache}:step-1"]
    mine = {"label": f"org.herald-ci.instance={settings.HERALD_INSTANCE}"}

    prune_build_cache()  # the default keeps a week's cache
    _, text = build(3)
    assert "Using cache" in text

    settings.HERALD_BUILD_CACHE_HOURS = 0
    assert prune_build_cache() >= 1
    assert docker_client.images.list(name=cache) == []
    assert not [
        i
        for i in docker_client.images.list(filters=mine)
        if int(i.labels["org.herald-ci.job"]) in {first.pk, second.pk}
    ]
    _, text = build(4)
    assert f"\nran-the-run-{nonce}\n" in text and "Using cache" not in text
