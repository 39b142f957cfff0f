"""A running build survives a database blip (issue 12, section 2): its
writes wait for the database (HERALD_DB_GRACE_SECONDS), the build goes on,
nothing of its log is lost, and nobody calls it lost. Past the grace it
ends errored saying what happened, and leaves nothing behind.

Real parts only: `manage.py serve` with a worker, a real build in Docker, a
second SQLite connection holding an exclusive lock longer than SQLite's
30 s busy timeout, a PostgreSQL of the test's own stopped and started."""

import re
import shutil
import sqlite3
import subprocess
import threading
import time

import docker
import pytest

from tests.support import LiveHerald, herald_yml
from tests.webhooks.test_journal import own_postgres  # noqa: F401 (a fixture)

TICKS = 30
TICKING = f"for i in $(seq 1 {TICKS}); do echo tick-$i; sleep 1; done"


def start_ticking(herald, git_repo):
    src = git_repo()
    sha = src.commit({".herald.yml": herald_yml(TICKING)}, "ticks")
    herald.add_repo("acme/ticks", src.url)
    r = herald.push_github("acme/ticks", sha)
    assert r.status_code == 202, r.text
    job_id = r.json()["jobs"][0]
    deadline = time.monotonic() + 90
    while "tick-3\n" not in herald.log_text(job_id):
        assert time.monotonic() < deadline, herald.log_text(job_id)[-2000:]
        time.sleep(0.3)
    return job_id


def ticks_in(text):
    return [int(n) for n in re.findall(r"^tick-(\d+)$", text, re.M)]


def finish(herald):
    herald.stop()
    assert not herald.left_behind, f"containers left behind: {herald.left_behind}"


@pytest.mark.e2e
@pytest.mark.sqlite
def test_a_40_s_sqlite_lock_during_a_build_loses_nothing(tmp_path, git_repo):
    herald = LiveHerald(tmp_path).start()
    try:
        job_id = start_ticking(herald, git_repo)
        with sqlite3.connect(herald.dir / "herald.sqlite3", isolation_level=None, timeout=30) as conn:
            conn.execute("BEGIN EXCLUSIVE")
            time.sleep(40)  # past the 30 s busy timeout: the worker's writes fail, and are retried
            conn.execute("ROLLBACK")
        job = herald.wait_job(job_id, timeout=120)
        assert (job["status"], job["reason"]) == ("success", ""), job
        assert ticks_in(herald.log_text(job_id)) == list(range(1, TICKS + 1))
    finally:
        finish(herald)


@pytest.mark.e2e
@pytest.mark.postgres
def test_postgresql_stopped_for_15_s_during_a_build_loses_nothing(tmp_path, git_repo, own_postgres):  # noqa: F811
    url, pg = own_postgres
    herald = LiveHerald(tmp_path, database_url=url).start()
    try:
        job_id = start_ticking(herald, git_repo)
        pg("stop")
        time.sleep(15)
        pg("start")
        job = herald.wait_job(job_id, timeout=120)
        assert (job["status"], job["reason"]) == ("success", ""), job
        assert ticks_in(herald.log_text(job_id)) == list(range(1, TICKS + 1))
        assert "worker lost" not in herald.log_text(job_id).lower()
    finally:
        finish(herald)


@pytest.mark.e2e
@pytest.mark.postgres
def test_past_the_grace_the_build_ends_saying_the_database_was_away(tmp_path, git_repo, own_postgres):  # noqa: F811
    url, pg = own_postgres
    herald = LiveHerald(tmp_path, database_url=url, env={"HERALD_DB_GRACE_SECONDS": "8"}).start()
    try:
        job_id = start_ticking(herald, git_repo)
        stopped = threading.Event()

        def outage():
            pg("stop")
            stopped.set()
            time.sleep(25)
            pg("start")

        thread = threading.Thread(target=outage)
        thread.start()
        thread.join()
        job = herald.wait_job(job_id, timeout=120)
        assert job["status"] == "errored", job
        assert re.fullmatch(r"The database was unavailable for \d+ s", job["reason"]), job["reason"]
    finally:
        finish(herald)


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MiB filesystem of the test's own (tmpfs), unmounted after."""
    path = tmp_path / "small"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.e2e
@pytest.mark.sqlite
def test_a_build_that_fills_the_disk_ends_errored_and_herald_recovers(small_disk, git_repo, tmp_path):
    herald = LiveHerald(small_disk, env={"HERALD_LOG_MAX_BYTES": str(500 * 1024 * 1024)})
    herald.log_path = tmp_path / "serve.log"  # where it can still be written
    herald.start()
    ballast = small_disk / "ballast"  # what the admin will delete to make room
    ballast.write_bytes(b"\0" * 8 * 1024 * 1024)
    engine = docker.from_env()

    def containers():
        """The job's (the worker's network sandbox stays while it runs)."""
        return engine.containers.list(all=True, filters={"label": f"org.herald-ci.job={job_id}"})

    try:
        src = git_repo()
        # 100 MB of output for a log on a 48 MiB disk.
        sha = src.commit(
            {
                ".herald.yml": herald_yml(
                    "yes 0123456789012345678901234567890123456789 | head -c 100000000", "echo never-here"
                )
            },
            "chatty",
        )
        herald.add_repo("acme/chatty", src.url)
        job_id = herald.push_github("acme/chatty", sha).json()["jobs"][0]
        deadline = time.monotonic() + 120
        while shutil.disk_usage(small_disk).free > 1024 * 1024:
            assert time.monotonic() < deadline, "the disk never filled"
            time.sleep(0.5)
        # Full: webhooks get a reason, not a 500.
        r = herald.push_github("acme/chatty", "f" * 40)
        assert r.status_code in (202, 503), r.text
        # The job's container is gone although its end could not be written yet.
        deadline = time.monotonic() + 60
        while containers():
            assert time.monotonic() < deadline, [(c.name, c.status) for c in containers()]
            time.sleep(0.5)
        ballast.unlink()  # the admin makes room
        job = herald.wait_job(job_id, timeout=120)
        assert job["status"] == "errored", job
        assert job["reason"] == "No space left on device while storing the log", job
        assert herald.push_github("acme/chatty", sha, branch="other").status_code == 202
    finally:
        finish(herald)
