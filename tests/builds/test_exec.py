"""`manage.py exec` and `herald exec`, run as a user runs them: in a
subprocess, against the real Docker engine, on a real git working tree.
The user's DATABASE_URL names a PostgreSQL nobody runs: a local run must
not need it (it has a throwaway SQLite of its own)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from builds.housekeeping import sweep_local
from builds.lint import lint_path
from builds.localrun import options
from builds.localrun.runner import trigger_of
from builds.localrun.tree import Head, copy_tree
from builds.models import Job
from builds.pipeline import When
from tests.support import ROOT, TEST_IMAGE, Symlink

pytestmark = pytest.mark.docker

TOKEN = "tok-5f1e9a7c3b2d4e60"

PIPELINE = f"""\
image: {TEST_IMAGE}
parameters:
  - name: GREETING
    default: hello
steps:
  - name: show
    secrets: [TOKEN]
    commands:
      - cat notes.txt
      - echo "token=$TOKEN greeting=$GREETING"
      - test -f .git/HEAD && echo has-git && test ! -e ignored.txt && echo no-ignored
  - name: check
    commands: ['test "$GREETING" != fail']
  - name: after
    commands: [echo after-ran]
"""


def exec_env(**extra):
    return {
        **os.environ,
        # The user's server database, down: never touched by a local run.
        "DATABASE_URL": "postgres://herald:pw@127.0.0.1:1/nowhere",
        "HERALD_QUOTA_IMAGE": TEST_IMAGE,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def herald_exec(*args, cwd, command=None, timeout=120):
    argv = command or [sys.executable, str(ROOT / "manage.py")]
    return subprocess.run(
        [*argv, "exec", *args], cwd=cwd, env=exec_env(), capture_output=True, text=True, timeout=timeout
    )


def left_behind(docker_client):
    """Containers, networks and volumes of this test run's local runs."""
    prefix = f"{settings.HERALD_INSTANCE}-local-"
    found = []
    for kind in ("containers", "networks", "volumes"):
        listing = getattr(docker_client, kind).list(
            **({"all": True} if kind == "containers" else {}), filters={"label": "org.herald-ci.instance"}
        )
        for obj in listing:
            labels = obj.labels if kind == "containers" else (obj.attrs.get("Labels") or {})
            if labels.get("org.herald-ci.instance", "").startswith(prefix):
                found.append(obj.name)
    return found


@pytest.fixture
def checkout(git_repo, test_image):
    """A committed pipeline, and a change to notes.txt not committed."""
    src = git_repo()
    src.commit({".herald.yml": PIPELINE, "notes.txt": "committed line\n", ".gitignore": "ignored.txt\n"})
    (src.path / "notes.txt").write_text("committed line\nuncommitted line\n")
    (src.path / "ignored.txt").write_text("not for the build\n")
    return src.path


def test_it_runs_the_working_tree_with_masked_secrets_and_stops_at_a_failure(checkout, docker_client):
    done = herald_exec("--secret", f"TOKEN={TOKEN}", "--param", "GREETING=bonjour", cwd=checkout)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "uncommitted line" in out  # the working tree, not the commit
    assert "token=**** greeting=bonjour" in out
    assert TOKEN not in out + done.stderr
    assert "has-git" in out and "no-ignored" in out  # .git came along; what .gitignore leaves out did not
    assert "[herald] ==> Step 1/3: show" in out and "\x1b[" not in out  # no colours off a terminal
    assert "[herald] Step after: success in" in out
    assert "[herald] Done in" in out and out.rstrip().endswith(": success")

    # Only the steps asked for: a failure skips the next one.
    failed = herald_exec(
        *("--secret", f"TOKEN={TOKEN}", "--param", "GREETING=fail", "--step", "check", "--step", "after"),
        str(checkout),
        cwd=checkout.parent,
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "[herald] Step show: skipped (--step)" in failed.stdout
    assert "[herald] Step check: failed with exit code 1" in failed.stdout
    assert "[herald] Step after: skipped (an earlier step failed)" in failed.stdout
    assert "after-ran" not in failed.stdout
    assert left_behind(docker_client) == []


def test_bad_pipelines_and_options_exit_2_with_lints_message(checkout):
    (checkout / ".herald.yml").write_text(f"image: {TEST_IMAGE}\nsteps:\n  - name: a\n    comands: [true]\n")
    bad = herald_exec(cwd=checkout)
    assert (bad.returncode, bad.stderr.strip()) == (2, str(lint_path(checkout, set()).error))
    assert bad.stderr.startswith(".herald.yml, line 4")

    (checkout / ".herald.yml").write_text(PIPELINE)
    unknown = herald_exec("--secret", "TOKEN=x", "--param", "NOPE=1", cwd=checkout)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "--param: unknown parameter 'NOPE' (the pipeline declares: GREETING)",
    )


def test_it_runs_each_matrix_combination_or_the_one_asked_for(git_repo, test_image, tmp_path):
    src = git_repo()
    src.commit(
        {
            ".herald.yml": f"image: {TEST_IMAGE}\nmatrix:\n  SIDE: [left, right]\n"
            'commands: ["echo side=$SIDE", "test $SIDE = left"]\n'
        }
    )
    # The console entry point `pip install -e .` gives (make setup).
    herald = [str(Path(sys.executable).parent / "herald")]
    both = herald_exec(cwd=src.path, command=herald)
    assert both.returncode == 1, both.stdout + both.stderr
    assert "=== Job 1 of 2: SIDE=left ===" in both.stdout and "=== Job 2 of 2: SIDE=right ===" in both.stdout
    assert "side=left" in both.stdout and "side=right" in both.stdout
    assert both.stdout.rstrip().endswith("SIDE=left: success; SIDE=right: failed")

    right = herald_exec("--matrix", "SIDE=right", cwd=src.path, command=herald)
    assert right.returncode == 1, right.stdout + right.stderr
    assert "side=right" in right.stdout and "side=left" not in right.stdout


@pytest.mark.django_db
def test_ctrl_c_cancels_and_leaves_nothing_behind(git_repo, test_image, docker_client):
    src = git_repo()
    src.commit(
        {
            ".herald.yml": f"image: {TEST_IMAGE}\n"
            f"services:\n  db: {{image: {TEST_IMAGE}, command: [sleep, '300']}}\n"
            "commands: [echo started, sleep 300]\n"
        }
    )
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "exec"],
        cwd=src.path,
        env=exec_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if line.strip() == "started" or time.monotonic() > deadline:
                break
        running = left_behind(docker_client)
        assert running, "the step's container should be running"
        # A server sharing the engine sweeps what its own dead jobs left,
        # never a local run's (an instance name of its own).
        sweep_local()
        assert left_behind(docker_client) == running
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Step build: cancelled" in out and "Cancelled: interrupted (SIGINT)" in out
    assert left_behind(docker_client) == []


def test_the_copy_is_what_a_commit_would_hold_with_links_as_links(git_repo, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's own file\n")
    src = git_repo()
    src.commit({"kept.txt": "kept\n", "gone.txt": "x\n", "link": Symlink(str(outside)), ".gitignore": "*.log\n"})
    (src.path / "gone.txt").unlink()
    (src.path / "new.txt").write_text("new\n")
    (src.path / "debug.log").write_text("ignored\n")
    (src.path / "new-link").symlink_to("../../etc/passwd")

    dest = tmp_path / "copy"
    copy_tree(src.path, dest)
    assert sorted(p.name for p in dest.iterdir()) == [".git", ".gitignore", "kept.txt", "link", "new-link", "new.txt"]
    # Links stay links, to the same place: nothing outside the tree is read.
    assert os.readlink(dest / "link") == str(outside) and os.readlink(dest / "new-link") == "../../etc/passwd"
    assert (dest / ".git" / "HEAD").is_file()


def test_options_are_checked_against_the_pipeline(tmp_path):
    pipeline = lint_path_text(
        tmp_path,
        f"image: {TEST_IMAGE}\nmatrix:\n  PY: ['3.11', '3.12']\n"
        "parameters:\n  - {name: FAST, type: boolean}\n  - {name: WHERE, type: choice, choices: [a, b]}\n"
        "steps:\n  - {name: test, commands: [true]}\n",
    )
    assert options.combinations(pipeline, ["PY=3.12"]) == [{"PY": "3.12"}]
    assert len(options.combinations(pipeline, [])) == 2
    assert options.params(pipeline, ["FAST=true", "WHERE=b"]) == {"FAST": True, "WHERE": "b"}
    for call, message in [
        (lambda: options.combinations(pipeline, ["PY=2"]), "no matrix combination has PY=2 (it has: PY=3.11; PY=3.12)"),
        (
            lambda: options.combinations(pipeline, ["OS=x"]),
            "--matrix OS: the pipeline has no such matrix key (it has: PY)",
        ),
        (
            lambda: options.params(pipeline, ["FAST=maybe"]),
            "--param: parameter FAST is a boolean: give true or false, not 'maybe'",
        ),
        (lambda: options.params(pipeline, ["WHERE"]), "--param expects NAME=value, not 'WHERE'"),
        (lambda: options.steps(pipeline, ["lint"]), "--step lint: the pipeline has no such step (it has: test)"),
        (lambda: options.timeout("soon"), "--timeout must be like 30s, 20m or 1h (a bare number: minutes), not 'soon'"),
    ]:
        with pytest.raises(options.UsageError) as e:
            call()
        assert str(e.value) == message
    assert options.timeout("90s") == 90 and options.timeout("2") == 120

    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text("# the team's tokens\nNPM_TOKEN=abc=def\n\nOTHER= spaced \n")
    assert options.secrets(["OTHER=given"], secrets_file) == {"NPM_TOKEN": "abc=def", "OTHER": "given"}
    secrets_file.write_text("NPM_TOKEN abc\n")
    with pytest.raises(options.UsageError, match=r"line 1: expected NAME=value"):
        options.secrets([], secrets_file)


def lint_path_text(folder, text):
    (folder / ".herald.yml").write_text(text)
    result = lint_path(folder)
    assert result.valid, result.error
    return result.pipeline


def test_the_trigger_is_what_when_filters_see():
    head = Head(commit="a" * 40, branch="feature", tag="v1.2")
    push = Job(**trigger_of(head, "push", None, None))
    assert (push.branch, push.ref) == ("feature", "refs/heads/feature")
    assert When(branch=["feature"]).matches(push) and not When(event=["tag"]).matches(push)
    pull = Job(**trigger_of(head, "pull_request", "main", None))
    assert When(event=["pull_request"], branch=["main"]).matches(pull)  # its target branch
    tag = Job(**trigger_of(head, "tag", None, None))
    assert (tag.tag, tag.ref) == ("v1.2", "refs/tags/v1.2") and When(tag=["v1.*"]).matches(tag)
    with pytest.raises(options.UsageError, match="give --tag NAME"):
        trigger_of(Head(commit="a" * 40), "tag", None, None)
