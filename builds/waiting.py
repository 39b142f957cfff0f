"""Why a queued job has not started, in words.

Mirrors the checks of builds.scheduling.claim_next_job (workers online,
HERALD_CONCURRENCY per worker, HERALD_MAX_RUNNING, the repository's
max_concurrency) so the job page can say what it waits on instead of leaving
people guessing.
"""

from django.conf import settings
from django.db.models import Count
from django.utils.timesince import timesince

from builds import constants as C
from builds.models import Job, Worker


def _builds(n):
    return f"{n} build{'' if n == 1 else 's'}"


def why_waiting(job):
    """A list of sentences; empty unless the job is queued."""
    if job.status != C.QUEUED or job.cancel_requested:
        return []
    reasons = []
    workers = list(Worker.online())
    if not workers:
        last = Worker.objects.order_by("-last_seen").first()
        if last:
            reasons.append(
                f"No worker is online: the last one, {last.host}, was seen {timesince(last.last_seen)} ago. "
                "It starts when a worker (manage.py qcluster or serve) is running again."
            )
        else:
            reasons.append(
                "No worker has connected yet: start one with manage.py qcluster (or manage.py serve)."
            )
    running = Job.objects.filter(status=C.RUNNING)
    repo = job.repository
    if repo.max_concurrency:
        n = running.filter(repository=repo).count()
        if n >= repo.max_concurrency:
            reasons.append(
                f"{repo.full_name} runs at most {_builds(repo.max_concurrency)} at once "
                f"and {n} {'is' if n == 1 else 'are'} running; it starts when one of them ends."
            )
    if settings.HERALD_MAX_RUNNING:
        n = running.count()
        if n >= settings.HERALD_MAX_RUNNING:
            reasons.append(
                f"This installation runs at most {_builds(settings.HERALD_MAX_RUNNING)} at once "
                f"(HERALD_MAX_RUNNING) and {n} {'is' if n == 1 else 'are'} running."
            )
    if workers:
        slots = sum(w.slots for w in workers)
        busy = dict(
            running.filter(worker__in=[w.host for w in workers]).values_list("worker").annotate(n=Count("id"))
        )
        running_here = sum(busy.values())
        if running_here >= slots:
            verb = "is" if running_here == 1 else "are"
            if len(workers) == 1:
                reasons.append(
                    f"All build slots are busy: {workers[0].host} runs {_builds(slots)} at a time "
                    f"(HERALD_CONCURRENCY) and {running_here} {verb} running."
                )
            else:
                hosts = ", ".join(w.host for w in workers)
                reasons.append(
                    f"All build slots are busy: {len(workers)} workers ({hosts}) run {_builds(slots)} "
                    f"at a time between them and {running_here} {verb} running."
                )
    ahead = Job.objects.filter(status=C.QUEUED, cancel_requested=False, id__lt=job.id).count()
    if ahead:
        reasons.insert(0, f"It is number {ahead + 1} in the queue: {ahead} job{'' if ahead == 1 else 's'} "
                          f"queued before it start{'s' if ahead == 1 else ''} first.")
    elif not reasons:
        reasons.append("It is next in the queue and starts as soon as a worker picks it up.")
    else:
        reasons.insert(0, "It is next in the queue.")
    return reasons
