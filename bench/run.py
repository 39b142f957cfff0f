#!/usr/bin/env python
"""Herald CI benchmarks: prints figures beside their targets, asserts nothing.

  make bench                      everything
  make bench BENCH_ARGS="--only webhook,latency"

(a) webhook response time over 200 signed pushes sent one after another
    (and, on SQLite, while a second connection holds an exclusive lock: the
    deliveries are journaled);
(b) trigger latency: webhook sent → container started → job finished, beside
    the same clone + docker run done directly, as a ratio;
(c) memory (PSS) of the web server and the worker, idle and peak;
(d) webhook throughput per forge, gunicorn with 2 workers, 8 concurrent
    senders, on SQLite and PostgreSQL; every accepted delivery must have one
    job and one queued task;
(scale) builds per minute with one and with two worker machines (40
    builds that sleep 1 s, HERALD_CONCURRENCY=2 each; PostgreSQL, Redis,
    the second machine's builds on a Docker engine of its own:
    bench/scale_out.py);
(dashboard) server time and queries of the dashboard with 100,000 jobs
    (bench/dashboard.py);
(log) a 1,000,000-line log opened and scrolled in Chromium (bench/log_open.py);
(reports) parsing a 5,000-test JUnit XML report (bench/reports.py);
(artifacts) collecting 100 MB of artifacts in both workspace modes
    (bench/artifacts.py).
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ciproject.settings")

from tests import support  # noqa: E402
from tests.support import GitRepo, LiveHerald, herald_yml  # noqa: E402


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def line(label, value, target=""):
    print(f"  {label:<58} {value:>14}   {target}")


# --- memory -------------------------------------------------------------------


def tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            kids = []
        todo.extend(int(k) for k in kids)
    return pids


def pss_kib(pids):
    total = 0
    for p in pids:
        try:
            for row in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if row.startswith("Pss:"):
                    total += int(row.split()[1])
        except OSError:
            pass
    return total


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class MemorySampler(threading.Thread):
    """Samples PSS of the web server tree and the worker tree."""

    def __init__(self, serve_pid):
        super().__init__(daemon=True)
        self.serve_pid = serve_pid
        self.peak = {"web": 0, "worker": 0, "total": 0}
        self.stop = threading.Event()

    def groups(self):
        web, worker = [], []
        for child in tree(self.serve_pid)[1:]:
            (web if "gunicorn" in cmdline(child) else worker).append(child)
        return web, worker

    def sample(self):
        web, worker = self.groups()
        # serve itself (the small supervisor) is counted with the worker.
        w, q = pss_kib(web), pss_kib(worker + [self.serve_pid])
        return {"web": w, "worker": q, "total": w + q}

    def run(self):
        while not self.stop.wait(0.1):
            s = self.sample()
            for k in s:
                self.peak[k] = max(self.peak[k], s[k])


# --- (a) + (b) ----------------------------------------------------------------


def bench_webhook_and_latency(tmp, runs_latency=10, pushes=200):
    import docker

    client = docker.from_env()
    support.ensure_test_image(client)
    src = GitRepo(Path(tmp) / "src")
    src.commit({".herald.yml": herald_yml("true")}, "bench")

    # (a) webhook response time, the web server's own: no worker takes the
    # jobs meanwhile (they point at commits that don't exist).
    web = LiveHerald(Path(tmp) / "web", worker=False).start()
    try:
        web.add_repo("bench/webhook", src.url)
        conn = http.client.HTTPConnection("127.0.0.1", web.port)

        def send_pushes(prefix):
            times = []
            for i in range(pushes):
                body = json.dumps(support.github_push("bench/webhook", f"{i + 1:040x}", branch=f"{prefix}{i}")).encode()
                t0 = time.perf_counter()
                conn.request("POST", "/webhooks/github/", body=body, headers=support.github_headers("s3cret", body))
                conn.getresponse().read()
                times.append((time.perf_counter() - t0) * 1000)
            return times

        send_pushes("warm")
        times_active = send_pushes("a")
        web.manage("shell", "-c", "from repositories.models import Repository as R; R.objects.update(active=False)")
        times = send_pushes("b")
        web.manage("shell", "-c", "from repositories.models import Repository as R; R.objects.update(active=True)")
        times_journaled, drained = journaled_pushes(web, send_pushes)
        conn.close()
    finally:
        web.stop()

    herald = LiveHerald(Path(tmp) / "a").start()
    sampler = MemorySampler(herald.proc.pid)
    try:
        herald.add_repo("bench/latency", src.url)
        time.sleep(3)
        idle = sampler.sample()

        # (b) trigger latency, end to end, against the direct equivalent.
        # Nothing else runs meanwhile: the status is polled gently (the
        # times come from the job's own timestamps) and memory is sampled
        # in a separate burst below, so the measuring doesn't take the CPU
        # the build needs.
        events = []
        instance = herald.instance

        def watch():
            for ev in client.events(
                decode=True, filters={"event": "start", "label": f"org.herald-ci.instance={instance}"}
            ):
                events.append(ev["timeNano"] / 1e9)

        threading.Thread(target=watch, daemon=True).start()
        start_lat, finish_lat, direct, contained = [], [], [], []
        for i in range(runs_latency):
            sha = src.commit({".herald.yml": herald_yml("echo hello"), "n": str(i)}, f"lat {i}")
            n_events = len(events)
            body = json.dumps(support.github_push("bench/latency", sha)).encode()
            headers = support.github_headers("s3cret", body)
            t0 = time.time()
            r = herald.post("/webhooks/github/", body, headers)
            job_id = r.json()["jobs"][0]
            while True:
                job = herald.job(job_id)
                if job["status"] not in ("queued", "running"):
                    break
                time.sleep(0.1)
            t_finished = _parse_ts(job["finished_at"])
            while len(events) == n_events and time.time() - t0 < 5:
                time.sleep(0.01)
            if len(events) > n_events:
                start_lat.append(events[n_events] - t0)
            finish_lat.append(t_finished - t0)
            direct.append(direct_run(src, sha, Path(tmp) / f"direct-{i}", client))
            contained.append(direct_run(src, sha, Path(tmp) / f"contained-{i}", client, contained=True))
            time.sleep(0.3)

        # (c) peak memory: a burst of builds, two at a time, while sampling.
        sampler.start()
        burst = []
        for i in range(8):
            sha = src.commit(
                {
                    ".herald.yml": herald_yml("i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done"),
                    "m": str(i),
                },
                f"mem {i}",
            )
            burst.append(herald.push_github("bench/latency", sha, branch=f"mem-{i}").json()["jobs"][0])
        for job_id in burst:
            herald.wait_job(job_id)
        sampler.stop.set()
        time.sleep(2)
        idle_after = sampler.sample()
    finally:
        herald.stop()

    print("\n(a) Webhook response time, 200 signed GitHub pushes one after another")
    line("repository inactive (verify + parse + record): p50 / p95", f"{pct(times, 50):.1f} / {pct(times, 95):.1f} ms")
    line(
        "accepted, job created and enqueued: p50 / p95",
        f"{pct(times_active, 50):.1f} / {pct(times_active, 95):.1f} ms",
        "target p95 < 20 ms",
    )
    if times_journaled:
        line(
            "journaled (database locked): p50 / p95",
            f"{pct(times_journaled, 50):.1f} / {pct(times_journaled, 95):.1f} ms",
            "target p95 < 10 s",
        )
        line("the journal replayed once the lock went, all 200", f"{drained:.1f} s")
    print(f"\n(b) Trigger latency over {runs_latency} trivial image+commands builds (median)")
    line("webhook sent → container started", f"{statistics.median(start_lat):.3f} s")
    line("webhook sent → job finished", f"{statistics.median(finish_lat):.3f} s")
    line("direct: clone + docker run of the same build", f"{statistics.median(direct):.3f} s")
    line(
        "ratio finished / direct", f"{statistics.median(finish_lat) / statistics.median(direct):.2f}×", "target ≤ 1.3×"
    )
    line("direct with Herald's containment (limits, build bridge)", f"{statistics.median(contained):.3f} s")
    line(
        "ratio finished / direct with the same containment",
        f"{statistics.median(finish_lat) / statistics.median(contained):.2f}×",
    )
    print("\n(c) Memory, PSS (pages shared between forked processes counted once)")
    line("idle at start: web server / worker", f"{idle['web'] / 1024:.0f} / {idle['worker'] / 1024:.0f} MiB")
    line("idle at start: together", f"{idle['total'] / 1024:.0f} MiB", "target < 300 MB")
    line(
        "peak during 8 builds (2 at a time): web / worker / together",
        f"{sampler.peak['web'] / 1024:.0f} / {sampler.peak['worker'] / 1024:.0f} / {sampler.peak['total'] / 1024:.0f} MiB",
    )
    line("idle after the runs: together", f"{idle_after['total'] / 1024:.0f} MiB")


def journaled_pushes(web, send_pushes):
    """The pushes' times while a second SQLite connection holds BEGIN
    EXCLUSIVE (webhooks/journal.py), and the seconds the journal took to
    drain once it let go; None on PostgreSQL."""
    import sqlite3

    if web.pg_db:
        return None, None
    lock = sqlite3.connect(web.dir / "herald.sqlite3", isolation_level=None, timeout=30)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        times = send_pushes("j")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    journal = Path(web.env["HERALD_DATA_DIR"]) / "journal"
    t0 = time.monotonic()
    while any(journal.glob("*.json")) and time.monotonic() - t0 < 120:
        time.sleep(0.05)
    return times, time.monotonic() - t0


def _parse_ts(value):
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()


def direct_run(src, sha, dest, client, contained=False):
    """The same work without Herald: fetch the commit, docker run, wait;
    `contained` adds the options Herald runs builds with."""
    os.environ.setdefault("HERALD_ALLOW_LOCAL_CLONES", "1")
    import django

    django.setup()
    from builds.docker.limits import containment_options
    from builds.docker.network import isolated_network
    from builds.git import fetch_commit

    options = {**containment_options(), "network": isolated_network(client)} if contained else {}
    t0 = time.time()
    fetch_commit(src.url, sha, dest, ref="refs/heads/main", allow_local=True)
    c = client.containers.run(
        support.TEST_IMAGE,
        ["/bin/sh", "-e", "-c", "printf '%s\\n' '$ echo hello'\necho hello\n"],
        volumes={str(dest): {"bind": "/repo", "mode": "rw"}},
        working_dir="/repo",
        detach=True,
        **options,
    )
    c.wait()
    c.logs()
    elapsed = time.time() - t0
    c.remove(force=True)
    subprocess.run(["rm", "-rf", str(dest)])
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="webhook,throughput,prune,scale,dashboard,log,reports,artifacts")
    args, rest = parser.parse_known_args()
    only = set(args.only.split(","))
    print(f"Herald CI benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {os.cpu_count()} CPUs")
    try:
        with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
            if only & {"webhook", "latency", "memory"}:
                bench_webhook_and_latency(tmp)
            if "throughput" in only:
                from bench.throughput import bench_throughput

                bench_throughput(tmp)
            if "prune" in only:
                from bench.prune import bench_prune

                print("\n(prune) Retention of 100,000 old jobs while 8 senders push webhooks (SQLite)")
                bench_prune(tmp)
            if "scale" in only:
                from bench.scale_out import bench_scale_out

                print("\n(scale) Builds per minute, one worker machine against two (PostgreSQL, Redis)")
                bench_scale_out(tmp)
    finally:
        # The build bridge direct_run put its containers on: nothing of the
        # benchmark stays on the engine (each network holds an address pool).
        from django.conf import settings

        if settings.configured:
            support.remove_instance_objects(settings.HERALD_INSTANCE, wait=0)
    # The UI's benchmarks run on their own (each starts what it needs).
    for name, script in (
        ("dashboard", "dashboard.py"),
        ("log", "log_open.py"),
        ("reports", "reports.py"),
        ("artifacts", "artifacts.py"),
    ):
        if name in only:
            print(f"\n({name}) bench/{script}", flush=True)
            subprocess.run([sys.executable, str(ROOT / "bench" / script), *rest])


if __name__ == "__main__":
    main()
