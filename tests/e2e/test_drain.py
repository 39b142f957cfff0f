"""Restarts are a non-event: real signals to a real `manage.py qcluster` and
`manage.py serve`.

SIGTERM drains (running builds finish, or go back in the queue when the
drain time is over, for another worker to run); a worker killed outright
loses its job to the reaper, which requeues it once and ends it errored the
second time; `serve` keeps the web server up while it restarts a dead
cluster (and the other way round); no process of a dead cluster lives on.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.support import ROOT, TEST_IMAGE, LiveHerald, remove_instance_objects

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

LONG_FIRST_ATTEMPT = f"""\
image: {TEST_IMAGE}
steps:
  - name: long
    commands:
      - echo "attempt ${{HERALD_ATTEMPT:-1}} started"
      - 'if [ "${{HERALD_ATTEMPT:-1}}" = 1 ]; then sleep 600; fi'
      - echo "attempt ${{HERALD_ATTEMPT:-1}} finished"
"""


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


# --- processes -------------------------------------------------------------------


def processes():
    """{pid: (parent pid, process group)} of every process on the machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: read after the last one.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":  # zombies are dead, only not yet waited for
            found[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return found


def group(pgid):
    return [pid for pid, (_, g) in processes().items() if g == pgid]


def descendants(pid):
    procs = processes()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [p for p, (pp, _) in procs.items() if pp == parent]
        found += children
        todo += children
    return found


def child_running(parent, word):
    """The pid of `parent`'s child whose command line holds `word`."""
    for pid, (ppid, _) in processes().items():
        if ppid == parent:
            try:
                if word in (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()):
                    return pid
            except OSError:
                continue
    return None


class Cluster:
    """`manage.py qcluster` on a Herald's database, as systemd runs a worker."""

    def __init__(self, herald, **env):
        self.log_path = herald.dir / f"qcluster-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            cwd=ROOT,
            env={**herald.env, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def log(self):
        return self.log_path.read_text()


@pytest.fixture
def herald(tmp_path, docker_client, test_image):
    """Start Heralds (web server, with or without its own worker cluster)
    and `manage.py qcluster`s on their database; afterwards, everything is
    stopped and the test's Docker objects must be gone already."""
    started, clusters = [], []

    def start(worker=False, **env):
        env.setdefault("HERALD_WORKER_LOST_SECONDS", "5")
        env.setdefault("HERALD_DRAIN_SECONDS", "2")
        h = LiveHerald(tmp_path / f"live{len(started)}", env=env, worker=worker).start()
        started.append(h)
        return h

    def cluster(h, **env):
        c = Cluster(h, **env)
        clusters.append(c)
        return c

    start.cluster = cluster
    yield start
    for c in clusters:
        c.stop()
    for h in started:
        h.stop()
        left = remove_instance_objects(h.instance, wait=0)
        assert not left and not h.left_behind, f"containers left behind: {left or h.left_behind}"


def containers(docker_client, herald, job_id, role="step"):
    labels = [f"org.herald-ci.instance={herald.instance}", f"org.herald-ci.job={job_id}"]
    return [
        c
        for c in docker_client.containers.list(all=True, filters={"label": labels})
        if role is None or c.labels.get("org.herald-ci.role") == role
    ]


def leftovers(docker_client, herald, job_id):
    labels = {"label": [f"org.herald-ci.instance={herald.instance}", f"org.herald-ci.job={job_id}"]}
    return (
        docker_client.containers.list(all=True, filters=labels)
        + docker_client.networks.list(filters=labels)
        + docker_client.volumes.list(filters=labels)
    )


class Answering:
    """Asks the web server every 0.2 s in a thread; `failures` lists the
    times it did not answer."""

    def __init__(self, herald):
        self.url = herald.url + "/api/jobs/0/"
        self.failures = []
        self.asked = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.2):
            self.asked += 1
            try:
                requests.get(self.url, timeout=5)
            except requests.RequestException as e:
                self.failures.append(repr(e))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# --- SIGTERM: drain ---------------------------------------------------------------


def test_sigterm_lets_the_running_build_finish_claims_nothing_more_and_serve_keeps_the_web_up(
    herald, git_repo, docker_client
):
    web = herald(worker=True, HERALD_DRAIN_SECONDS="60")
    src = git_repo()
    sha = src.commit({".herald.yml": f"image: {TEST_IMAGE}\ncommands: [echo started, sleep 5, echo finished]\n"})
    web.add_repo("acme/widgets", src.url)
    job_id = web.push_github("acme/widgets", sha).json()["jobs"][0]
    wait_for("the build's output", lambda: "started" in web.log_text(job_id), 60)
    cluster = wait_for("the worker cluster", lambda: child_running(web.proc.pid, "qcluster"), 5)
    tree = descendants(cluster)
    assert len(tree) >= 4  # sentinel, workers, monitor, pusher

    with Answering(web) as answering:
        os.kill(cluster, signal.SIGTERM)
        quick = src.commit({".herald.yml": f"image: {TEST_IMAGE}\ncommands: [echo quick]\n"}, "during the drain")
        later = web.push_github("acme/widgets", quick, branch="other").json()["jobs"][0]
        job = web.wait_job(job_id, timeout=30)
        assert job["status"] == "success", web.log_text(job_id)
        assert "finished" in web.log_text(job_id)
        # The draining cluster exited whole, having claimed nothing more...
        wait_for("the drained cluster gone", lambda: not {cluster, *tree} & set(processes()), 20)
        gone_at = datetime.now(UTC)
        # ...and serve started a new cluster, which runs what was pushed meanwhile.
        again = web.wait_job(later, timeout=60)
    assert again["status"] == "success"
    assert datetime.fromisoformat(again["started_at"]) >= gone_at
    assert child_running(web.proc.pid, "qcluster") not in (None, cluster)
    assert not answering.failures and answering.asked > 10


def test_after_the_drain_time_the_build_goes_back_in_the_queue_and_another_worker_runs_it(
    herald, git_repo, docker_client
):
    web = herald()
    src = git_repo()
    sha = src.commit({".herald.yml": LONG_FIRST_ATTEMPT})
    web.add_repo("acme/widgets", src.url)
    first = herald.cluster(web, HERALD_DRAIN_SECONDS="2")
    job_id = web.push_github("acme/widgets", sha).json()["jobs"][0]
    wait_for("the build's output", lambda: "attempt 1 started" in web.log_text(job_id), 60)

    first.proc.send_signal(signal.SIGTERM)
    job = web.wait_job(job_id, statuses=("queued",), timeout=15)
    assert first.proc.wait(15) == 0, first.log()
    assert not group(first.proc.pid)
    assert job["reason"].startswith("Stopped: the worker") and "HERALD_DRAIN_SECONDS" in job["reason"]
    assert job["steps"] == []
    log = web.log_text(job_id)
    assert "attempt 1 started" in log and "It goes back in the queue" in log
    assert not leftovers(docker_client, web, job_id)

    herald.cluster(web)
    job = web.wait_job(job_id, timeout=60)
    assert job["status"] == "success", web.log_text(job_id)
    log = web.log_text(job_id)
    # One log: the first attempt, why it stopped, then the second.
    assert (
        log.index("attempt 1 started")
        < log.index("It goes back in the queue")
        < log.index("Attempt 2:")
        < log.index("attempt 2 finished")
    )
    assert [s["status"] for s in job["steps"]] == ["success"]


def test_a_second_sigterm_stops_the_build_at_once_and_still_requeues_it(herald, git_repo):
    web = herald()
    src = git_repo()
    web.add_repo("acme/widgets", src.url)
    cluster = herald.cluster(web, HERALD_DRAIN_SECONDS="600")
    job_id = web.push_github("acme/widgets", src.commit({".herald.yml": LONG_FIRST_ATTEMPT})).json()["jobs"][0]
    wait_for("the build's output", lambda: "attempt 1 started" in web.log_text(job_id), 60)

    cluster.proc.send_signal(signal.SIGINT)  # Ctrl-C
    time.sleep(1)
    assert web.job(job_id)["status"] == "running"
    cluster.proc.send_signal(signal.SIGINT)
    job = web.wait_job(job_id, statuses=("queued",), timeout=15)
    assert job["reason"].endswith("was told to stop at once")
    assert cluster.proc.wait(15) == 0, cluster.log()


# --- dying without a drain: the reaper ----------------------------------------------


def test_a_worker_killed_twice_requeues_its_job_once_then_ends_it_errored(herald, git_repo, docker_client):
    web = herald()
    src = git_repo()
    sha = src.commit(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
services:
  side: {{image: {TEST_IMAGE}, command: [sleep, "600"]}}
steps:
  - name: long
    commands: ['echo "attempt ${{HERALD_ATTEMPT:-1}} running"', sleep 600]
"""
        }
    )
    web.add_repo("acme/widgets", src.url)
    cluster = herald.cluster(web)
    job_id = web.push_github("acme/widgets", sha).json()["jobs"][0]

    for attempt in (1, 2):
        step = wait_for(
            f"attempt {attempt}'s step",
            lambda: [c for c in containers(docker_client, web, job_id) if c.status == "running"],
            60,
        )[0]
        wait_for("output", lambda a=attempt: f"attempt {a} running" in web.log_text(job_id), 10)
        worker_pid = int(step.labels["org.herald-ci.pid"])
        os.kill(worker_pid, signal.SIGKILL)
        if attempt == 1:
            # The reaper requeues it, once; the cluster replaced the worker and runs it again,
            # after removing what the first attempt left.
            wait_for(
                "the second attempt",
                lambda: web.job(job_id)["status"] == "running" and "attempt 2 running" in web.log_text(job_id),
                60,
            )
            assert not [
                c
                for c in containers(docker_client, web, job_id, role=None)
                if c.labels.get("org.herald-ci.pid") == str(worker_pid)
            ]
            log = web.log_text(job_id)
            assert "Worker lost" in log and "goes back in the queue (once" in log

    job = web.wait_job(job_id, timeout=60)
    assert job["status"] == "errored"
    assert job["reason"].startswith("Worker lost") and "second time" in job["reason"]
    assert [s["status"] for s in job["steps"]] == ["errored"]
    wait_for("containers, network and volume gone", lambda: not leftovers(docker_client, web, job_id), 30)
    log = web.log_text(job_id)
    assert "attempt 1 running" in log and "attempt 2 running" in log
    assert cluster.proc.poll() is None  # the cluster replaced its workers and goes on

    ok = src.commit({".herald.yml": f"image: {TEST_IMAGE}\ncommands: [echo recovered]\n"})
    assert web.wait_job(web.push_github("acme/widgets", ok).json()["jobs"][0])["status"] == "success"


def test_killing_the_clusters_main_process_leaves_no_orphans_and_serve_restarts_it_with_the_web_up(
    herald, git_repo, docker_client
):
    web = herald(worker=True)
    src = git_repo()
    web.add_repo("acme/widgets", src.url)
    job_id = web.push_github("acme/widgets", src.commit({".herald.yml": LONG_FIRST_ATTEMPT})).json()["jobs"][0]
    wait_for("the build's output", lambda: "attempt 1 started" in web.log_text(job_id), 60)
    cluster = child_running(web.proc.pid, "qcluster")
    tree = descendants(cluster)
    assert len(tree) >= 4

    with Answering(web) as answering:
        os.kill(cluster, signal.SIGKILL)
        # Its sentinel and workers die with it: nothing runs the build beside the next cluster.
        wait_for("the dead cluster's processes gone", lambda: not set(tree) & set(processes()), 10)
        # serve started another cluster, whose reaper requeues the job once; the second attempt ends it.
        job = web.wait_job(job_id, timeout=60)
        assert job["status"] == "success", web.log_text(job_id)
        wait_for("containers, network and volume gone", lambda: not leftovers(docker_client, web, job_id), 30)
    assert not answering.failures and answering.asked > 10
    log = web.log_text(job_id)
    assert "Worker lost" in log and "attempt 1 started" in log and "attempt 2 finished" in log

    # The other way round: the web server dies, serve starts it again, the cluster goes on.
    new_cluster = child_running(web.proc.pid, "qcluster")
    gunicorn = child_running(web.proc.pid, "gunicorn")
    os.kill(gunicorn, signal.SIGKILL)
    wait_for("a new web server", lambda: child_running(web.proc.pid, "gunicorn") not in (None, gunicorn), 10)
    wait_for("the web server answering again", lambda: _answers(web), 20)
    assert child_running(web.proc.pid, "qcluster") == new_cluster
    ok = src.commit({".herald.yml": f"image: {TEST_IMAGE}\ncommands: [echo recovered]\n"})
    again = web.push_github("acme/widgets", ok).json()["jobs"][0]
    assert web.wait_job(again)["status"] == "success"


def _answers(web):
    try:
        return requests.get(web.url + "/api/jobs/0/", timeout=2).status_code in (401, 404)
    except requests.RequestException:
        return False
