"""No accepted push is lost while the database is away (issue 12, section 1):
deliveries are journaled on local disk, answered 202, and replayed in order,
exactly once, with their original receive times, once the database is back.

The live tests run `manage.py serve` as a user does and take its database
away for real: a second SQLite connection holding an exclusive lock for
60 s, a PostgreSQL of the test's own stopped for 20 s."""

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from builds.models import Job
from tests.forges.forge_kit import as_meta
from tests.support import ROOT, LiveHerald, free_port, github_headers, github_push
from webhooks import journal, views
from webhooks.models import Delivery

SENDERS, PUSHES = 8, 200


# --- in-process: the journal and its replay -------------------------------------


@pytest.fixture
def journal_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    # A drainer thread a request starts in this process sleeps through the
    # test: the tests replay with drain() themselves.
    settings.HERALD_JOURNAL_RETRY_SECONDS = 3600
    views.KNOWN.clear()
    journal.database_back()
    yield Path(journal.directory())
    views.KNOWN.clear()
    journal.database_back()


@pytest.fixture
def repo(make_repository):
    return make_repository("acme/widgets", provider="github")


def signed(sha, branch="main", secret="s3cret", delivery=None, full_name="acme/widgets"):
    body = json.dumps(github_push(full_name, sha, branch=branch)).encode()
    return body, github_headers(secret, body, delivery=delivery)


def post(client, body, headers, **extra):
    return client.post("/webhooks/github/", data=body, content_type="application/json", **as_meta(headers), **extra)


def journal_push(sha, received_at=None, **kw):
    """A delivery as the receiver journals it while the database is away."""
    body, headers = signed(sha, **kw)
    return journal.write("github", headers, body, received_at or timezone.now())


pytestmark = [pytest.mark.django_db(transaction=True)]


def test_it_journals_behind_waiting_deliveries_and_replays_them_in_order(client, repo, journal_dir):
    journal_push("a" * 40)
    # The database is fine, but an earlier push waits: this one waits behind it.
    r = post(client, *signed("b" * 40))
    assert r.status_code == 202
    assert r.json() == {"outcome": "journaled", "reason": "recorded; will be processed when the database is back"}
    assert Job.objects.count() == 0 and len(journal.entries()) == 2

    assert views.drainer.drain()
    first, second = Job.objects.order_by("number")
    assert (first.commit, second.commit) == ("a" * 40, "b" * 40)
    # The later push supersedes the earlier, as if they had come straight in.
    assert first.status == "cancelled" and first.reason == "Superseded by #2"
    assert second.status == "queued"
    assert journal.entries() == [] and not journal.pending()
    assert [d.outcome for d in Delivery.objects.order_by("id")] == ["accepted", "accepted"]


def test_a_full_journal_answers_503_with_the_reason(client, repo, journal_dir, settings):
    settings.HERALD_JOURNAL_MAX_BYTES = 2048
    journal.write("github", {}, b"{}", timezone.now())
    r = post(client, *signed("c" * 40))
    assert r.status_code == 503
    assert r["Retry-After"] == "60"
    assert r.json()["outcome"] == "refused"
    assert r.json()["reason"].startswith("the webhook journal is full (")
    assert len(journal.entries()) == 1 and Delivery.objects.count() == 0


def test_a_journal_that_cannot_be_written_answers_503_with_the_reason(client, repo, journal_dir):
    journal_dir.write_text("not a directory")
    journal.database_failed()  # as after a real failure: the next deliveries go to the journal
    r = post(client, *signed("c" * 40))
    assert r.status_code == 503
    assert r.json()["reason"].startswith("cannot write the webhook journal: ")
    assert Job.objects.count() == 0


def test_a_replay_after_a_crash_between_commit_and_unlink_creates_nothing_twice(repo, journal_dir):
    name = journal_push("d" * 40)
    saved = (journal_dir / name).read_bytes()
    assert views.drainer.drain()
    assert Job.objects.count() == 1 and Delivery.objects.get().journal_entry == name
    # The process died after the commit, before removing the file.
    (journal_dir / name).write_bytes(saved)

    assert views.drainer.drain()
    assert Job.objects.count() == 1 and Delivery.objects.count() == 1
    assert journal.entries() == []


def test_a_redelivered_id_and_a_second_delivery_of_the_same_push_still_build_once(repo, journal_dir):
    journal_push("e" * 40, delivery="same-id")
    journal_push("e" * 40, delivery="same-id")
    journal_push("e" * 40, delivery="another-id")
    assert views.drainer.drain()
    assert Job.objects.count() == 1
    outcomes = list(Delivery.objects.order_by("id").values_list("outcome", "reason"))
    assert outcomes == [
        ("accepted", ""),
        ("duplicate", "delivery same-id was already received"),
        ("duplicate", "commit eeeeeeeeeeee of refs/heads/main already has job #1; rebuild that job to build it again"),
    ]


def test_an_unknown_repository_is_journaled_unverified_and_refused_at_replay(client, repo, journal_dir):
    journal_push("1" * 40)
    # This process has not read acme/widgets: it cannot check the signature.
    r = post(client, *signed("2" * 40, secret="wrong"))
    assert r.status_code == 202 and r.json()["outcome"] == "journaled"

    assert views.drainer.drain()
    assert list(Job.objects.values_list("commit", flat=True)) == ["1" * 40]
    refused = Delivery.objects.get(outcome="rejected")
    assert refused.status_code == 403 and not refused.authenticated and not refused.jobs.exists()
    assert refused.reason == "X-Hub-Signature-256 does not match the repository's webhook secret"
    assert refused.journal_entry


def test_a_known_repository_is_authenticated_before_journaling(client, repo, journal_dir):
    assert post(client, *signed("3" * 40)).status_code == 202  # straight in: now known to this process
    journal_push("4" * 40)
    r = post(client, *signed("5" * 40, secret="wrong"))
    assert r.status_code == 403
    assert len(journal.entries()) == 1


def test_a_replayed_delivery_keeps_its_original_receive_time(repo, journal_dir):
    received = timezone.now() - timedelta(minutes=10)
    journal_push("6" * 40, received_at=received)
    assert views.drainer.drain()
    assert Delivery.objects.get().received_at == received


def test_a_replayed_job_is_dated_when_its_push_arrived(repo, journal_dir):
    received = timezone.now() - timedelta(minutes=10)
    journal_push("6" * 40, received_at=received)
    assert views.drainer.drain()
    assert Job.objects.get().created_at == received


def test_a_later_push_built_first_is_not_superseded_by_an_earlier_one_replayed_after_it(client, repo, journal_dir):
    # Another web process journaled push A while the database was locked;
    # push B, received after it, reached the database first (the lock had
    # just gone). Replaying A must not cancel B's build for an older commit.
    journal_push("a" * 40, received_at=timezone.now() - timedelta(seconds=5))
    os.rename(journal_dir, journal_dir.with_name("held"))  # B sees nothing waiting
    assert post(client, *signed("b" * 40)).status_code == 202
    os.rename(journal_dir.with_name("held"), journal_dir)

    assert views.drainer.drain()
    b = Job.objects.get(commit="b" * 40)
    a = Job.objects.get(commit="a" * 40)
    assert b.status == "queued"
    assert a.status == "cancelled"
    assert a.reason == f"Superseded by #{b.number}, pushed later and built while this push waited for the database"


def test_replayed_pushes_supersede_each_other_in_the_order_they_arrived(repo, journal_dir):
    start = timezone.now() - timedelta(minutes=1)
    for i, sha in enumerate(("1" * 40, "2" * 40, "3" * 40)):
        journal_push(sha, received_at=start + timedelta(seconds=i))
    assert views.drainer.drain()
    statuses = dict(Job.objects.values_list("commit", "status"))
    assert statuses == {"1" * 40: "cancelled", "2" * 40: "cancelled", "3" * 40: "queued"}


def test_the_journal_is_readable_by_herald_alone_and_keeps_no_cookie(client, repo, journal_dir):
    journal_push("7" * 40)
    body, headers = signed("8" * 40)
    assert post(client, body, headers, HTTP_COOKIE="sessionid=abc").status_code == 202
    assert stat.S_IMODE(journal_dir.stat().st_mode) == 0o700
    for name in journal.entries():
        assert stat.S_IMODE((journal_dir / name).stat().st_mode) == 0o600
    entry = journal.read(journal.entries()[-1])
    assert entry.body == body and "X-Hub-Signature-256" in entry.headers
    assert not any(h.lower() == "cookie" for h in entry.headers)


# --- live: the database taken away during a burst ---------------------------------


def burst(herald, spacing, started=None):
    """PUSHES signed pushes (distinct branches and commits) from SENDERS
    threads, each waiting `spacing` s between its pushes; returns the
    answers and the burst's time window."""
    answers = []
    window = [datetime.now(UTC)]

    def sender(k):
        with requests.Session() as http:
            for i in range(k, PUSHES, SENDERS):
                sha = f"{i + 1:040x}"
                delivery = str(uuid.uuid4())
                body = json.dumps(github_push("acme/widgets", sha, branch=f"b{i}")).encode()
                t0 = time.monotonic()
                try:
                    r = http.post(
                        herald.url + "/webhooks/github/",
                        data=body,
                        timeout=30,
                        headers=github_headers("s3cret", body, delivery=delivery),
                    )
                    status, outcome = r.status_code, r.json().get("outcome")
                except requests.RequestException as e:
                    status, outcome = None, type(e).__name__
                answers.append((sha, delivery, status, outcome, time.monotonic() - t0))
                time.sleep(spacing)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
    for t in threads:
        t.start()
    if started:
        started()
    for t in threads:
        t.join()
    window.append(datetime.now(UTC))
    return answers, window


def check_answers(answers):
    assert len(answers) == PUSHES
    bad = [a for a in answers if a[2] != 202 or a[3] not in ("accepted", "journaled")]
    assert not bad, f"{len(bad)} answers other than 202 accepted/journaled, e.g. {bad[:3]}"
    slow = [a for a in answers if a[4] >= 10]
    assert not slow, f"{len(slow)} answers took 10 s or more, e.g. {slow[:3]}"
    journaled = sum(a[3] == "journaled" for a in answers)
    assert journaled >= PUSHES / 2, f"only {journaled} deliveries were journaled: the database was not away"


def wait_drained(herald, timeout=90):
    path = Path(herald.env["HERALD_DATA_DIR"]) / "journal"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(p.suffix == ".json" for p in path.glob("*.json")):
            return
        time.sleep(0.25)
    raise AssertionError(
        f"the journal still holds {len(list(path.glob('*.json')))} deliveries after {timeout} s\n"
        + herald.log_path.read_text()[-3000:]
    )


DELIVERIES = """SELECT d.delivery_id, d.outcome, d.received_at, COUNT(l.job_id)
                FROM webhooks_delivery d LEFT JOIN webhooks_delivery_jobs l ON l.delivery_id = d.id
                GROUP BY d.id, d.delivery_id, d.outcome, d.received_at"""
JOBS = 'SELECT "commit", COUNT(*) FROM builds_job GROUP BY "commit"'


def check_recorded(answers, window, deliveries, jobs):
    """Every push has exactly one job and one delivery record, received in the burst."""
    assert dict(jobs) == {sha: 1 for sha, *_ in answers}
    by_id = {}
    for delivery_id, outcome, received_at, n_jobs in deliveries:
        by_id.setdefault(delivery_id, []).append((outcome, n_jobs, received_at))
    assert set(by_id) == {delivery for _, delivery, *_ in answers}
    doubled = {k: v for k, v in by_id.items() if len(v) != 1}
    assert not doubled, f"deliveries recorded more than once: {list(doubled.items())[:3]}"
    assert {(outcome, n) for [(outcome, n, _)] in by_id.values()} == {("accepted", 1)}
    start, end = window[0] - timedelta(seconds=1), window[1] + timedelta(seconds=1)
    for [(_, _, received_at)] in by_id.values():
        if isinstance(received_at, str):  # SQLite: UTC, without a zone
            received_at = datetime.fromisoformat(received_at).replace(tzinfo=UTC)
        assert start <= received_at <= end, (received_at, window)


@pytest.mark.e2e
@pytest.mark.sqlite
def test_a_60_s_sqlite_lock_during_a_burst_loses_and_doubles_nothing(tmp_path):
    herald = LiveHerald(tmp_path, worker=False).start()
    try:
        herald.add_repo("acme/widgets", "https://example.com/acme/widgets.git")
        database = herald.dir / "herald.sqlite3"
        locked, released = threading.Event(), threading.Event()

        def hold_lock():
            conn = sqlite3.connect(database, isolation_level=None, timeout=30)
            conn.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(60)
            conn.execute("ROLLBACK")
            conn.close()
            released.set()

        locker = threading.Thread(target=hold_lock)

        def lock_soon():
            time.sleep(1)
            locker.start()
            assert locked.wait(30)

        # 25 pushes per sender over about 10 s: the first ones straight in,
        # the rest while the lock is held.
        answers, window = burst(herald, spacing=0.4, started=lock_soon)
        check_answers(answers)
        assert not released.is_set(), "the burst outlasted the lock"
        locker.join()
        wait_drained(herald)

        with sqlite3.connect(database) as conn:
            deliveries, jobs = conn.execute(DELIVERIES).fetchall(), conn.execute(JOBS).fetchall()
        check_recorded(answers, window, deliveries, jobs)
    finally:
        herald.stop()


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own (scripts/postgres.sh, as make
    test-postgres starts the suite's), so stopping it disturbs nothing else.
    Not under tmp_path: the postgres user must reach its folder."""
    data = Path(tempfile.mkdtemp(prefix="herald-pg-"))
    data.chmod(0o755)
    env = {**os.environ, "HERALD_DATA_DIR": str(data), "HERALD_PG_PORT": str(free_port())}

    def pg(action):
        return subprocess.run(
            [str(ROOT / "scripts" / "postgres.sh"), action],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout.strip()

    url = pg("start")
    try:
        yield url, pg
    finally:
        pg("stop")
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.e2e
@pytest.mark.postgres
def test_postgresql_stopped_for_20_s_during_a_burst_loses_and_doubles_nothing(tmp_path, own_postgres):
    import psycopg

    url, pg = own_postgres
    herald = LiveHerald(tmp_path, worker=False, database_url=url).start()
    try:
        herald.add_repo("acme/widgets", "https://example.com/acme/widgets.git")
        outage = {}

        def stop_for_20_s():
            time.sleep(3)
            pg("stop")
            outage["stopped"] = time.monotonic()
            time.sleep(20)
            pg("start")
            outage["started"] = time.monotonic()

        stopper = threading.Thread(target=stop_for_20_s)
        # 25 pushes per sender over about 30 s: before, during and after the outage.
        answers, window = burst(herald, spacing=1.2, started=stopper.start)
        stopper.join()
        check_answers(answers)
        wait_drained(herald)

        with psycopg.connect(url) as conn:
            deliveries, jobs = conn.execute(DELIVERIES).fetchall(), conn.execute(JOBS).fetchall()
        check_recorded(answers, window, deliveries, jobs)
    finally:
        herald.stop()


@pytest.mark.e2e
def test_deliveries_left_in_the_journal_are_replayed_after_a_restart_without_a_new_one(tmp_path, settings):
    herald = LiveHerald(tmp_path, worker=False, env={"HERALD_JOURNAL_RETRY_SECONDS": "1"}).start()
    try:
        herald.add_repo("acme/widgets", "https://example.com/acme/widgets.git")
        herald.stop(keep_database=True)
        # Journaled while the database was away; then the server stopped
        # before it was back (its drainer with it).
        settings.DATA_DIR = herald.dir / "data"
        journal_push("9" * 40, received_at=timezone.now() - timedelta(minutes=3))
        herald.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            jobs = herald.get_json("/api/repos/acme/widgets/jobs/")["jobs"]
            if jobs:
                break
            time.sleep(0.25)
        assert [j["commit"] for j in jobs] == ["9" * 40]
        assert journal.entries() == []
    finally:
        herald.stop()
