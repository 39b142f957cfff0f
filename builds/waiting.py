"""Why a queued job has not started, in words.

The sentences come from the claim's own rules (builds.claim.RULES:
HERALD_CONCURRENCY per worker, HERALD_MAX_RUNNING, the labels its runs_on:
asks for, the repository's max_concurrency), so the job page says what the
job waits on — and cannot say anything the workers don't do — instead of
leaving people guessing.
"""

from django.utils.timesince import timesince

from builds import constants as C
from builds import labels as L
from builds.claim import RULES, claimable_jobs
from builds.models import Job, Worker


def why_waiting(job):
    """A list of sentences; empty unless the job is queued."""
    if job.status != C.QUEUED or job.cancel_requested:
        return []
    reasons = []
    workers = list(Worker.online())
    # Not a rule of the claim: a worker that claims is online by definition.
    if not workers:
        last = Worker.objects.order_by("-last_seen").first()
        if last:
            reasons.append(
                f"No worker is online: the last one, {last.host}, was seen {timesince(last.last_seen)} ago. "
                "It starts when a worker (manage.py qcluster or serve) is running again."
            )
        else:
            reasons.append("No worker has connected yet: start one with manage.py qcluster (or manage.py serve).")
    running = Job.objects.filter(status=C.RUNNING)
    # From the job's own limit outwards (the claim checks them the other
    # way round, the ones that can refuse everything first).
    for rule in reversed(RULES):
        sentence = rule.explain(job, running, workers)
        if sentence:
            reasons.append(sentence)
    ahead = _ahead(job, workers)
    if ahead:
        reasons.insert(
            0,
            f"It is number {ahead + 1} in the queue: {ahead} job{'' if ahead == 1 else 's'} "
            f"queued before it start{'s' if ahead == 1 else ''} first.",
        )
    elif not reasons:
        reasons.append("It is next in the queue and starts as soon as a worker picks it up.")
    else:
        reasons.insert(0, "It is next in the queue.")
    return reasons


def _ahead(job, workers):
    """The queued jobs before this one that compete for the workers able
    to run it: a job needing a label none of them carries goes past it
    (builds.claim.Labels), and so is not ahead of it."""
    before = claimable_jobs().filter(id__lt=job.id)
    able = [w for w in workers if L.fits(job.runs_on, w.labels)]
    if not able:
        return before.count()
    needs = set(before.order_by().values_list("runs_on", flat=True).distinct())
    competing = [key for key in needs if any(L.fits(key, w.labels) for w in able)]
    if len(competing) < len(needs):
        before = before.filter(runs_on__in=competing)
    return before.count()
