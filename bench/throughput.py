"""(d) Webhook throughput: gunicorn as in production (2 workers), 8
concurrent senders, per forge, on SQLite and on PostgreSQL. The worker is
not started, so every accepted delivery's task stays in the queue where it
can be counted: accepted deliveries = jobs = queued tasks, or it's a loss."""

import http.client
import json
import os
import subprocess
import threading
import time
from pathlib import Path

from bench.run import line, pct
from tests import support
from tests.support import LiveHerald

SENDERS = 8
PER_SENDER = 250


def forge_request(flavor):
    """Pushes as each forge sends them: its documented payload, its headers,
    its signature (tests/forges/forge_kit.py)."""
    from tests.forges.forge_kit import PUSH, aim_push, headers, provider_of

    event, name = PUSH[flavor]

    def build(full_name, sha, i):
        payload = aim_push(flavor, name, full_name, sha, ref=f"refs/heads/bench-{i}")
        body = json.dumps(payload).encode()
        return f"/webhooks/{provider_of(flavor)}/", body, headers(flavor, event, body)

    return build


BUILDERS = {flavor: forge_request(flavor) for flavor in ("github", "gitea", "gogs", "gitlab", "bitbucket")}


def send_all(port, requests_):
    results = []
    lock = threading.Lock()

    def sender(batch):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for path, body, headers in batch:
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            mine.append((status, (time.perf_counter() - t0) * 1000))
        conn.close()
        with lock:
            results.extend(mine)

    batches = [requests_[i::SENDERS] for i in range(SENDERS)]
    threads = [threading.Thread(target=sender, args=(b,)) for b in batches]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def run_one(tmp, provider, db_label, env):
    env = {**env, **{k: v for k, v in os.environ.items() if k.startswith("HERALD_WEB_")}}
    herald = LiveHerald(Path(tmp) / f"tp-{provider}-{db_label}", env=env, worker=False).start()
    try:
        from tests.forges.forge_kit import provider_of

        herald.add_repo("bench/throughput", "https://example.com/bench/throughput.git", provider=provider_of(provider))
        build = BUILDERS[provider]
        # Warm up both gunicorn workers.
        warm = [build("bench/throughput", f"{i + 1:040x}", f"w{i}") for i in range(40)]
        warm_results, _ = send_all(herald.port, warm)
        warm_ok = sum(1 for status, _ in warm_results if status == 202)
        if herald.pg_db:
            # A running server's tables have statistics: autovacuum ANALYZEs
            # a table within a minute of its first 50 changes. This database
            # is seconds old; without them the planner takes a freshly
            # filled jobs table for an empty one and picks indexes by size.
            import psycopg

            with psycopg.connect(support._postgres_url_for(herald.pg_db, options=False), autocommit=True) as conn:
                conn.execute("ANALYZE")
        reqs = [build("bench/throughput", f"{i + 100001:040x}", i) for i in range(SENDERS * PER_SENDER)]
        results, elapsed = send_all(herald.port, reqs)
        ok = [ms for status, ms in results if status == 202]
        counts = herald.manage(
            "shell",
            "-c",
            (
                "from webhooks.models import Delivery; from builds.models import Job; "
                "from django_q.models import OrmQ; "
                "print(Delivery.objects.filter(outcome='accepted').count(), Job.objects.count(), OrmQ.objects.count())"
            ),
        ).split()
        deliveries, jobs, tasks = map(int, counts[-3:])
    finally:
        herald.stop()
    # 202 answers with no delivery, deliveries without a job, jobs without a task.
    lost = (len(ok) + warm_ok - deliveries) + abs(deliveries - jobs) + abs(jobs - tasks)
    line(
        f"{provider} on {db_label}: accepted/s",
        f"{len(ok) / elapsed:.0f}/s",
        "target ≥ 300/s (PostgreSQL), ≥ 250/s (SQLite)",
    )
    line(f"{provider} on {db_label}: p50 / p95", f"{pct(ok, 50):.1f} / {pct(ok, 95):.1f} ms", "target p95 < 50 ms")
    line(
        f"{provider} on {db_label}: accepted / deliveries / jobs / tasks",
        f"{len(ok) + warm_ok}/{deliveries}/{jobs}/{tasks}",
        f"lost: {lost}" + ("" if len(ok) == len(results) else f", non-202: {len(results) - len(ok)}"),
    )


def bench_throughput(tmp, providers=None):
    print(
        f"\n(d) Webhook throughput: gunicorn 2 workers, {SENDERS} concurrent senders, {SENDERS * PER_SENDER} pushes"
        " (PostgreSQL: tables ANALYZEd after the warm-up, as autovacuum does on a running server)"
    )
    for provider in providers or BUILDERS:
        run_one(tmp, provider, "SQLite", {"DATABASE_URL": ""})
    pg = start_postgres(tmp)
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = pg
    try:
        for provider in providers or BUILDERS:
            run_one(tmp, provider, "PostgreSQL", {})
    finally:
        if saved is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved


def start_postgres(tmp):
    env = {
        **os.environ,
        "HERALD_PG_DURABLE": "1",
        "HERALD_PG_PORT": os.environ.get("HERALD_BENCH_PG_PORT", "54330"),
        "HERALD_DATA_DIR": os.environ.get("HERALD_DATA_DIR", str(Path(tmp))),
    }
    out = subprocess.run(
        [str(support.ROOT / "scripts" / "postgres.sh"), "start"], env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(
            f"could not start PostgreSQL on port {env['HERALD_PG_PORT']} for the benchmark"
            f" (HERALD_BENCH_PG_PORT picks another):\n{out.stderr}"
        )
    return out.stdout.strip().splitlines()[-1]
