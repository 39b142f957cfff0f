"""django-q2 tasks for forge work that must never hold up a build."""

import logging

from django.conf import settings
from django.utils import timezone

from forges.client import TRANSIENT, BadCredentials, ForgeError
from repositories import commit_status, retry
from repositories.models import CommitStatus

log = logging.getLogger(__name__)


def post_commit_status(status_id):
    """Post one CommitStatus to the forge; on a transient failure, schedule
    another attempt with exponential backoff (or the forge's Retry-After).

    Always returns normally: a failed post is recorded on the row (the
    admin's CommitStatus list), not raised into the queue."""
    row = CommitStatus.objects.select_related("job__repository__enabled_by").filter(pk=status_id).first()
    if row is None or row.outcome in (CommitStatus.SENT, CommitStatus.SUPERSEDED, CommitStatus.FAILED):
        return "nothing to do"
    job, repo = row.job, row.job.repository
    # Tasks may run out of order (several workers, retries): never let an
    # older state overwrite a newer one on the forge.
    if CommitStatus.objects.filter(job=job, rank__gt=row.rank, sent_at__isnull=False).exists():
        return _finish(row, CommitStatus.SUPERSEDED, "a later status was already posted")
    account = repo.enabled_by
    if account is None or not account.usable:
        return _finish(
            row, CommitStatus.SKIPPED, "no usable forge account: whoever enabled the repository must sign in again"
        )
    row.attempts += 1
    started = timezone.now()
    try:
        account.client().post_status(
            repo.full_name, job.commit, row.state, row.description, row.target_url, row.context
        )
    except BadCredentials as e:
        account.mark_revoked()
        return _finish(row, CommitStatus.FAILED, str(e), e.status)
    except TRANSIENT as e:
        if row.attempts >= settings.HERALD_STATUS_ATTEMPTS:
            return _finish(row, CommitStatus.FAILED, f"gave up after {row.attempts} attempts: {e}", e.status)
        delay = retry.backoff(row.attempts, settings.HERALD_STATUS_RETRY_SECONDS, e.retry_after)
        _finish(row, CommitStatus.RETRYING, f"{e}; retrying in {delay} s", e.status)
        commit_status.enqueue(row.pk, delay=delay, attempt=row.attempts)
        return f"retrying in {delay} s"
    except ForgeError as e:
        return _finish(row, CommitStatus.FAILED, str(e), e.status)
    row.sent_at = timezone.now()
    outcome = _finish(row, CommitStatus.SENT, "", 201)
    # Two workers may post an older and a newer state at the same moment and
    # the older may land last. Whichever of the two finishes second sees the
    # other: the older one finds the newer already sent, or the newer one finds
    # an older one that finished after it began. Either way the newest is
    # posted once more.
    newest = (
        CommitStatus.objects.filter(job=job, rank__gt=row.rank, outcome=CommitStatus.SENT)
        .order_by("-rank", "-id")
        .first()
    )
    if (
        newest is None
        and CommitStatus.objects.filter(
            job=job, rank__lt=row.rank, outcome=CommitStatus.SENT, sent_at__gte=started
        ).exists()
    ):
        newest = row
    if newest is not None and CommitStatus.objects.filter(pk=newest.pk, outcome=CommitStatus.SENT).update(
        outcome=CommitStatus.QUEUED
    ):
        commit_status.enqueue(newest.pk)
    return outcome


def _finish(row, outcome, error, code=None):
    row.outcome, row.last_error, row.response_code = outcome, (error or "")[:500], code
    row.save(update_fields=["outcome", "last_error", "response_code", "attempts", "sent_at", "updated"])
    if outcome == row.FAILED:
        log.warning("commit status %s for job %s failed: %s", row.pk, row.job_id, error)
    return outcome
