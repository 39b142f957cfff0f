"""Commit statuses on the forge for every job: queued, running, finished.

Builds call `queue_commit_status(job)`; it only records a CommitStatus row and
enqueues its id once the transaction commits. The HTTP post happens in a
django-q2 task (repositories.tasks.post_commit_status) with retries and
backoff, so a forge that is slow, down or rate-limiting never delays or
fails a build."""

import logging

from django.conf import settings
from django.db import transaction

from builds.durations import format_duration
from repositories import retry
from repositories.models import CommitStatus, Repository

log = logging.getLogger(__name__)

TASK = "repositories.tasks.post_commit_status"
# A blocked job, once approved, becomes queued: same rank, both pending.
RANKS = {"blocked": 0, "queued": 0, "running": 1}


def queue_commit_status(job):
    """Called by builds when a job is created, claimed or finished."""
    # The repository is loaded with the job wherever this is called: most
    # repositories (added by hand) have no forge account, and then this
    # costs nothing on the webhook's hot path.
    if not getattr(job.repository, "enabled_by_id", None):
        return
    status = job.status
    try:
        transaction.on_commit(lambda: _record_and_enqueue(job, status))
    except Exception:  # never let a status update break a build
        log.exception("job %s: could not schedule a commit status", job.pk)


def _record_and_enqueue(job, status):
    try:
        row = record(job, status)
        if row is not None:
            enqueue(row.pk)
    except Exception:
        log.exception("job %s: could not queue a commit status", job.pk)


def record(job, status):
    """The CommitStatus row for this change, or None when the repository has
    no forge account to post with (added by hand, not enabled through OAuth)."""
    repo = Repository.objects.select_related("enabled_by").filter(pk=job.repository_id).first()
    if repo is None or repo.enabled_by is None:
        return None
    return CommitStatus.objects.create(
        job=job,
        job_status=status,
        rank=RANKS.get(status, 2),
        state=repo.forge.state_for(status),
        description=describe(job, status),
        target_url=job.absolute_url(),
        context=context_for(job),
    )


def enqueue(status_id, delay=0, attempt=0):
    retry.enqueue(
        TASK, status_id, name=f"herald-status-{status_id}", group="forge-status", delay=delay, attempt=attempt
    )


def context_for(job):
    """The status' name on the forge: one per event kind (and matrix cell),
    so a push and a pull request on the same commit don't overwrite each other."""
    base = settings.HERALD_STATUS_CONTEXT
    kind = "pr" if job.event == "pull_request" else "push"
    cell = ", ".join(f"{k}={v}" for k, v in sorted((job.matrix or {}).items()))
    return f"{base}/{kind}" + (f" ({cell})" if cell else "")


def seconds(job):
    if job.started_at and job.finished_at:
        return max(0, round((job.finished_at - job.started_at).total_seconds()))
    return None


def describe(job, status):
    """'Build #12 passed in 41 s' and its siblings (at most 140 characters);
    with test reports, 'Build #12 failed: 41 passed, 2 failed (test_parser, test_lexer)'."""
    n = f"Build #{job.number}"
    took = seconds(job)
    took = f" in {format_duration(took)}" if took is not None else ""
    tests = _test_summary(job) if status in ("success", "failed") else ""
    text = {
        "blocked": f"{n} is waiting for approval by someone with push rights",
        "queued": f"{n} is queued",
        "running": f"{n} is running",
        "success": f"{n} passed{took}",
        "failed": f"{n} failed{took}" + (f" (exit code {job.exit_code})" if job.exit_code else ""),
        "errored": f"{n} errored: {job.reason}" if job.reason else f"{n} errored",
        "cancelled": f"{n} was declined by {job.declined_by}" if job.declined_by else f"{n} was cancelled",
        "timed_out": f"{n} timed out{took}",
        "skipped": f"{n} skipped: nothing to run",
    }.get(status, f"{n}: {status}")
    if tests:
        # What the build's tests say tells more than the time it took.
        text = f"{n} {'passed' if status == 'success' else 'failed'}: {tests}"
    return text if len(text) <= 140 else text[:139] + "…"


def _test_summary(job):
    """The job's test report in a few words (builds.models.TestReport), or ""."""
    # The reverse accessor, not an import: builds.models imports this module.
    report = getattr(job, "test_report", None)
    return report.summary() if report is not None else ""
