"""(scale) Builds per minute with one and with two worker machines.

As a scaled-out installation runs (issue 14 §6): PostgreSQL, Redis as
django-q2's broker, a web server, and worker machines — `manage.py
qcluster`s with their own names and workspace folders, the second beside a
Docker engine of its own (tests/dockerd.py), HERALD_CONCURRENCY=2 each. 40
builds that sleep 1 s are pushed at once (one branch each, so none
supersedes another), first with one machine, then with two; the time runs
from the first webhook to the last build's end.

    HERALD_DATA_DIR=… .venv/bin/python bench/scale_out.py [--builds 40]

PostgreSQL on HERALD_BENCH_PG_PORT (54330), Redis on HERALD_BENCH_REDIS_PORT
(63831); a Redis already answering there is used and left running.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ciproject.settings")

from bench.run import line  # noqa: E402
from bench.throughput import start_postgres  # noqa: E402
from tests.dockerd import Machine, SecondEngine  # noqa: E402
from tests.support import TEST_IMAGE, GitRepo, LiveHerald, remove_instance_objects  # noqa: E402

PIPELINE = f"image: {TEST_IMAGE}\ncommands: [sleep 1]\n"
FINAL = {"success", "failed", "errored", "cancelled", "timed_out", "skipped"}


def start_redis(tmp):
    """A Redis of the benchmark's own; (its URL, and how to stop it — None
    when one already answered on the port: someone else's, left alone)."""
    port = os.environ.get("HERALD_BENCH_REDIS_PORT", "63831")
    env = {**os.environ, "HERALD_DATA_DIR": str(Path(tmp) / "redis"), "HERALD_REDIS_PORT": port}
    theirs = subprocess.run(["redis-cli", "-p", port, "ping"], capture_output=True).returncode == 0
    out = subprocess.run([str(ROOT / "scripts" / "redis.sh"), "start"], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"could not start Redis for the benchmark:\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1], None if theirs else env


def wait_online(web, hosts, timeout=60):
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        html = requests.get(web.url + "/", timeout=10).text
        if all(f"{h} · " in html for h in hosts):
            return
        time.sleep(0.3)
    raise SystemExit(f"workers {', '.join(hosts)} not online in {timeout} s")


def one_round(web, src, prefix, builds):
    """Push `builds` builds at once; builds per minute until the last ends."""
    sha = src.commit({".herald.yml": PIPELINE}, f"round {prefix}")
    started = time.monotonic()
    ids = []
    for i in range(builds):
        r = web.push_github("acme/widgets", sha, branch=f"{prefix}-{i}")
        assert r.status_code == 202, r.text
        ids.append(r.json()["jobs"][0])
    pending, workers = set(ids), {}
    deadline = started + 600
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            job = web.job(job_id)
            if job["status"] in FINAL:
                if job["status"] != "success":
                    raise SystemExit(f"build {job_id} ended {job['status']}: {job['reason']}")
                pending.discard(job_id)
                workers[job["worker"]] = workers.get(job["worker"], 0) + 1
        time.sleep(0.2)
    if pending:
        raise SystemExit(f"{len(pending)} builds still not done after 600 s")
    elapsed = time.monotonic() - started
    return builds / elapsed * 60, elapsed, workers


def bench_scale_out(tmp, builds=40):
    tmp = Path(tmp)
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = start_postgres(tmp)
    redis_url, redis_env = start_redis(tmp)
    engine = SecondEngine().start()
    web, machines = None, []
    try:
        web = LiveHerald(
            tmp / "scale", worker=False, env={"HERALD_REDIS_URL": redis_url, "HERALD_LOG_LEVEL": "ERROR"}
        ).start()
        src = GitRepo(tmp / "scale-src")
        src.commit({"README": "widgets\n"})
        web.add_repo("acme/widgets", src.url)
        machines.append(Machine(web, "build-1", "", None, tmp, concurrency=2))
        wait_online(web, ["build-1"])
        one, t1, _ = one_round(web, src, "one", builds)
        line(f"{builds} builds (sleep 1 s), 1 worker × 2 slots", f"{one:.1f} /min", f"({t1:.1f} s)")
        machines.append(Machine(web, "build-2", "", engine.host, tmp, concurrency=2))
        wait_online(web, ["build-1", "build-2"])
        two, t2, spread = one_round(web, src, "two", builds)
        shares = ", ".join(f"{h} {n}" for h, n in sorted(spread.items()))
        line(f"{builds} builds (sleep 1 s), 2 workers × 2 slots", f"{two:.1f} /min", f"({t2:.1f} s; {shares})")
        # 2× when nothing the two share (CPUs, the database, the broker) is the limit.
        line("two workers against one", f"{two / one:.2f}×", "target: close to 2×")
    finally:
        for m in machines:
            m.stop()
        if web is not None:
            web.stop()
            remove_instance_objects(web.instance, wait=0)
        engine.stop()
        # PostgreSQL stays up for the other benchmarks, as bench/throughput.py leaves it.
        if redis_env is not None:
            subprocess.run([str(ROOT / "scripts" / "redis.sh"), "stop"], env=redis_env, capture_output=True)
        if saved is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--builds", type=int, default=40)
    args = parser.parse_args()
    print(f"(scale) Builds per minute, one worker machine against two (PostgreSQL, Redis) — {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="herald-bench-scale-") as tmp:
        bench_scale_out(tmp, args.builds)


if __name__ == "__main__":
    main()
