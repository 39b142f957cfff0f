"""Sending out of band, with retries: what commit statuses
(repositories.tasks.post_commit_status) and notifications
(repositories.notifications.tasks.deliver) share.

Each send is a django-q2 task given the id of a row that records it. A
transient failure (the other side down, slow, rate limiting) sends the same
task again later, after an exponentially growing delay, or the other side's
Retry-After when that is longer; the row keeps the attempts and the last
error for the admin. A row whose task was lost is sent again by
housekeeping (resend_stale). Nothing here ever raises into a build."""

from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

# A Retry-After longer than this is taken as this: a send an hour late is
# already of little use.
MAX_RETRY_AFTER = 3600


def backoff(attempts, first_delay, retry_after=None):
    """Seconds before the next attempt, after `attempts` failed ones:
    first_delay, doubled each time, or the other side's Retry-After when
    that is longer (capped at MAX_RETRY_AFTER)."""
    delay = first_delay * 2 ** max(attempts - 1, 0)
    if retry_after:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def enqueue(task, row_id, *, name, group, delay=0, attempt=0):
    """Run `task(row_id)` now, or in `delay` seconds."""
    if delay <= 0:
        async_task(task, row_id, task_name=name, group=group)
        return
    # A ONCE schedule runs the task at next_run and is deleted afterwards;
    # schedule names are unique, hence the attempt in it.
    schedule(
        task,
        row_id,
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=timezone.now() + timedelta(seconds=delay),
        name=f"{name}-retry-{attempt}",
    )


# A row still queued (or being sent) this long after it last changed has
# lost its task: a broker that dropped the message (Redis without
# persistence), a worker killed mid-send. Far past any send's own timeout
# and any wait in a busy queue; a row sent twice is harmless (a commit
# status is posted again, a notification's task claims the row first).
STALE_SECONDS = 600
STALE_BATCH = 100


def resend_stale(model, enqueue, claimed=None, now=None):
    """Send again the rows of `model` (CommitStatus, NotificationDelivery)
    whose task was lost; housekeeping's call, once a minute in every worker
    process. A row in the `claimed` outcome (a send began and never ended)
    goes back to retrying first. Each row is taken with a conditional UPDATE,
    so of the processes sweeping at once one sends it. Returns the count."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=STALE_SECONDS)
    stale = model.objects.filter(outcome__in=[model.QUEUED, claimed], updated__lt=cutoff)
    sent = 0
    for pk, outcome in stale.order_by("pk").values_list("pk", "outcome")[:STALE_BATCH]:
        again = model.RETRYING if outcome == claimed else outcome
        if model.objects.filter(pk=pk, outcome=outcome, updated__lt=cutoff).update(outcome=again, updated=now):
            enqueue(pk)
            sent += 1
    return sent
