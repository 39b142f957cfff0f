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
from django.db.models import Count, Q
from django.utils import timezone

from builds import constants as C
from builds import labels as L
from builds.models import Job, Worker
from repositories.models import Repository


class Claimant(str):
    """A worker asking for a job: its host name (what Job.worker holds),
    with the labels it carries."""

    def __new__(cls, host, labels=None):
        self = super().__new__(cls, host)
        self.labels = L.worker_labels() if labels is None else sorted(labels)
        return self


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


class Labels(Rule):
    """A job runs only on a worker carrying every label its pipeline's
    runs_on: names (builds.labels); the jobs this worker cannot run are
    left out in the query, so they never hold back those behind them.

    Until a worker has read the commit's pipeline, a job's labels are a
    prediction (Job.runs_on_read): one that no online worker can meet does
    not hold the job back — any worker claims it, reads the real runs_on:
    and runs it or hands it back (builds.routing)."""

    code = "no-label"

    def allow(self, queued, running, worker):
        # The distinct label sets among the queued jobs: a handful.
        needs = set(queued.order_by().values_list("runs_on", "runs_on_read").distinct())
        if not needs:
            return queued
        fit = {key for key, _ in needs if L.fits(key, worker.labels)}
        unmet = self._unmet({key for key, read in needs if not read and key not in fit})
        if not fit and not unmet:
            return None
        if all(key in fit or (not read and key in unmet) for key, read in needs):
            return queued
        return queued.filter(Q(runs_on__in=fit) | Q(runs_on__in=unmet, runs_on_read=False))

    @staticmethod
    def _unmet(keys, workers=None):
        """Those of the label sets `keys` no online worker carries."""
        if not keys:
            return set()
        carried = [w.labels for w in (Worker.online() if workers is None else workers)]
        return {key for key in keys if not any(L.fits(key, labels) for labels in carried)}

    def room_elsewhere(self, worker):
        """Whether another online worker with a free slot carries the labels
        of a queued job this one cannot run."""
        needs = set(claimable_jobs().order_by().values_list("runs_on", flat=True).distinct())
        theirs = [key for key in needs if not L.fits(key, worker.labels)]
        for w in Worker.online().exclude(host=worker):
            if any(L.fits(key, w.labels) for key in theirs):
                if Job.objects.filter(status=C.RUNNING, worker=w.host).count() < w.slots:
                    return True
        return False

    def explain(self, job, running, workers):
        needed = job.labels_needed
        if not needed or not workers:
            return ""
        able = [w for w in workers if L.fits(job.runs_on, w.labels)]
        if not able:
            if not job.runs_on_read:
                return ""  # a guess nobody meets: the next free worker reads the file
            online = ", ".join(f"{w.host} [{', '.join(w.labels)}]" for w in workers)
            return f"No online worker has {L.the_labels(needed)} (online: {online})."
        busy = list(running.filter(worker__in=[w.host for w in able]).select_related("repository").order_by("id"))
        if any(sum(1 for j in busy if j.worker == w.host) < w.slots for w in able):
            return ""
        names = [f"#{j.number}" if j.repository_id == job.repository_id else str(j) for j in busy]
        jobs = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)
        if len(able) == 1:
            return f"The one worker with {L.describe(needed)} is busy with {jobs}."
        hosts = ", ".join(w.host for w in able)
        return f"The {len(able)} workers with {L.describe(needed)} ({hosts}) are busy with {jobs}."


class KeptWorkspace(Rule):
    """A retry from a step (builds.retry) runs where the failed build's
    workspace is kept: no other worker may claim it. Once that workspace
    has expired (its worker offline, nobody removed it), any worker may: the
    retry then ends errored, saying the workspace is gone, instead of
    waiting for ever."""

    def allow(self, queued, running, worker):
        return queued.exclude(self._held_elsewhere(worker))

    @staticmethod
    def _held_elsewhere(worker):
        return Q(retry_of__workspace_kept_until__gt=timezone.now()) & ~Q(
            retry_of__workspace_kept_on__in=("", str(worker))
        )

    def room_elsewhere(self, worker):
        """Whether a queued retry waits for another online worker, with a
        free slot, that holds its workspace: the token is theirs."""
        waiting = claimable_jobs().filter(self._held_elsewhere(worker))
        hosts = set(waiting.values_list("retry_of__workspace_kept_on", flat=True).distinct())
        for w in Worker.online().filter(host__in=hosts):
            if Job.objects.filter(status=C.RUNNING, worker=w.host).count() < w.slots:
                return True
        return False

    def explain(self, job, running, workers):
        old = job.retry_of
        if old is None or not old.workspace_kept_on or old.workspace_kept_until <= timezone.now():
            return ""
        host = old.workspace_kept_on
        until = old.workspace_kept_until.astimezone(timezone.get_fixed_timezone(0)).strftime("%H:%M UTC")
        sentence = f"It waits for {host}, which holds the workspace of #{old.number} (kept until {until})"
        if not any(w.host == host for w in workers):
            return sentence + f"; {host} is offline: should it not be back by then, the retry ends errored."
        return sentence + "."


WORKER_SLOTS = WorkerSlots()
LABELS = Labels()
KEPT_WORKSPACE = KeptWorkspace()
# In the claim's order: the cheap checks that can refuse everything first.
RULES = (WORKER_SLOTS, InstallationLimit(), LABELS, RepositoryLimit(), KEPT_WORKSPACE)


def _lock_claims():
    # SQLite's IMMEDIATE transactions already serialise writers; PostgreSQL
    # needs an explicit lock so two workers can't both see a free slot.
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("SELECT pg_advisory_xact_lock(%s)", [0x4E524C44])


def claim_next_job(worker, labels=None):
    """Claim the oldest queued job the rules allow; None if there is none.

    `worker`: the host name; `labels`: those it carries (default: this
    machine's, builds.labels.worker_labels). Returns (job, why_not) where
    why_not says what blocked when job is None.
    """
    worker = Claimant(worker, labels)
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
