"""Jobs put back in the queue, in-process: by the reaper the first time a
job's worker dies under it, by the runner when its worker drains
(builds.drain); the next attempt keeps the log and starts a section of its
own, and a worker that lost its job cannot end the next attempt. The real
signals to real workers: tests/e2e/test_drain.py."""

import multiprocessing
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from builds import drain
from builds.housekeeping import reap_lost
from builds.models import Job, JobStep
from builds.tasks import run_next_job
from tests.builds.helpers import job_objects, log_of, queue, run_next, steps_of
from tests.builds.test_reaper import leave_behind
from tests.support import herald_yml

pytestmark = [pytest.mark.django_db(transaction=True)]


def silent(job, worker=None):
    """The job running on a worker that stopped reporting."""
    stale = timezone.now() - timedelta(seconds=django_settings.HERALD_WORKER_LOST_SECONDS + 5)
    Job.objects.filter(pk=job.pk).update(
        status="running",
        heartbeat_at=stale,
        started_at=stale,
        attempts=1,
        worker=worker or django_settings.HERALD_HOSTNAME,
    )


@pytest.mark.docker
def test_the_first_loss_puts_the_job_back_in_the_queue_with_its_log_and_without_its_leftovers(
    make_repository, docker_client, settings, test_image
):
    job = queue(make_repository(), "1" * 40)
    silent(job)
    JobStep.objects.create(job=job, number=1, name="test", status="running")
    leave_behind(docker_client, job, settings)

    assert reap_lost() == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.losses, job.worker, job.started_at) == ("queued", 1, "", None)
    assert job.reason.startswith(f"Worker lost: {django_settings.HERALD_HOSTNAME} stopped reporting")
    assert list(job.steps.all()) == []
    assert "goes back in the queue (once" in log_of(job)
    assert job_objects(docker_client, job) == []
    assert not (settings.WORKSPACE_DIR / f"job-{job.pk}").exists()


def test_the_second_loss_ends_the_job(make_repository):
    job = queue(make_repository(), "1" * 40)
    silent(job, worker="elsewhere")
    reap_lost()
    Job.objects.get(pk=job.pk).claim("elsewhere")
    silent(job, worker="elsewhere")
    Job.objects.filter(pk=job.pk).update(attempts=2)

    reap_lost()
    job.refresh_from_db()
    assert (job.status, job.losses) == ("errored", 1)
    assert (
        job.reason == "Worker lost: elsewhere stopped reporting during the build, for the second time: "
        "not retried again"
    )
    assert "for the second time" in log_of(job)


def test_a_worker_that_lost_its_job_cannot_end_the_next_attempt(make_repository):
    job = queue(make_repository(), "1" * 40)
    first = Job.objects.get(pk=job.pk)
    assert first.claim("a")
    assert Job.objects.get(pk=job.pk).requeue("put back")
    again = Job.objects.get(pk=job.pk)
    assert again.claim("b") and again.attempts == 2

    assert not first.finish("failed", exit_code=1)
    assert not first.requeue("stale")
    assert again.finish("success", exit_code=0)


@pytest.fixture
def draining(monkeypatch):
    """This process as a worker of a cluster told to stop (builds.drain)."""
    monkeypatch.setattr(drain, "_state", multiprocessing.RawArray("d", 2))
    return drain.begin


@pytest.mark.docker
def test_a_build_still_running_when_the_drain_ends_goes_back_in_the_queue_and_runs_again(
    git_repo, make_repository, docker_client, test_image, draining, settings, client
):
    settings.HERALD_DRAIN_SECONDS = 1
    src = git_repo()
    script = 'if [ "$HERALD_ATTEMPT" = 1 ]; then sleep 600; fi'
    repo = make_repository(clone_url=src.url)
    queue(repo, src.commit({".herald.yml": herald_yml('echo "attempt $HERALD_ATTEMPT"', script)}))
    draining(1)
    started = time.monotonic()
    ran = run_next()
    assert time.monotonic() - started < 30
    assert ran.status == "queued" and ran.attempts == 1
    assert ran.reason == (
        "Stopped: the worker test-worker was shutting down and the build did not end within 1 s (HERALD_DRAIN_SECONDS)"
    )
    assert job_objects(docker_client, ran) == []
    assert list(ran.steps.all()) == []

    # This worker claims nothing more; another one runs the job.
    assert run_next_job() == "draining"
    drain._state[0] = drain._state[1] = 0
    ran = run_next()
    assert (ran.status, ran.attempts) == ("success", 2)
    assert client.get(f"/api/jobs/{ran.pk}/").json()["attempts"] == 2
    assert steps_of(ran) == [("build", "success", 0)]
    log = log_of(ran)
    assert (
        log.index("attempt 1\n")
        < log.index("It goes back in the queue")
        < log.index("Attempt 2:")
        < log.index("attempt 2\n")
    )


@pytest.mark.docker
def test_told_to_stop_at_once_the_build_is_requeued_saying_so(git_repo, make_repository, test_image, draining):
    src = git_repo()
    repo = make_repository(clone_url=src.url)
    queue(repo, src.commit({".herald.yml": herald_yml("sleep 600")}))
    draining(0)
    ran = run_next()
    assert (ran.status, ran.reason) == ("queued", "Stopped: the worker test-worker was told to stop at once")
