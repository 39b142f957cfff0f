"""Retry from a step (builds.retry): a failed build keeps its workspace, a
retry from step N adopts it and runs from N; a workspace gone is said, and
nothing runs; the sweeper keeps what is kept and removes what expired."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from builds import constants as C
from builds import housekeeping, retry
from builds.claim import KEPT_WORKSPACE, claim_next_job
from builds.models import Job
from builds.waiting import why_waiting
from repositories.models import Membership
from tests.builds.helpers import job_objects, log_of, queue, run_next, steps_of
from tests.support import TEST_IMAGE

pytestmark = [pytest.mark.django_db(transaction=True)]

# The pipeline: step 1 makes a file and counts its runs, step 2
# fails on the first try only (it leaves a marker), step 3 says the count.
FLAKY = f"""\
image: {TEST_IMAGE}
steps:
  - name: build
    commands:
      - echo built > out.txt
      - echo run >> counter
  - name: flaky
    commands:
      - cat out.txt
      - if [ ! -f marker ]; then touch marker; echo first-try; exit 3; fi
      - echo second-try
  - name: report
    commands:
      - echo "step 1 ran $(wc -l < counter) time(s)"
"""


@pytest.fixture
def project(git_repo, make_repository, test_image):
    src = git_repo()
    sha = src.commit({".herald.yml": FLAKY})
    repo = make_repository("acme/widgets", clone_url=src.url, private=True)
    users = get_user_model().objects
    pusher, reader = users.create_user("ada"), users.create_user("rita")
    Membership.objects.create(user=pusher, repository=repo, permission=Membership.PUSH)
    Membership.objects.create(user=reader, repository=repo, permission=Membership.PULL)
    housekeeping.beat()  # this worker is online: the retry can be asked of it
    return repo, sha, pusher, reader


def run_here():
    return run_next(worker=settings.HERALD_HOSTNAME)


def volume_names(client):
    return {
        v.name for v in client.volumes.list(filters={"label": f"org.herald-ci.instance={settings.HERALD_INSTANCE}"})
    }


def api_retry(client, job, step):
    return client.post(f"/api/jobs/{job.pk}/retry", json.dumps({"step": step}), content_type="application/json")


@pytest.mark.docker
@pytest.mark.parametrize("mode", ["bind", "copy"])
def test_it_retries_from_the_failed_step_in_the_kept_workspace(project, client, docker_client, settings, mode):
    settings.HERALD_WORKSPACE_MODE = mode
    repo, sha, pusher, reader = project
    failed = queue(repo, sha)
    failed = run_here()
    assert failed.status == C.FAILED and failed.reason == "Step flaky exited with code 3"
    assert failed.workspace_kept_on == settings.HERALD_HOSTNAME
    assert failed.workspace_kept_until > timezone.now() + timedelta(minutes=29)
    assert "first-try" in log_of(failed) and "The workspace is kept on" in log_of(failed)
    # Its containers are gone; its workspace stays, counted.
    assert job_objects(docker_client, failed) == ([f"herald-{settings.HERALD_INSTANCE}-job-{failed.pk}-workspace"])
    assert Path(settings.WORKSPACE_DIR, f"job-{failed.pk}").is_dir()
    assert failed.workspace_kept_bytes > 0

    # The page offers a retry from the failed step and the one before it, not after.
    client.force_login(pusher)
    page = client.get(f"/jobs/{failed.pk}/").content.decode()
    assert page.count("Retry from here") == 2 and 'data-step="3">Retry' not in page
    client.force_login(reader)
    assert "Retry from here" not in client.get(f"/jobs/{failed.pk}/").content.decode()
    assert api_retry(client, failed, 2).status_code == 403
    client.logout()
    assert api_retry(client, failed, 2).status_code == 404  # a private repository hides its jobs

    client.force_login(pusher)
    for bad in ("²", "9" * 5000, "x"):  # the form's step: refused with the reason, never a 500
        r = client.post(f"/jobs/{failed.pk}/retry", {"step": bad}, follow=True)
        assert "step must be a step number from 1 to 2" in r.content.decode()
    assert (
        api_retry(client, failed, 3).json()["reason"] == "step must be a step number from 1 to 2 (the step that failed)"
    )
    r = api_retry(client, failed, 2)
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["retry_of"], body["from_step"], body["commit"]) == (failed.pk, 2, sha)
    again = api_retry(client, failed, 2)
    assert (
        again.status_code == 409
        and again.json()["reason"] == f"#{body['number']} is already retrying #1 in its workspace"
    )

    retried = run_here()
    assert retried.pk == body["id"] and retried.status == C.SUCCESS, log_of(retried)
    assert steps_of(retried) == [("build", "skipped", None), ("flaky", "success", 0), ("report", "success", 0)]
    text = log_of(retried)
    assert "Step 1 carried over from #1: build" in text
    assert "built\n" in text and "second-try\n" in text and "step 1 ran 1 time(s)\n" in text
    assert "Cloning" not in text and "Fetching" not in text

    # Taken over: the failed job holds nothing any more, and says so.
    failed.refresh_from_db()
    assert failed.workspace_kept_on == ""
    taken = api_retry(client, failed, 2)
    assert taken.status_code == 409 and "is gone (taken over by another retry" in taken.json()["reason"]
    assert taken.json()["restart"] == f"/api/jobs/{failed.pk}/restart"
    # Nothing left: a successful retry keeps nothing.
    assert job_objects(docker_client, failed) == [] and job_objects(docker_client, retried) == []
    assert not any(Path(settings.WORKSPACE_DIR).glob("job-*"))


@pytest.mark.docker
def test_a_workspace_gone_is_said_and_nothing_runs(project, client, docker_client, settings):
    settings.HERALD_WORKSPACE_MODE = "copy"
    repo, sha, pusher, _ = project
    queue(repo, sha)
    failed = run_here()
    client.force_login(pusher)
    r = client.post(f"/jobs/{failed.pk}/retry", {"step": "2"})
    retried = Job.objects.get(retry_of=failed)
    assert r.status_code == 302 and r.url == f"/jobs/{retried.pk}/"
    kept = f"herald-{settings.HERALD_INSTANCE}-job-{failed.pk}-workspace"

    # The sweeper leaves a kept workspace alone...
    housekeeping.sweep_local()
    assert kept in volume_names(docker_client) and Path(settings.WORKSPACE_DIR, f"job-{failed.pk}").is_dir()
    # ...and removes it once expired; the retry waiting for it then ends errored at once.
    past = timezone.now() - timedelta(minutes=1)
    Job.objects.filter(pk=failed.pk).update(workspace_kept_until=past)
    housekeeping.sweep_local()
    assert kept not in volume_names(docker_client) and not Path(settings.WORKSPACE_DIR, f"job-{failed.pk}").exists()

    ran = run_here()
    assert ran.pk == retried.pk and ran.status == C.ERRORED
    assert ran.reason == f"The workspace of #1 is gone (expired at {retry.at(past)}): rebuild from the start"
    assert steps_of(ran) == [] and "Step 1 carried over" not in log_of(ran)

    # Asked again: refused with the reason, and the page offers a full rebuild.
    refused = api_retry(client, failed, 2)
    assert refused.status_code == 409 and refused.json()["reason"] == ran.reason
    r = client.post(f"/jobs/{failed.pk}/retry", {"step": "1"}, follow=True)
    page = r.content.decode()
    assert "expired at" in page and 'id="rebuild-from-start"' in page and "Retry from here" not in page
    assert Job.objects.filter(retry_of=failed).count() == 1
    # A retry whose failed job was deleted meanwhile runs nothing either.
    queue(repo, sha, from_step=2)
    orphan = run_here()
    assert (orphan.status, orphan.reason) == (
        C.ERRORED,
        "The build this job retries was deleted: rebuild from the start",
    )
    assert steps_of(orphan) == [] and not any(Path(settings.WORKSPACE_DIR).glob("job-*"))
    assert job_objects(docker_client, failed) == [] and job_objects(docker_client, ran) == []


def test_only_the_worker_holding_the_workspace_claims_the_retry(make_repository, make_job, settings):
    repo = make_repository()
    soon = timezone.now() + timedelta(minutes=10)
    failed = make_job(repo, status=C.FAILED, workspace_kept_on="box-a", workspace_kept_until=soon)
    retried = make_job(repo, retry_of=failed, from_step=2)
    housekeeping.beat("box-b")
    assert claim_next_job("box-b") == (None, "nothing-eligible")
    assert not KEPT_WORKSPACE.room_elsewhere("box-b")  # box-a is offline: nobody to pass the token to
    assert any(
        "It waits for box-a, which holds the workspace of #1" in s and "box-a is offline" in s
        for s in why_waiting(retried)
    )
    housekeeping.beat("box-a")
    assert KEPT_WORKSPACE.room_elsewhere("box-b") and not KEPT_WORKSPACE.room_elsewhere("box-a")
    assert any(
        s.endswith("(kept until " + soon.astimezone(timezone.get_fixed_timezone(0)).strftime("%H:%M UTC") + ").")
        for s in why_waiting(retried)
    )
    # Expired (its worker never came back to remove it): anyone claims it, to end it errored.
    Job.objects.filter(pk=failed.pk).update(workspace_kept_until=timezone.now() - timedelta(seconds=1))
    claimed, _ = claim_next_job("box-b")
    assert claimed.pk == retried.pk


def test_the_kept_workspaces_of_a_worker_are_capped_oldest_first(make_repository, make_job, settings):
    settings.HERALD_KEEP_WORKSPACE_MAX_BYTES = 250
    repo = make_repository()
    now = timezone.now()
    jobs = [
        make_job(
            repo,
            status=C.FAILED,
            workspace_kept_on=settings.HERALD_HOSTNAME,
            workspace_kept_until=now + timedelta(minutes=m),
            workspace_kept_bytes=100,
        )
        for m in (3, 1, 2)
    ]
    assert retry.enforce_cap() == [jobs[1].pk]
    assert set(Job.objects.filter(workspace_kept_on=settings.HERALD_HOSTNAME).values_list("pk", flat=True)) == {
        jobs[0].pk,
        jobs[2].pk,
    }


@pytest.mark.docker
def test_a_retry_refuses_a_pipeline_file_a_step_changed(git_repo, make_repository, test_image, docker_client, settings):
    # In bind mode the steps write in the directory the retry reads the
    # pipeline from: a step that rewrites it must not choose what the retry runs.
    settings.HERALD_WORKSPACE_MODE = "bind"
    src = git_repo()
    pipeline = f"""\
image: {TEST_IMAGE}
steps:
  - name: rewrite
    commands:
      - "printf '  - name: planted\\\\n    commands: [echo planted-step-ran]\\\\n' >> .herald.yml"
  - name: fail
    commands: [exit 1]
"""
    sha = src.commit({".herald.yml": pipeline})
    repo = make_repository("acme/widgets", clone_url=src.url)
    queue(repo, sha)
    failed = run_here()
    assert failed.status == C.FAILED and failed.workspace_kept_on
    assert "planted" in Path(settings.WORKSPACE_DIR, f"job-{failed.pk}", ".herald.yml").read_text()
    housekeeping.beat()
    retried = retry.retry(failed, 2)
    ran = run_here()
    assert ran.pk == retried.pk and ran.status == C.ERRORED
    assert ran.reason == (
        "The pipeline file in the workspace of #1 is not the one it ran (a step changed it): rebuild from the start"
    )
    assert "planted-step-ran" not in log_of(ran) and steps_of(ran) == []
    assert job_objects(docker_client, failed) == [] and job_objects(docker_client, ran) == []
    assert not any(Path(settings.WORKSPACE_DIR).glob("job-*"))


def test_a_workspace_alone_past_the_cap_is_not_kept_and_evicts_nothing(make_repository, make_job, settings):
    settings.HERALD_KEEP_WORKSPACE_MAX_BYTES = 250
    repo = make_repository()
    until = timezone.now() + timedelta(minutes=5)
    kept = dict(status=C.FAILED, workspace_kept_on=settings.HERALD_HOSTNAME, workspace_kept_until=until)
    older = make_job(repo, workspace_kept_bytes=100, **kept)
    huge = make_job(repo, workspace_kept_bytes=300, **kept)
    assert retry.enforce_cap(keep=huge.pk) == [huge.pk]
    assert list(Job.objects.filter(workspace_kept_on=settings.HERALD_HOSTNAME).values_list("pk", flat=True)) == [
        older.pk
    ]
