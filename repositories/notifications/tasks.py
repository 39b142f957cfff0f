"""django-q2 tasks: deciding what a build's end sends, and sending it."""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from builds.models import Job
from repositories import retry
from repositories.notifications import messages, rules, senders
from repositories.notifications.models import NotificationDelivery

log = logging.getLogger(__name__)

DELIVER = "repositories.notifications.tasks.deliver"


def enqueue(delivery_id, delay=0, attempt=0):
    retry.enqueue(
        DELIVER, delivery_id, name=f"herald-notify-{delivery_id}", group="notifications", delay=delay, attempt=attempt
    )


def job_ended(job_id):
    """Record and enqueue the notifications a job's end sends (once its
    whole build has ended). A second run for the same build (another job of
    a matrix ending at the same moment, a redelivered task) finds the
    deliveries recorded and adds none."""
    job = Job.objects.select_related("repository").filter(pk=job_id).first()
    if job is None:
        return "no such job"
    decided = rules.to_send(job)
    if decided is None:
        return "nothing to send"
    first, status, previous, notifications = decided
    created = []
    for notification in notifications:
        try:
            with transaction.atomic():
                row = NotificationDelivery.objects.create(
                    notification=notification, job=first, status=status, previous_status=previous
                )
        except IntegrityError:
            continue  # already recorded for this build
        created.append(row.pk)
    for pk in created:
        enqueue(pk)
    return f"{len(created)} queued"


def deliver(delivery_id):
    """Send one notification; on a transient failure, schedule another
    attempt with backoff. Always returns normally: the outcome is recorded
    on the row (the admin's Notification deliveries)."""
    row = (
        NotificationDelivery.objects.select_related("notification__repository", "job__repository")
        .filter(pk=delivery_id)
        .first()
    )
    if row is None or row.outcome not in (row.QUEUED, row.RETRYING):
        return "nothing to do"
    # Claim this attempt: a redelivered task finds it taken and sends nothing.
    if not NotificationDelivery.objects.filter(pk=row.pk, outcome=row.outcome, attempts=row.attempts).update(
        outcome=row.SENDING, attempts=F("attempts") + 1
    ):
        return "nothing to do"
    row.attempts += 1
    try:
        data = messages.payload(row.job, row.status, row.previous_status)
        code = senders.send(row.notification, data)
    except senders.SendError as e:
        if not e.transient:
            return _finish(row, row.FAILED, str(e), e.status)
        if row.attempts >= settings.HERALD_NOTIFY_ATTEMPTS:
            return _finish(row, row.FAILED, f"gave up after {row.attempts} attempts: {e}", e.status)
        delay = retry.backoff(row.attempts, settings.HERALD_NOTIFY_RETRY_SECONDS, e.retry_after)
        _finish(row, row.RETRYING, f"{e}; retrying in {delay} s", e.status)
        enqueue(row.pk, delay=delay, attempt=row.attempts)
        return f"retrying in {delay} s"
    except Exception as e:  # a bug of ours: recorded, never raised into the queue
        log.exception("notification delivery %s", row.pk)
        return _finish(row, row.FAILED, f"internal error: {type(e).__name__}")
    row.sent_at = timezone.now()
    return _finish(row, row.SENT, "", code)


def _finish(row, outcome, error, code=None):
    row.outcome, row.last_error, row.response_code = outcome, (error or "")[:500], code
    row.save(update_fields=["outcome", "last_error", "response_code", "sent_at", "updated"])
    if outcome == row.FAILED:
        log.warning("notification %s for job %s failed: %s", row.notification_id, row.job_id, error)
    return outcome
