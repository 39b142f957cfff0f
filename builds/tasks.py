"""django-q2 tasks. Each is safe to run twice: claims are conditional UPDATEs."""

import logging
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from builds import constants as C
from builds.models import Job, Worker
from builds.scheduling import claim_next_job, enqueue_token

log = logging.getLogger(__name__)


def run_next_job():
    """Run the oldest queued job the limits allow (one build token)."""
    from builds.runner import Runner

    job, why_not = claim_next_job(settings.HERALD_HOSTNAME)
    if job is None:
        if why_not == "host-full" and _other_host_has_room():
            # Another machine is idle while this one is full: pass the token on.
            enqueue_token()
        return why_not
    status = Runner(job).run()
    return f"{job}: {status}"


def _other_host_has_room():
    for w in Worker.online().exclude(host=settings.HERALD_HOSTNAME):
        if Job.objects.filter(status=C.RUNNING, worker=w.host).count() < w.slots:
            return True
    return False


def reap():
    """Mark jobs whose worker died as errored, remove what they left, and
    top up build tokens for queued jobs nobody is holding one for."""
    lost = reap_lost()
    sweep_local()
    stale_queued = Job.objects.filter(status=C.QUEUED, created_at__lt=timezone.now() - timedelta(seconds=30))
    if stale_queued.exists():
        enqueue_token()
    _trim_records()
    if time.monotonic() - _last_prune[0] > PRUNE_EVERY_SECONDS:
        _last_prune[0] = time.monotonic()
        prune_build_cache()
    return f"{len(lost)} lost"


# The reaper runs every few seconds; listing images is not worth doing as often.
PRUNE_EVERY_SECONDS = 600
_last_prune = [float("-inf")]


def prune_build_cache():
    """Remove what `build:` steps left on this worker's engine and no build
    used for HERALD_BUILD_CACHE_HOURS (see prune_build_images)."""
    from builds.docker_env import docker_client, prune_build_images
    from builds.errors import DockerUnavailable

    try:
        client = docker_client(timeout=120)
    except DockerUnavailable:
        return 0
    try:
        removed = prune_build_images(client, settings.HERALD_BUILD_CACHE_HOURS)
    except Exception as e:  # a prune already running (409), an engine restart…
        log.warning("pruning old build images failed: %s", e)
        return 0
    finally:
        client.close()
    if removed:
        log.info("removed %d old build image records", removed)
    return removed


def reap_lost():
    """Mark running jobs whose heartbeat stopped as errored ("worker lost").

    Whatever such a job left on this machine (its worker process was here
    and died) is removed at once; the periodic sweep catches the rest.
    """
    from builds.models import job_finished
    from builds.runner import close_steps

    cutoff = timezone.now() - timedelta(seconds=settings.HERALD_WORKER_LOST_SECONDS)
    lost = list(Job.objects.filter(status=C.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True))
    local = []
    for pk in lost:
        # One transaction: nobody sees the job ended with a step still running.
        with transaction.atomic():
            if not Job.objects.filter(pk=pk, status=C.RUNNING, heartbeat_at__lt=cutoff).update(
                status=C.ERRORED, reason="Worker lost: the worker stopped reporting during the build",
                finished_at=timezone.now(),
            ):
                continue
            job = Job.objects.get(pk=pk)
            close_steps(job, C.ERRORED)
        log.warning("job %s: worker lost", pk)
        if job.worker == settings.HERALD_HOSTNAME:
            local.append(pk)
        job_finished(job)
    if local:
        _remove_local(local)
    return lost


def _remove_local(job_ids):
    from builds.docker_env import docker_client, remove_job_objects
    from builds.errors import DockerUnavailable
    from builds.runner import remove_workspace

    for pk in job_ids:
        remove_workspace(Path(settings.WORKSPACE_DIR) / f"job-{pk}")
    try:
        client = docker_client(timeout=30)
    except DockerUnavailable:
        return
    try:
        for pk in job_ids:
            remove_job_objects(client, pk)
    finally:
        client.close()


def sweep_local():
    """Remove this worker's containers, networks and workspaces of jobs that
    are no longer running here."""
    from builds.docker_env import docker_client, remove_job_objects
    from builds.errors import DockerUnavailable
    from builds.runner import remove_workspace

    try:
        client = docker_client(timeout=30)
    except DockerUnavailable:
        return
    mine = [
        C.LABEL_JOB,
        f"{C.LABEL_INSTANCE}={settings.HERALD_INSTANCE}",
        f"{C.LABEL_WORKER}={settings.HERALD_HOSTNAME}",
    ]
    try:
        # List first, then ask which jobs run here: a job's containers and
        # workspace are only made after its claim, so anything we saw that
        # belongs to a job not running here now is really left over.
        seen = {}
        for obj in client.containers.list(all=True, filters={"label": mine}):
            seen[_job_id(obj.labels.get(C.LABEL_JOB))] = "docker"
        for net in client.networks.list(filters={"label": mine}):
            seen[_job_id((net.attrs.get("Labels") or {}).get(C.LABEL_JOB))] = "docker"
        for vol in client.volumes.list(filters={"label": mine}):
            seen[_job_id((vol.attrs.get("Labels") or {}).get(C.LABEL_JOB))] = "docker"
        root = Path(settings.WORKSPACE_DIR)
        workspaces = {}
        if root.exists():
            for path in root.glob("job-*"):
                workspaces[_job_id(path.name.split("-", 1)[1])] = path
        running_here = set(
            Job.objects.filter(status=C.RUNNING, worker=settings.HERALD_HOSTNAME).values_list("pk", flat=True)
        )
        for pk in set(seen) - running_here - {None}:
            remove_job_objects(client, pk)
        for pk, path in workspaces.items():
            if pk is not None and pk not in running_here:
                remove_workspace(path)
    finally:
        client.close()


def _job_id(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _trim_records():
    """Webhook deliveries and forge events are records for admins: keep the
    newest ones (HERALD_DELIVERIES_KEPT per repository,
    HERALD_FORGE_EVENTS_KEPT in all), so neither table grows for ever."""
    from repositories.models import ForgeEvent
    from webhooks.models import Delivery

    Delivery.trim()
    ForgeEvent.trim()


def beat(host=None, slots=None):
    """Record that this worker machine is alive."""
    host = host or settings.HERALD_HOSTNAME
    now = timezone.now()
    with transaction.atomic():
        updated = Worker.objects.filter(host=host).update(last_seen=now, slots=slots or settings.HERALD_CONCURRENCY)
        if not updated:
            Worker.objects.get_or_create(host=host, defaults={"slots": slots or settings.HERALD_CONCURRENCY,
                                                              "started_at": now, "last_seen": now})
