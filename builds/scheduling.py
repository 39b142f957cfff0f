"""Creating jobs and handing them to the queue (django-q2).

The queue carries tokens, not job ids: each task runs the oldest queued job
that the concurrency limits allow. A job is created first and its token is
enqueued with its transaction (see enqueue_in_transaction); a finishing job
enqueues the next token, and the reaper tops tokens up should one be lost
(the Redis broker delivers at most once).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from builds import constants as C
from builds.models import Job
from repositories.commit_status import job_changed

log = logging.getLogger(__name__)

TASK = "builds.tasks.run_next_job"


def enqueue_token(count=1):
    from django_q.tasks import async_task

    for _ in range(count):
        async_task(TASK, task_name="herald-build", group="builds")


def create_job(repository, *, event, commit, ref="", branch="", tag="", message="", author="",
               dedupe_seconds=None, **extra):
    """Create a queued job (unless a twin was created moments ago).

    Returns (job, created). Must be called inside transaction.atomic().
    """
    assert not transaction.get_autocommit(), "call inside transaction.atomic()"
    if dedupe_seconds is None:
        dedupe_seconds = settings.HERALD_WEBHOOK_DEDUP_SECONDS
    # Reserving the number takes the repository's row lock (PostgreSQL) or
    # the write lock (SQLite): concurrent deliveries of one push are
    # serialised here, so the second one sees the first's job below.
    number = repository.next_job_number()
    if dedupe_seconds:
        twin = (
            Job.objects.filter(
                repository=repository, event=event, ref=ref, commit=commit,
                created_at__gte=timezone.now() - timedelta(seconds=dedupe_seconds),
            )
            .order_by("-id")
            .first()
        )
        if twin is not None:
            repository.release_job_number(number)
            return twin, False
    job = Job.objects.create(
        repository=repository, number=number,
        event=event, ref=ref, branch=branch, tag=tag, commit=commit,
        message=message, author=author[:255], **extra,
    )
    if repository.auto_cancel:
        auto_cancel_older(job)
    enqueue_in_transaction()
    job_changed(job)
    return job, True


def enqueue_in_transaction():
    """Enqueue a build token as part of the current transaction's outcome.

    With the ORM broker on the same database the task row is written inside
    the transaction: it commits with the job or not at all, so no accepted
    delivery can lose its task. A separate broker (Redis) must wait for the
    commit, or a worker could look for a job it cannot see yet.
    """
    if not settings.HERALD_REDIS_URL and settings.Q_CLUSTER.get("orm") == "default":
        enqueue_token()
    else:
        transaction.on_commit(enqueue_token)


def auto_cancel_older(job):
    """A new push to a branch (or PR) supersedes the older builds of it."""
    if job.event == C.PUSH and job.branch:
        older = Job.objects.filter(repository=job.repository_id, event=C.PUSH, branch=job.branch)
    elif job.event == C.PULL_REQUEST and job.pr_number:
        older = Job.objects.filter(repository=job.repository_id, event=C.PULL_REQUEST, pr_number=job.pr_number)
    else:
        return
    for old in older.filter(status__in=C.ACTIVE_STATUSES, id__lt=job.id).only("id", "status"):
        old.request_cancel(f"Superseded by #{job.number}")


def restart(job, user=None):
    """A new job for the same commit and event."""
    with transaction.atomic():
        new, _ = create_job(
            job.repository,
            event=job.event, commit=job.commit, ref=job.ref, branch=job.branch, tag=job.tag,
            message=job.message, author=job.author, dedupe_seconds=0,
            pr_number=job.pr_number, pr_title=job.pr_title, source_branch=job.source_branch,
            target_branch=job.target_branch, source_repo=job.source_repo, from_fork=job.from_fork,
            source_url=job.source_url, restarted_from=job,
            triggered_by=getattr(user, "username", "") or "",
        )
    return new


def _lock_claims():
    # SQLite's IMMEDIATE transactions already serialise writers; PostgreSQL
    # needs an explicit lock so two workers can't both see a free slot.
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("SELECT pg_advisory_xact_lock(%s)", [0x4E524C44])


def claim_next_job(worker):
    """Claim the oldest queued job the limits allow; None if there is none.

    Returns (job, why_not) where why_not says what blocked when job is None.
    """
    with transaction.atomic():
        _lock_claims()
        running = Job.objects.filter(status=C.RUNNING)
        if running.filter(worker=worker).count() >= settings.HERALD_CONCURRENCY:
            return None, "host-full"
        if settings.HERALD_MAX_RUNNING and running.count() >= settings.HERALD_MAX_RUNNING:
            return None, "installation-full"
        candidates = Job.objects.filter(status=C.QUEUED, cancel_requested=False).order_by("id")
        candidates = candidates.select_related("repository")
        for job in candidates[:50]:
            limit = job.repository.max_concurrency
            if limit and running.filter(repository=job.repository_id).count() >= limit:
                continue
            if job.claim(worker):
                return job, None
        return None, "nothing-eligible"


def job_done(job):
    """After a job ends: let the next queued job take the freed slot."""
    if Job.objects.filter(status=C.QUEUED).exists():
        try:
            enqueue_token()
        except Exception:  # the reaper tops tokens up; never fail a finish on it
            log.exception("could not enqueue the next build token")
