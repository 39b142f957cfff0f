"""/healthz, /readyz and /metrics as monitoring uses them, and the version."""

import json
import os
import subprocess
import sys

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from builds import constants as C
from builds.logwriter import LogWriter
from builds.models import Job, LogChunk, Worker
from ciproject import __version__
from repositories.models import CommitStatus
from tests.support import ROOT, herald_yml
from webhooks.models import Delivery

TOKEN = "m3trics-t0ken"


def scrape(text):
    """{(name, frozenset(labels)): value} as Prometheus reads the answer."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def test_healthz_answers_without_the_database(client):
    # No `db` fixture: pytest-django fails any query this request made.
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "version": __version__}


def test_readyz_says_ready_with_the_version(client, db):
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "version": __version__}


def readyz_of(tmp_path, database_url, migrate=False, **env):
    """/readyz of a Herald whose database is `database_url`, in its own process."""
    code = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client().get('/readyz'); print(json.dumps([r.status_code, r.json()]))"
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HERALD_DATA_DIR": str(tmp_path),
        "HERALD_ALLOWED_HOSTS": "testserver",
        "DJANGO_SETTINGS_MODULE": "ciproject.settings",
        **env,
    }
    if migrate:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_readyz_is_503_with_the_reason_before_migrate(tmp_path):
    status, body = readyz_of(tmp_path, f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    assert status == 503 and body["status"] == "unavailable"
    assert "migrations are not applied: run manage.py migrate" in body["reason"]


def test_readyz_is_503_when_the_database_does_not_answer(tmp_path):
    status, body = readyz_of(tmp_path, "postgres://herald:secret-pw@127.0.0.1:1/herald?connect_timeout=2")
    assert status == 503 and body["reason"] == "the database does not answer (OperationalError)"
    assert "secret-pw" not in json.dumps(body)


def test_readyz_is_503_when_the_queues_redis_does_not_answer(tmp_path):
    status, body = readyz_of(
        tmp_path, f"sqlite:///{tmp_path / 'herald.sqlite3'}", migrate=True, HERALD_REDIS_URL="redis://127.0.0.1:1/0"
    )
    assert status == 503 and body["reason"].startswith("the queue's Redis does not answer")


def test_metrics_are_hidden_until_a_token_is_set(client, settings, db):
    settings.HERALD_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404
    settings.HERALD_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_metrics_count_what_the_database_holds(client, settings, make_repository):
    settings.HERALD_METRICS_TOKEN = TOKEN
    repo = make_repository("acme/api")
    now = timezone.now()
    for n, (status, seconds) in enumerate([(C.SUCCESS, 3), (C.SUCCESS, 100), (C.FAILED, 20)], start=1):
        Job.objects.create(
            repository=repo,
            number=n,
            commit="a" * 40,
            status=status,
            started_at=now - timezone.timedelta(seconds=seconds),
            finished_at=now,
        )
    Job.objects.create(
        repository=repo, number=4, commit="b" * 40, status=C.QUEUED, created_at=now - timezone.timedelta(seconds=90)
    )
    Job.objects.create(repository=repo, number=5, commit="c" * 40, status=C.RUNNING, worker="box-1", started_at=now)
    Worker.objects.create(host="box-1", slots=2)
    Delivery.objects.create(provider="github", event="push", outcome="accepted", repository=repo)
    Delivery.objects.create(provider="gitlab", event="push", outcome="rejected")
    CommitStatus.objects.create(
        job=Job.objects.get(number=1), job_status=C.SUCCESS, state="success", outcome=CommitStatus.SENT
    )
    writer = LogWriter(Job.objects.get(number=1), fresh=True)
    writer.write("héllo\n")
    writer.close()

    r = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r["Content-Type"].startswith("text/plain; version=0.0.4")
    s = scrape(r.content.decode())
    assert value(s, "herald_jobs", status="success") == 2 and value(s, "herald_jobs", status="cancelled") == 0
    assert value(s, "herald_queue_length") == 1
    assert 89 <= value(s, "herald_queue_oldest_age_seconds") < 120
    assert value(s, "herald_running_builds", worker="box-1") == 1
    assert value(s, "herald_workers_online") == 1
    ok = {"repository": "acme/api", "status": "success"}
    assert value(s, "herald_build_duration_seconds_bucket", le="5", **ok) == 1
    assert value(s, "herald_build_duration_seconds_bucket", le="120", **ok) == 2
    assert value(s, "herald_build_duration_seconds_count", **ok) == 2
    assert value(s, "herald_build_duration_seconds_sum", **ok) == pytest.approx(103, abs=1)
    assert value(s, "herald_build_duration_seconds_count", repository="acme/api", status="failed") == 1
    assert value(s, "herald_webhook_deliveries", forge="gitlab", outcome="rejected") == 1
    assert value(s, "herald_commit_status_posts", outcome="sent") == 1
    stored = sum(len(c.text.encode()) for c in LogChunk.objects.all())
    assert value(s, "herald_log_stored_bytes") == stored == len("héllo\n".encode())  # bytes, not characters


def test_a_running_server_is_scraped_as_prometheus_would(live_herald, git_repo):
    herald = live_herald(HERALD_METRICS_TOKEN=TOKEN)
    src = git_repo()
    sha = src.commit({".herald.yml": herald_yml("echo measured")}, "works")
    herald.add_repo("acme/web", src.url)
    r = herald.push_github("acme/web", sha)
    assert herald.wait_job(r.json()["jobs"][0])["status"] == "success"

    assert requests.get(herald.url + "/readyz", timeout=10).json()["status"] == "ok"
    assert requests.get(herald.url + "/metrics", timeout=10).status_code == 401
    answer = requests.get(herald.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    s = scrape(answer.text)
    assert value(s, "herald_jobs", status="success") == 1
    assert value(s, "herald_build_duration_seconds_count", repository="acme/web", status="success") == 1
    assert value(s, "herald_workers_online") == 1
    assert value(s, "herald_webhook_deliveries", forge="github", outcome="accepted") == 1
    assert value(s, "herald_log_stored_bytes") > len("measured")


def test_the_version_is_printed_and_in_every_page_footer(client, db, capsys):
    call_command("version")
    assert capsys.readouterr().out.strip() == f"Herald CI {__version__}"
    # As an operator types it: Django answers both itself unless manage.py does.
    for argv in (["version"], ["--version"]):
        out = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, capture_output=True, text=True)
        assert (out.returncode, out.stdout) == (0, f"Herald CI {__version__}\n")
    assert f"Herald CI {__version__}</footer>" in client.get("/login/").content.decode()
