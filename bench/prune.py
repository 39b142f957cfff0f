"""(prune) Retention while webhooks arrive: 100,000 old jobs (each with a log
chunk) are pruned by builds.retention while 8 senders push webhooks at a
running server (gunicorn, 2 workers, no build worker). Reports the prune's
time and the webhooks' latency during it: target no delivery slower than
200 ms, none lost.

    HERALD_DATA_DIR=… .venv/bin/python bench/prune.py [--jobs N] [--postgres]
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import line, pct  # noqa: E402
from bench.throughput import BUILDERS, send_all, start_postgres  # noqa: E402
from tests.support import LiveHerald  # noqa: E402

POPULATE = """
from datetime import timedelta
from django.utils import timezone
from builds.models import Job, LogChunk
from repositories.models import Repository
repo = Repository.objects.create(full_name="bench/old", clone_url="https://example.com/old.git", private=False)
old = timezone.now() - timedelta(days=400)
for start in range(0, {jobs}, 5000):
    jobs = Job.objects.bulk_create(
        Job(repository=repo, number=n + 1, commit=f"{{n:040x}}", branch=f"b{{n % 50}}", status="success",
            created_at=old, started_at=old, finished_at=old, log_bytes=1024)
        for n in range(start, min(start + 5000, {jobs})))
    if not jobs[0].pk:
        jobs = list(Job.objects.filter(repository=repo, number__gt=start).order_by("number")[:5000])
    LogChunk.objects.bulk_create(LogChunk(job=j, seq=1, text="x" * 1023 + "\\n") for j in jobs)
repo.job_counter = {jobs}
repo.save()
print(Job.objects.count(), LogChunk.objects.count())
"""

PRUNE = """
import os, time
from builds import retention
from builds.retention import prune
if os.environ.get("BENCH_LOG_BATCH"): retention.LOG_BATCH = int(os.environ["BENCH_LOG_BATCH"])
if os.environ.get("BENCH_JOB_BATCH"): retention.JOB_BATCH = int(os.environ["BENCH_JOB_BATCH"])
t = time.perf_counter()
run = prune()
print(run.builds, run.jobs, run.log_chunks, run.error or "-", f"{time.perf_counter() - t:.2f}")
"""


def bench_prune(tmp, jobs=100_000, db_label="SQLite", env=None):
    herald = LiveHerald(
        Path(tmp) / f"prune-{db_label}", worker=False, env={"HERALD_KEEP_DAYS": "30", **(env or {})}
    ).start()
    try:
        herald.add_repo("bench/prune", "https://example.com/bench/prune.git")
        t0 = time.perf_counter()
        herald.manage("shell", "-c", POPULATE.format(jobs=jobs))
        made = time.perf_counter() - t0
        build = BUILDERS["github"]
        send_all(herald.port, [build("bench/prune", f"{i + 1:040x}", f"w{i}") for i in range(40)])

        # Send pushes in rounds until the prune is over.
        done = threading.Event()
        results, sent = [], [0]

        def keep_sending():
            i = 0
            while not done.is_set():
                batch = [build("bench/prune", f"{i + n + 100001:040x}", f"p{i + n}") for n in range(80)]
                i += 80
                got, _ = send_all(herald.port, batch)
                results.extend(got)
                sent[0] += len(batch)

        sender = threading.Thread(target=keep_sending)
        sender.start()
        t0 = time.perf_counter()
        try:
            out = herald.manage("shell", "-c", PRUNE).split()
        finally:
            done.set()
            sender.join()
        elapsed = time.perf_counter() - t0
        builds, pruned_jobs, chunks, error, took = out[-5:]
        counts = herald.manage(
            "shell",
            "-c",
            (
                "from webhooks.models import Delivery; from builds.models import Job; "
                "print(Delivery.objects.filter(outcome='accepted', repository__full_name='bench/prune').count(),"
                " Job.objects.filter(repository__full_name='bench/prune').count())"
            ),
        ).split()
        deliveries, new_jobs = map(int, counts[-2:])
    finally:
        herald.stop()
        if os.environ.get("BENCH_KEEP_LOG"):
            import shutil

            shutil.copy(herald.log_path, os.environ["BENCH_KEEP_LOG"])
    ok = [ms for status, ms in results if status == 202]
    lost = (len(ok) + 40 - deliveries) + abs(deliveries - new_jobs)
    line(f"{db_label}: {jobs:,} old jobs made in", f"{made:.1f} s")
    line(
        f"{db_label}: pruned builds / jobs / log chunks",
        f"{builds} / {pruned_jobs} / {chunks}",
        f"in {float(took):.1f} s ({int(pruned_jobs) / max(float(took), 0.001):,.0f} jobs/s); error: {error}",
    )
    line(
        f"{db_label}: webhooks during the prune",
        f"{len(results)} sent, {len(ok)} accepted",
        f"lost: {lost}"
        + ("" if len(ok) == len(results) else f", non-202: {dict(Counter(s for s, _ in results if s != 202))}"),
    )
    if ok:
        line(
            f"{db_label}: their p50 / p99 / max",
            f"{pct(ok, 50):.1f} / {pct(ok, 99):.1f} / {max(ok):.1f} ms",
            "target max < 200 ms",
        )
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    print(f"\n(prune) Retention of {args.jobs:,} old jobs while 8 senders push webhooks")
    with tempfile.TemporaryDirectory(prefix="herald-bench-prune-") as tmp:
        if not args.skip_sqlite:
            bench_prune(tmp, args.jobs, "SQLite", {"DATABASE_URL": ""})
        if args.postgres:
            pg = start_postgres(tmp)
            saved = os.environ.get("DATABASE_URL")
            os.environ["DATABASE_URL"] = pg
            try:
                bench_prune(tmp, args.jobs, "PostgreSQL")
            finally:
                if saved is None:
                    os.environ.pop("DATABASE_URL", None)
                else:
                    os.environ["DATABASE_URL"] = saved


if __name__ == "__main__":
    main()
