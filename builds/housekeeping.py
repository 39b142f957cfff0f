"""Housekeeping: what every worker process does on a timer, beside builds.

A thread in each django-q2 worker process (started from builds.apps on
django-q2's post_spawn) reports this machine alive, puts jobs whose worker
died back in the queue (once; "worker lost" the second time), removes the
containers, networks, volumes and workspaces such jobs left here, tops up
build tokens a broker lost, trims the admins' records and prunes old
`build:` images. It runs whether or not a build is running, so a dead
worker's job is requeued within a minute.
"""

import logging
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from builds import constants as C
from builds import retention, retry, runner
from builds.dbgrace import UNAVAILABLE
from builds.docker.client import docker_client
from builds.docker.image_build import prune_build_images
from builds.docker.objects import remove_job_objects
from builds.errors import DockerUnavailable
from builds.labels import worker_labels
from builds.logwriter import LogWriter
from builds.models import Job, Worker, report_end_and_wake_next
from builds.queue import enqueue_token
from repositories import commit_status
from repositories.models import CommitStatus, ForgeEvent
from repositories.notifications import tasks as notification_tasks
from repositories.notifications.models import NotificationDelivery
from repositories.retry import resend_stale
from webhooks.models import Delivery

log = logging.getLogger(__name__)

# The reaper runs every few seconds; listing images is not worth doing as often.
PRUNE_EVERY_SECONDS = 600
_last_prune = [float("-inf")]


# When this process last found the database away (time.monotonic()).
_database_away_at = [-1e9]


def run_forever():
    """The housekeeping thread's loop: beat every few seconds, reap lost
    jobs as often, and do the rest of reap() once a minute."""
    interval = max(2.0, settings.HERALD_WORKER_LOST_SECONDS / 3)
    last_sweep = 0.0
    while True:
        try:
            beat()
            runner.beat_active()
            now = time.monotonic()
            if now - _database_away_at[0] < 2 * settings.HERALD_WORKER_LOST_SECONDS:
                # Nobody could beat while the database was away: give the
                # workers time to beat again before calling any job lost.
                pass
            elif now - last_sweep >= 60:
                last_sweep = now
                reap()
            else:
                reap_lost()
        except UNAVAILABLE:
            _database_away_at[0] = time.monotonic()
            log.warning("housekeeping: the database is unavailable", exc_info=True)
        except Exception:
            log.exception("housekeeping failed")
        finally:
            close_old_connections()
        time.sleep(interval)


def reap():
    """Requeue (or end) jobs whose worker died, remove what they left, and
    top up build tokens for queued jobs nobody is holding one for."""
    lost = reap_lost()
    sweep_local()
    stale_queued = Job.objects.filter(status=C.QUEUED, created_at__lt=timezone.now() - timedelta(seconds=30))
    if stale_queued.exists():
        enqueue_token()
    _trim_records()
    # Commit statuses and notifications whose task was lost (a broker that
    # dropped it, a worker killed mid-send) are sent again.
    resend_stale(CommitStatus, commit_status.enqueue)
    resend_stale(NotificationDelivery, notification_tasks.enqueue, claimed=NotificationDelivery.SENDING)
    # Old builds and their logs (HERALD_KEEP_DAYS / _BUILDS): one worker at
    # a time, every HERALD_PRUNE_INTERVAL_SECONDS, in small transactions, in
    # a thread of its own (a long prune must not stop the heartbeats).
    retention.prune_in_background()
    if time.monotonic() - _last_prune[0] > PRUNE_EVERY_SECONDS:
        _last_prune[0] = time.monotonic()
        prune_build_cache()
    return f"{len(lost)} lost"


def prune_build_cache():
    """Remove what `build:` steps left on this worker's engine and no build
    used for HERALD_BUILD_CACHE_HOURS (see prune_build_images)."""
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
    """Running jobs whose heartbeat stopped: their worker died without
    draining (SIGKILL, power loss; a worker told to stop requeues its jobs
    itself, builds.drain). Such a job goes back in the queue once; when its
    worker dies a second time it ends errored ("worker lost"), so a flapping
    machine can't loop a build for ever. Returns their ids.

    Whatever such a job left on this machine (its worker process was here
    and died) is removed first, before the job can run here again; the
    periodic sweep catches the rest.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.HERALD_WORKER_LOST_SECONDS)
    lost = list(Job.objects.filter(status=C.RUNNING, heartbeat_at__lt=cutoff))
    for job in lost:
        if job.worker == settings.HERALD_HOSTNAME:
            _remove_local([job.pk])
        silent = f"Worker lost: {job.worker} stopped reporting during the build"
        # One transaction each: the note is in the log before another worker
        # can claim the job and write after it, and nobody sees the job
        # ended with a step still running.
        with transaction.atomic():
            if job.losses == 0 and job.requeue(
                silent + "; the job goes back in the queue, once", lost=True, stale_before=cutoff
            ):
                _note(
                    job, f"{silent}. The job goes back in the queue (once: should this happen again, it ends errored)."
                )
                log.warning("job %s: worker lost, requeued", job.pk)
                continue
            if job.losses:
                silent += ", for the second time: not retried again"
            if not Job.objects.filter(
                pk=job.pk, status=C.RUNNING, attempts=job.attempts, heartbeat_at__lt=cutoff
            ).update(
                status=C.ERRORED,
                reason=silent,
                finished_at=timezone.now(),
            ):
                continue
            _note(job, silent + ".")
            job.refresh_from_db()
            runner.close_steps(job, C.ERRORED)
        log.warning("job %s: worker lost", job.pk)
        report_end_and_wake_next(job)
    return [job.pk for job in lost]


def _note(job, text):
    writer = LogWriter(job)
    writer.note(text)
    writer.close()


def _remove_local(job_ids):
    for pk in job_ids:
        runner.remove_workspace(Path(settings.WORKSPACE_DIR) / f"job-{pk}")
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
    are no longer running here, but for the workspaces kept for a retry
    until they expire."""
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
        # Workspaces kept for a retry from a step stay until they expire (builds.retry).
        retry.expire_here()
        running_here |= retry.kept_here()
        for pk in set(seen) - running_here - {None}:
            remove_job_objects(client, pk)
        for pk, path in workspaces.items():
            if pk is not None and pk not in running_here:
                runner.remove_workspace(path)
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
    Delivery.trim()
    ForgeEvent.trim()


def beat(host=None, slots=None, labels=None):
    """Record that this worker machine is alive, with its slots and labels."""
    host = host or settings.HERALD_HOSTNAME
    now = timezone.now()
    fields = {"slots": slots or settings.HERALD_CONCURRENCY, "labels": worker_labels(labels)}
    with transaction.atomic():
        updated = Worker.objects.filter(host=host).update(last_seen=now, **fields)
        if not updated:
            Worker.objects.get_or_create(host=host, defaults={**fields, "started_at": now, "last_seen": now})
