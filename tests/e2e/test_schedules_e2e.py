"""A schedule fired by a real Herald (gunicorn + django-q2 qcluster, whose
scheduler runs the minute's check): created over the API, it builds the
branch's commit as a `cron` job that runs in Docker with its parameter;
and a schedule whose times passed while no worker ran is built once when
one starts."""

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.support import ROOT, TEST_IMAGE, LiveHerald, remove_instance_objects

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

PIPELINE = f"""\
image: {TEST_IMAGE}
parameters:
  - name: TARGET
    type: choice
    choices: [staging, production]
steps:
  - name: deploy
    commands:
      - 'echo "deploying to $TARGET on a $HERALD_EVENT build"'
"""


def test_a_schedule_due_every_minute_runs_a_cron_build(live_herald, git_repo):
    herald = live_herald()
    src = git_repo()
    src.commit({".herald.yml": PIPELINE}, message="Add the pipeline")
    src.checkout("release", create=True)
    release = src.commit({"r.txt": "r"}, message="Release work")
    src.checkout("main")
    src.commit({"m.txt": "m"}, message="Main moves on")
    herald.add_repo("acme/widgets", src.url)
    herald.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; get_user_model().objects.create_user('ada', is_staff=True)",
    )
    auth = {"Authorization": f"Bearer {herald.manage('createtoken', 'ada').strip()}"}

    r = requests.post(
        f"{herald.url}/api/repos/acme/widgets/schedules",
        json={"name": "every minute", "cron": "* * * * *", "branch": "release", "params": {"TARGET": "production"}},
        headers=auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    schedule = r.json()

    # Due at the next minute, when django-q2's minute check runs too (its
    # scheduler looks every 30 s). Both are brought forward to now: the
    # cron arithmetic is tested on its own (test_schedules.py), and this
    # test then waits 30 s at most instead of 90.
    herald.manage(
        "shell",
        "-c",
        "from django.utils import timezone; from django_q.models import Schedule as Q; "
        "from builds.models import Schedule; from builds.schedules.firing import NAME; "
        "Schedule.objects.update(next_run_at=timezone.now()); Q.objects.filter(name=NAME).update(next_run=timezone.now())",
    )
    deadline = time.monotonic() + 180
    jobs = []
    while time.monotonic() < deadline and not jobs:
        jobs = herald.get_json("/api/repos/acme/widgets/jobs/?event=cron")["jobs"]
        time.sleep(1)
    assert jobs, "no cron job within 180 s:\n" + herald.log_path.read_text()[-5000:]
    first = jobs[-1]
    assert (first["event"], first["branch"], first["commit"]) == ("cron", "release", release)
    assert (first["triggered_by"], first["params"]) == ("schedule: every minute", {"TARGET": "production"})
    job = herald.wait_job(first["id"], timeout=120)
    assert job["status"] == "success", job["reason"]
    assert "deploying to production on a cron build" in herald.log_text(first["id"])

    shown = requests.get(f"{herald.url}/api/schedules/{schedule['id']}", headers=auth, timeout=10).json()
    assert shown["last_error"] == "" and shown["last_run_at"]
    assert shown["last_job"]["event"] == "cron"
    # Stop it: nothing more is started once it is disabled.
    r = requests.patch(
        f"{herald.url}/api/schedules/{schedule['id']}", json={"enabled": False}, headers=auth, timeout=30
    )
    assert r.status_code == 200 and r.json()["next_run"] is None


def cron_jobs(herald):
    return herald.get_json("/api/repos/acme/widgets/jobs/?event=cron")["jobs"]


@pytest.fixture
def web_only(tmp_path, docker_client, test_image):
    """The web server alone, no worker: as if every worker machine were
    down. The test starts one itself; its Docker objects must be gone."""
    herald = LiveHerald(tmp_path / "live", worker=False).start()
    yield herald
    herald.stop()
    left = remove_instance_objects(herald.instance)
    assert not left, f"containers left behind: {left}"


def test_a_worker_starting_after_three_days_down_runs_one_catch_up_build(web_only, git_repo):
    herald = web_only
    src = git_repo()
    src.commit({".herald.yml": PIPELINE}, message="Add the pipeline")
    herald.add_repo("acme/widgets", src.url)
    herald.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; get_user_model().objects.create_user('ada', is_staff=True)",
    )
    auth = {"Authorization": f"Bearer {herald.manage('createtoken', 'ada').strip()}"}
    r = requests.post(
        f"{herald.url}/api/repos/acme/widgets/schedules",
        json={"name": "hourly", "cron": "0 * * * *", "params": {"TARGET": "staging"}},
        headers=auth,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    # Its next run was three days ago: 72 hourly times have passed.
    herald.manage(
        "shell",
        "-c",
        "from datetime import timedelta; from django.utils import timezone; from builds.models import Schedule; "
        "Schedule.objects.update(next_run_at=timezone.now() - timedelta(days=3))",
    )
    log_path = herald.dir / "qcluster.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            cwd=ROOT,
            env=herald.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        jobs = []
        while time.monotonic() < deadline and not jobs:
            jobs = cron_jobs(herald)
            time.sleep(1)
        assert jobs, "no catch-up build within 120 s:\n" + log_path.read_text()[-5000:]
        job = herald.wait_job(jobs[0]["id"], timeout=120)
        assert job["status"] == "success", job["reason"]
        assert "deploying to staging on a cron build" in herald.log_text(job["id"])
        # The minute's check again, twice, as django-q2's scheduler runs it
        # (waiting for two real minutes would prove the same, slower): the
        # 71 other times that passed are not built, nor this one twice.
        for _ in range(2):
            herald.manage("shell", "-c", "from builds.schedules.firing import fire_due; print(fire_due())")
        assert [j["id"] for j in cron_jobs(herald)] == [job["id"]]
        shown = requests.get(f"{herald.url}/api/repos/acme/widgets/schedules", headers=auth, timeout=10).json()
        [schedule] = shown["schedules"]
        assert schedule["last_job"]["id"] == job["id"] and schedule["next_run"][14:] == "00:00+00:00"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
