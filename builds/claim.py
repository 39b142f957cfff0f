"""Who may start which queued job: the claim policy, written once.

A worker claims the oldest queued job that every rule in RULES allows
(claim_next_job); the job page explains a waiting job with the same rules
(builds.waiting), so what it says is what the workers do. A rule gives the
claim the queued jobs it lets a worker start — none at all, with the code
the worker acts on, or a narrower queryset — and the page a sentence saying
how it holds a job back.
"""

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count

from builds import constants as C
from builds.models import Job, Worker
from repositories.models import Repository


def claimable_jobs():
    """Queued jobs nobody asked to cancel: what the rules choose from."""
    return Job.objects.filter(status=C.QUEUED, cancel_requested=False)


def _builds(n):
    return f"{n} build{'' if n == 1 else 's'}"


def _are_running(n):
    return f"{n} {'is' if n == 1 else 'are'} running"


class Rule:
    # claim_next_job's answer when this rule leaves a worker nothing to claim.
    code = None

    def allow(self, queued, running, worker):
        """The queued jobs this rule lets `worker` start now: a queryset
        narrowing `queued`, or None for none at all."""
        return queued

    def explain(self, job, running, workers):
        """How this rule holds `job` back now, in a sentence; "" if it
        doesn't. `workers`: the Worker rows online."""
        return ""


class WorkerSlots(Rule):
    """A worker runs at most HERALD_CONCURRENCY builds at once (the slots it
    reports in its Worker row). A worker that is full passes its token on
    to one that is not (builds.tasks.run_next_job)."""

    code = "host-full"

    def allow(self, queued, running, worker):
        if running.filter(worker=worker).count() >= settings.HERALD_CONCURRENCY:
            return None
        return queued

    def room_elsewhere(self, worker):
        """Whether another online worker has a free slot."""
        for w in Worker.online().exclude(host=worker):
            if Job.objects.filter(status=C.RUNNING, worker=w.host).count() < w.slots:
                return True
        return False

    def explain(self, job, running, workers):
        if not workers:
            return ""
        slots = sum(w.slots for w in workers)
        busy = dict(running.filter(worker__in=[w.host for w in workers]).values_list("worker").annotate(n=Count("id")))
        running_here = sum(busy.values())
        if running_here < slots:
            return ""
        if len(workers) == 1:
            return (
                f"All build slots are busy: {workers[0].host} runs {_builds(slots)} at a time "
                f"(HERALD_CONCURRENCY) and {_are_running(running_here)}."
            )
        hosts = ", ".join(w.host for w in workers)
        return (
            f"All build slots are busy: {len(workers)} workers ({hosts}) run {_builds(slots)} "
            f"at a time between them and {_are_running(running_here)}."
        )


class InstallationLimit(Rule):
    """At most HERALD_MAX_RUNNING builds run at once across all workers (0: no limit)."""

    code = "installation-full"

    def allow(self, queued, running, worker):
        if settings.HERALD_MAX_RUNNING and running.count() >= settings.HERALD_MAX_RUNNING:
            return None
        return queued

    def explain(self, job, running, workers):
        if not settings.HERALD_MAX_RUNNING:
            return ""
        n = running.count()
        if n < settings.HERALD_MAX_RUNNING:
            return ""
        return (
            f"This installation runs at most {_builds(settings.HERALD_MAX_RUNNING)} at once "
            f"(HERALD_MAX_RUNNING) and {_are_running(n)}."
        )


class RepositoryLimit(Rule):
    """A repository runs at most its max_concurrency builds at once (0: no limit of its own)."""

    def allow(self, queued, running, worker):
        # Repositories at their own limit are left out in the query, so a
        # long queue of one busy repository never hides another's jobs.
        per_repo = dict(
            running.filter(repository__max_concurrency__gt=0)
            .order_by()
            .values_list("repository")
            .annotate(n=Count("id"))
            .values_list("repository", "n")
        )
        full = [
            pk
            for pk, limit in Repository.objects.filter(pk__in=per_repo).values_list("pk", "max_concurrency")
            if per_repo[pk] >= limit
        ]
        return queued.exclude(repository__in=full)

    def explain(self, job, running, workers):
        repo = job.repository
        if not repo.max_concurrency:
            return ""
        n = running.filter(repository=repo).count()
        if n < repo.max_concurrency:
            return ""
        return (
            f"{repo.full_name} runs at most {_builds(repo.max_concurrency)} at once "
            f"and {_are_running(n)}; it starts when one of them ends."
        )


WORKER_SLOTS = WorkerSlots()
# In the claim's order: the cheap checks that can refuse everything first.
RULES = (WORKER_SLOTS, InstallationLimit(), RepositoryLimit())


def _lock_claims():
    # SQLite's IMMEDIATE transactions already serialise writers; PostgreSQL
    # needs an explicit lock so two workers can't both see a free slot.
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("SELECT pg_advisory_xact_lock(%s)", [0x4E524C44])


def claim_next_job(worker):
    """Claim the oldest queued job the rules allow; None if there is none.

    Returns (job, why_not) where why_not says what blocked when job is None.
    """
    with transaction.atomic():
        _lock_claims()
        running = Job.objects.filter(status=C.RUNNING)
        queued = claimable_jobs()
        for rule in RULES:
            queued = rule.allow(queued, running, worker)
            if queued is None:
                return None, rule.code
        for job in queued.select_related("repository").order_by("id")[:10]:
            if job.claim(worker):
                return job, None
        return None, "nothing-eligible"
