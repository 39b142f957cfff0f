"""The reaper: a running job whose worker stopped reporting for the second
time becomes `errored` ("worker lost"; the first time, it goes back in the
queue: test_reaper_requeue.py), and what dead workers left on this machine —
containers, networks, volumes, workspaces — is removed."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from builds.docker.objects import job_labels, object_name
from builds.housekeeping import reap_lost, sweep_local
from builds.models import Job, JobStep
from tests.builds.helpers import job_objects, queue
from tests.support import TEST_IMAGE

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def leave_behind(client, job, settings):
    """What a worker makes for a job: a container on its network, a volume, a workspace."""
    labels = job_labels(job.pk)
    client.networks.create(object_name(job.pk), labels=labels)
    client.volumes.create(object_name(job.pk, "workspace"), labels=labels)
    client.containers.run(
        TEST_IMAGE,
        ["sleep", "600"],
        detach=True,
        labels=labels,
        name=object_name(job.pk, "step-test"),
        network=object_name(job.pk),
    )
    (settings.WORKSPACE_DIR / f"job-{job.pk}").mkdir(parents=True)


def test_a_job_whose_worker_went_silent_twice_is_marked_lost_and_its_leftovers_removed(
    make_repository, docker_client, settings, test_image
):
    repo = make_repository()
    lost, alive = queue(repo, "1" * 40, branch="a"), queue(repo, "2" * 40, branch="b")
    stale = timezone.now() - timedelta(seconds=django_settings.HERALD_WORKER_LOST_SECONDS + 5)
    Job.objects.filter(pk=lost.pk).update(status="running", heartbeat_at=stale, worker=django_settings.HERALD_HOSTNAME)
    Job.objects.filter(pk=lost.pk).update(losses=1)  # requeued once already
    Job.objects.filter(pk=alive.pk).update(
        status="running", heartbeat_at=timezone.now(), worker=django_settings.HERALD_HOSTNAME
    )
    JobStep.objects.create(job=lost, number=1, name="test", status="running", started_at=stale)
    JobStep.objects.create(job=lost, number=2, name="later")
    for job in (lost, alive):
        leave_behind(docker_client, job, settings)
    try:
        assert reap_lost() == [lost.pk]
        lost.refresh_from_db()
        assert lost.status == "errored" and lost.reason.startswith("Worker lost")
        assert lost.finished_at is not None
        assert [(s.name, s.status) for s in lost.steps.order_by("number")] == [
            ("test", "errored"),
            ("later", "skipped"),
        ]
        assert job_objects(docker_client, lost) == []
        assert not (settings.WORKSPACE_DIR / f"job-{lost.pk}").exists()
        assert Job.objects.get(pk=alive.pk).status == "running"
        assert len(job_objects(docker_client, alive)) == 3
    finally:
        from builds.docker.objects import remove_job_objects

        remove_job_objects(docker_client, alive.pk)


def test_the_sweep_removes_what_no_running_job_owns(make_repository, docker_client, settings, test_image):
    repo = make_repository()
    finished, running = queue(repo, "1" * 40, branch="a"), queue(repo, "2" * 40, branch="b")
    Job.objects.filter(pk=finished.pk).update(status="success")
    Job.objects.filter(pk=running.pk).update(
        status="running", heartbeat_at=timezone.now(), worker=django_settings.HERALD_HOSTNAME
    )
    for job in (finished, running):
        leave_behind(docker_client, job, settings)
    try:
        sweep_local()
        assert job_objects(docker_client, finished) == []
        assert not (settings.WORKSPACE_DIR / f"job-{finished.pk}").exists()
        assert len(job_objects(docker_client, running)) == 3
        assert (settings.WORKSPACE_DIR / f"job-{running.pk}").exists()
    finally:
        from builds.docker.objects import remove_job_objects

        remove_job_objects(docker_client, running.pk)
