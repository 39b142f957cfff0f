"""Retention: old builds, their steps and their logs are deleted, so the
database does not grow for ever.

A repository's builds (a matrix build counts once: its first job and its
siblings go together) are deleted when older than its keep_days
(HERALD_KEEP_DAYS) or past the newest keep_builds (HERALD_KEEP_BUILDS);
never anything still active, the newest build of each branch, or the newest
HERALD_KEEP_BUILDS_MIN. Housekeeping runs `prune()` every
HERALD_PRUNE_INTERVAL_SECONDS on one worker at a time.

Deleting is done in small batches, each its own short transaction (on
SQLite in the writers' queue, ciproject.db.writer_turn), so webhooks that
arrive meanwhile wait for one batch at most, never for the whole prune.
After each batch the pruner rests as long as the batch took: retention is
background work and takes at most half of a core (and of the disk's
writes) from the webhooks and builds arriving meanwhile. The prune runs in
a thread of its own (prune_in_background), so a long one never holds up the
housekeeping that beats the worker's and its jobs' heartbeats. Each pass is
recorded as a PruneRun for the admin.
"""

import fcntl
import logging
import os
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from builds import constants as C
from builds.models import Job, LogChunk, PruneRun
from ciproject.db import writer_turn
from repositories.models import Repository

log = logging.getLogger(__name__)

# Rows a transaction deletes: a few milliseconds each on either database.
LOG_BATCH = 2000
JOB_BATCH = 200
# The rest after a batch, as a share of the time the batch took. 1.0 halves
# the pruner's share of the machine; bench/prune.py measures the webhooks'
# latency meanwhile (the slowest one: 205 ms on PostgreSQL without the rest).
REST = 1.0


def doomed_builds(repository, now=None):
    """Ids of the repository's builds (first jobs) that retention deletes."""
    days = repository.keep_days if repository.keep_days is not None else settings.HERALD_KEEP_DAYS
    most = repository.keep_builds if repository.keep_builds is not None else settings.HERALD_KEEP_BUILDS
    if not days and not most:
        return []
    cutoff = (now or timezone.now()) - timedelta(days=days) if days else None
    active_groups = set(
        Job.objects.filter(repository=repository, status__in=C.ACTIVE_STATUSES, group__isnull=False).values_list(
            "group_id", flat=True
        )
    )
    builds = (
        Job.objects.filter(repository=repository)
        .filter(Q(group__isnull=True) | Q(group_id=F("id")))
        .order_by("-id")
        .values_list("id", "created_at", "status", "branch")
    )
    doomed, branches_seen = [], set()
    for index, (pk, created_at, status, branch) in enumerate(builds.iterator(chunk_size=5000)):
        newest_of_branch = branch not in branches_seen
        branches_seen.add(branch)
        if index < settings.HERALD_KEEP_BUILDS_MIN or newest_of_branch:
            continue
        if status in C.ACTIVE_STATUSES or pk in active_groups:
            continue
        if (most and index >= most) or (cutoff and created_at < cutoff):
            doomed.append(pk)
    return doomed


def prune(host=""):
    """One pass over every repository; returns its PruneRun."""
    run = PruneRun.objects.create(host=host or settings.HERALD_HOSTNAME)
    try:
        for repository in Repository.objects.order_by("id"):
            doomed = doomed_builds(repository)
            for start in range(0, len(doomed), JOB_BATCH):
                _delete_builds(doomed[start : start + JOB_BATCH], run)
    except Exception as e:
        log.exception("retention prune failed")
        run.error = f"{type(e).__name__}: {e}"[:500]
    run.finished_at = timezone.now()
    run.save()
    return run


def _delete_builds(build_ids, run):
    job_ids = list(Job.objects.filter(Q(pk__in=build_ids) | Q(group_id__in=build_ids)).values_list("id", flat=True))
    # The logs first, a batch a transaction: a long log is most of the rows.
    while True:
        chunk_ids = list(LogChunk.objects.filter(job_id__in=job_ids).values_list("id", flat=True)[:LOG_BATCH])
        if not chunk_ids:
            break
        with _batch():
            LogChunk.objects.filter(pk__in=chunk_ids).delete()
        run.log_chunks += len(chunk_ids)
    with _batch():
        freed = Job.objects.filter(pk__in=job_ids).aggregate(b=Sum("log_bytes"))["b"] or 0
        # Siblings first: a first job's delete would take them along anyway.
        Job.objects.filter(pk__in=job_ids).exclude(pk__in=build_ids).delete()
        Job.objects.filter(pk__in=build_ids).delete()
    run.builds += len(build_ids)
    run.jobs += len(job_ids)
    run.log_bytes += freed
    PruneRun.objects.filter(pk=run.pk).update(
        builds=run.builds, jobs=run.jobs, log_chunks=run.log_chunks, log_bytes=run.log_bytes
    )


@contextmanager
def _batch():
    """One batch's transaction, then the rest (REST) it has earned."""
    started = time.monotonic()
    with writer_turn(), transaction.atomic():
        yield
    time.sleep((time.monotonic() - started) * REST)


@contextmanager
def one_pruner():
    """Yields True in the one worker process that prunes now, False in the
    others (a PostgreSQL advisory lock; on SQLite, a lock file: one machine)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [PRUNE_LOCK])
            got = cursor.fetchone()[0]
        try:
            yield got
        finally:
            if got:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [PRUNE_LOCK])
        return
    fd = os.open(os.path.join(settings.DATA_DIR, "prune.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


# An advisory lock key of Herald's own ("herald-prune" as a number).
PRUNE_LOCK = int.from_bytes(b"hrldprun", "big") & 0x7FFFFFFFFFFFFFFF


def due():
    """Whether retention is set anywhere and the last pass is old enough."""
    if not (
        settings.HERALD_KEEP_DAYS
        or settings.HERALD_KEEP_BUILDS
        or Repository.objects.filter(Q(keep_days__gt=0) | Q(keep_builds__gt=0)).exists()
    ):
        return False
    last = PruneRun.objects.order_by("-started_at").values_list("started_at", flat=True).first()
    return not last or timezone.now() - last >= timedelta(seconds=settings.HERALD_PRUNE_INTERVAL_SECONDS)


def prune_if_due(host=""):
    """A pass when one is due and no other process is pruning; its PruneRun or None."""
    if not due():
        return None
    with one_pruner() as mine:
        # Again, holding the lock: another process may have just pruned.
        return prune(host) if mine and due() else None


_pruner = [None]  # this process's pruning thread, while it runs


def prune_in_background(host=""):
    """Housekeeping's call: when a pass is due, prune_if_due in a thread of
    its own, unless this process's last one still runs. A prune of 100,000 jobs takes minutes;
    housekeeping must go on beating heartbeats meanwhile, or the worker's
    running builds would be taken for lost (HERALD_WORKER_LOST_SECONDS)."""
    if (_pruner[0] is not None and _pruner[0].is_alive()) or not due():
        return None

    def run():
        try:
            prune_if_due(host)
        except Exception:
            log.exception("retention prune failed")
        finally:
            close_old_connections()

    _pruner[0] = threading.Thread(target=run, name="herald-prune", daemon=True)
    _pruner[0].start()
    return _pruner[0]
