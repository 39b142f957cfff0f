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

from tests.support import ROOT, TEST_IMAGE, git

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

    failed = herald_exec("--secret", f"TOKEN={TOKEN}", "--param", "GREETING=fail", str(checkout), cwd=checkout.parent)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "[herald] Step check: failed with exit code 1" in failed.stdout
    assert "[herald] Step after: skipped (an earlier step failed)" in failed.stdout
    assert "after-ran" not in failed.stdout

    # Only the steps asked for; nothing of the runs is left on the engine.
    only = herald_exec("--step", "after", "--secret", "TOKEN=x", cwd=checkout)
    assert only.returncode == 0, only.stdout + only.stderr
    assert "[herald] Step show: skipped (--step)" in only.stdout
    assert "after-ran" in only.stdout
    assert left_behind(docker_client) == []


def test_bad_pipelines_and_options_exit_2_with_lints_message(checkout):
    git(checkout, "rm", "-q", "--cached", ".herald.yml")
    (checkout / ".herald.yml").write_text(f"image: {TEST_IMAGE}\nsteps:\n  - name: a\n    comands: [true]\n")
    lint = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "lint", str(checkout)], capture_output=True, text=True, env=exec_env()
    )
    bad = herald_exec(cwd=checkout)
    assert (bad.returncode, bad.stderr.strip()) == (2, lint.stderr.strip())
    assert bad.stderr.startswith(".herald.yml, line 4")

    (checkout / ".herald.yml").write_text(PIPELINE)
    secretless = herald_exec("--param", "GREETING=x", cwd=checkout)
    assert secretless.returncode == 2
    assert "unknown secret 'TOKEN'" in secretless.stderr
    unknown = herald_exec("--secret", "TOKEN=x", "--param", "NOPE=1", "--step", "show", cwd=checkout)
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

    left = herald_exec("--matrix", "SIDE=left", cwd=src.path, command=herald)
    assert left.returncode == 0, left.stdout + left.stderr
    assert "side=left" in left.stdout and "side=right" not in left.stdout


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
        assert left_behind(docker_client), "the step's container should be running"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Step build: cancelled" in out and "Cancelled: interrupted (SIGINT)" in out
    assert left_behind(docker_client) == []
