"""Firing schedules, from django-q2's scheduler.

One django-q2 schedule, `herald-schedules` (type MINUTES, every minute,
aligned on the minute), runs `fire_due` as an ordinary task on whichever
worker takes it; every `manage.py qcluster` makes sure it exists when it
starts (`install`). `fire_due` starts a build for each enabled schedule
whose `next_run_at` has passed:

- claim: a conditional UPDATE moves `next_run_at` to the next time after
  now (Schedule.claim). Two workers (or a task django-q2 delivered twice)
  read the same due time; one UPDATE matches, the other finds nothing.
- catch-up: the next time is counted from now, not from the missed one, so
  a server that was down over any number of times runs one build when it
  is back.
- the build is a run-now by the schedule (builds.runnow.start, event
  `cron`): a branch that is gone, parameters the pipeline no longer
  declares, a repository that cannot be read or is inactive make no job —
  the reason is kept on the schedule (its page shows it) and logged.

The claim comes before the build, outside any transaction: resolving the
branch reads the clone URL over the network, and no database lock is held
meanwhile. A worker that dies between the two loses that one run (it is
logged as claimed), never builds it twice.
"""

import logging

from django.utils import timezone
from django_q.models import Schedule as QSchedule

from builds import constants as C
from builds.models import Schedule
from builds.runnow import Refused, start

log = logging.getLogger(__name__)

NAME = "herald-schedules"
# Stored as a string in django-q2's schedule row: keep this path.
TASK = "builds.schedules.firing.fire_due"


def install():
    """django-q2's periodic schedule that runs fire_due, made if missing.
    Its first run is due at once (the minute already begun): schedules a
    stopped server missed are caught up as soon as a worker starts."""
    # Not get_or_create: django-q2's names are not unique, and two machines
    # starting at once may both make one. A second row only runs the check
    # twice a minute, which claims nothing twice; it must not stop a start.
    if QSchedule.objects.filter(name=NAME).exists():
        return False
    QSchedule.objects.create(
        name=NAME,
        func=TASK,
        schedule_type=QSchedule.MINUTES,
        minutes=1,
        repeats=-1,
        next_run=timezone.now().replace(second=0, microsecond=0),
    )
    return True


def fire_due(now=None):
    """Start the build of every schedule that is due; returns what was
    done, one line a schedule (django-q2 keeps it as the task's result)."""
    now = now or timezone.now()
    due = Schedule.objects.filter(enabled=True, next_run_at__lte=now).select_related("repository")
    return [fire(schedule, now) for schedule in due.order_by("next_run_at", "id")]


def fire(schedule, now=None):
    """One due schedule's build, once: a line saying what became of it."""
    now = now or timezone.now()
    due = schedule.next_run_at
    if not schedule.claim(now):
        return f"{schedule}: already taken"
    try:
        jobs = start(
            schedule.repository,
            event=C.CRON,
            triggered_by=f"schedule: {schedule.name}"[:150],
            branch=schedule.branch,
            params=schedule.params or None,
        )
    except Refused as e:
        schedule.record(error=e.reason)
        log.warning("Schedule %s (due %s) started no build: %s", schedule, due.isoformat(), e.reason)
        return f"{schedule}: no build: {e.reason}"
    except Exception as e:
        # Never the caller's other schedules: this one says why on its page.
        schedule.record(error=f"Herald could not start the build: {e}")
        log.exception("Schedule %s (due %s) failed", schedule, due.isoformat())
        return f"{schedule}: failed: {e}"
    schedule.record(job=jobs[0])
    log.info("Schedule %s (due %s) started #%s", schedule, due.isoformat(), jobs[0].number)
    return f"{schedule}: #{jobs[0].number}"
