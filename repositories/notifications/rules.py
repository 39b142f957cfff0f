"""Which of a repository's notifications a build's end sends.

A build is a job, or a matrix build's jobs together (the first job and
those whose `group` it is): it is reported once, when its last job ends,
with its overall result (`overall`).

"Fixed" is the first success after a failure (failed, errored,
timed_out) of the same line of builds: the same branch for branch builds
(pushes, run-now and schedules alike), the same pull request for pull
request builds, any earlier tag for tags. Cancelled and skipped builds count
neither way: they are passed over when looking for the build before, and
are themselves reported only by notifications sent "always".

"The default branch only" means builds of the repository's default branch
itself: pushes to it, run-now and scheduled builds on it, not pull requests
into it, nor tags."""

from django.db.models import F, Q

from builds import constants as C
from builds.models import Job
from repositories.notifications.models import (
    ALL_BRANCHES,
    ALWAYS,
    FAILURE,
    FAILURE_AND_FIXED,
    FIXED,
    Notification,
)

FAILING = (C.FAILED, C.ERRORED, C.TIMED_OUT)
# Neither a failure nor a success: passed over when looking for the build before.
UNCOUNTED = (C.CANCELLED, C.SKIPPED)
# How far back the build before is looked for.
LOOK_BACK = 50


def build_jobs(job):
    """The jobs of `job`'s build (one, or a matrix build's)."""
    first = job.group_id or job.pk
    return Job.objects.filter(Q(pk=first) | Q(group_id=first)).order_by("id")


def overall(statuses):
    """A build's result from its jobs' statuses; None while one is not final.
    A failure anywhere is the build's (failed before timed_out before
    errored); then a cancelled job; then success if any job ran; skipped
    only when every job was."""
    statuses = list(statuses)
    if not statuses or any(s not in C.FINAL_STATUSES for s in statuses):
        return None
    for status in (*FAILING, C.CANCELLED, C.SUCCESS):
        if status in statuses:
            return status
    return C.SKIPPED


def line_of(job):
    """The Job filter for the builds `job`'s build is compared with."""
    if job.event == C.PULL_REQUEST:
        return Q(event=C.PULL_REQUEST, pr_number=job.pr_number)
    if job.event == C.TAG:
        return Q(event=C.TAG)
    return ~Q(event__in=(C.PULL_REQUEST, C.TAG)) & Q(branch=job.branch)


def previous_status(first):
    """The result of the last counted build before the one `first` begins
    on the same line, or "" when there is none."""
    firsts = (
        Job.objects.filter(line_of(first), repository_id=first.repository_id, pk__lt=first.pk)
        .filter(Q(group__isnull=True) | Q(group_id=F("pk")))
        .order_by("-pk")
        .values_list("pk", flat=True)[:LOOK_BACK]
    )
    for pk in firsts:
        result = overall(Job.objects.filter(Q(pk=pk) | Q(group_id=pk)).values_list("status", flat=True))
        if result is not None and result not in UNCOUNTED:
            return result
    return ""


def wanted(notification, job, status, previous):
    """Does `notification` report this build (its first job, its result,
    the result before it)?"""
    if not notification.enabled:
        return False
    if notification.branches != ALL_BRANCHES and not on_default_branch(job):
        return False
    failed = status in FAILING
    fixed = status == C.SUCCESS and previous in FAILING
    return {
        ALWAYS: True,
        FAILURE_AND_FIXED: failed or fixed,
        FAILURE: failed,
        FIXED: fixed,
    }[notification.when]


def on_default_branch(job):
    return job.event not in (C.PULL_REQUEST, C.TAG) and job.branch == job.repository.default_branch


def to_send(job):
    """(the build's first job, its result, the result before, [notifications])
    for a job that just ended; None while its build has jobs still to end,
    or when the repository has no notification that wants it."""
    jobs = list(build_jobs(job).select_related("repository"))
    if not jobs:
        return None
    status = overall(j.status for j in jobs)
    if status is None:
        return None
    first = jobs[0]
    candidates = list(Notification.objects.filter(repository_id=first.repository_id, enabled=True))
    if not candidates:
        return None
    previous = previous_status(first)
    chosen = [n for n in candidates if wanted(n, first, status, previous)]
    return (first, status, previous, chosen) if chosen else None
