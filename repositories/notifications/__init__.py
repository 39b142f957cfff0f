"""Notifications of a build's end: email, a signed webhook, a
Slack-compatible incoming webhook, per repository.

A job that ends calls `queue_notifications(job)` (builds.models.
report_end_and_wake_next). When the repository has any notification, a
queued task (tasks.job_ended) decides which ones the build's end sends
(rules), records a NotificationDelivery for each and enqueues its sending
(tasks.deliver), with retries and backoff through repositories.retry, as
commit statuses do. Nothing of it runs in the build's own path beyond one
query, and no failure of it reaches the build."""

import logging

from django.db import transaction
from django_q.tasks import async_task

from repositories.notifications.models import Notification

log = logging.getLogger(__name__)

# The task's path as a string: tasks.py imports builds.models, which imports this.
JOB_ENDED = "repositories.notifications.tasks.job_ended"


def queue_notifications(job):
    try:
        transaction.on_commit(lambda: _enqueue(job))
    except Exception:  # never let a notification break a build
        log.exception("job %s: could not schedule its notifications", job.pk)


def _enqueue(job):
    try:
        if Notification.objects.filter(repository_id=job.repository_id, enabled=True).exists():
            async_task(JOB_ENDED, job.pk, task_name=f"herald-notify-job-{job.pk}", group="notifications")
    except Exception:
        log.exception("job %s: could not queue its notifications", job.pk)
