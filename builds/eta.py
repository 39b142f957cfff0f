"""How long a running build has left: the median run time of the
successful builds among the last RECENT builds of its repository's branch
(same matrix combination), builds.durations.estimate doing the arithmetic.

One query whatever the number of jobs asked about (the dashboard asks for
every running job it lists): per branch, the rows from its RECENT-th last
build on (a subquery finds that id), each branch a range of the
job_repo_branch index (repository, branch, -id), so at most RECENT rows a
branch are read however long its history. The status is checked here, not
in SQL: filtered on, it makes SQLite walk job_repo_status instead, through
every successful build of the repository until enough are on the branch."""

from django.db.models import DurationField, ExpressionWrapper, F, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from builds import constants as C
from builds.durations import estimate
from builds.models import Job

RECENT = 20  # the last builds of a branch whose successful ones are looked at


def histories(jobs):
    """{job id: run times (seconds) of the successful builds among the last
    RECENT of its branch, same matrix combination}, for the running ones of
    `jobs`; no query when none is running."""
    running = [j for j in jobs if j is not None and j.status == C.RUNNING and j.started_at]
    if not running:
        return {}
    where = Q()
    for repository_id, branch in {(j.repository_id, j.branch) for j in running}:
        branch_jobs = Job.objects.filter(repository_id=repository_id, branch=branch).order_by("-id")
        # Fewer than RECENT builds: no floor, all of them.
        floor = Coalesce(Subquery(branch_jobs.values("id")[RECENT - 1 : RECENT]), Value(0))
        where |= Q(repository_id=repository_id, branch=branch, id__gte=floor)
    took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    rows = (
        Job.objects.filter(where, started_at__isnull=False, finished_at__isnull=False)
        .order_by()
        .annotate(took=took)
        .values_list("repository_id", "branch", "matrix", "status", "took")
    )
    found = {}
    for repository_id, branch, matrix, status, seconds in rows:
        if status == C.SUCCESS:
            found.setdefault((repository_id, branch, repr(sorted((matrix or {}).items()))), []).append(
                seconds.total_seconds()
            )
    return {j.pk: found.get((j.repository_id, j.branch, repr(sorted((j.matrix or {}).items()))), []) for j in running}


def etas(jobs):
    """{job id: builds.durations.estimate} for the running ones of `jobs`
    that have a history (one query, none when nothing runs)."""
    now = timezone.now()
    by_id = {j.pk: j for j in jobs if j is not None}
    out = {}
    for pk, history in histories(jobs).items():
        guess = estimate(history, (now - by_id[pk].started_at).total_seconds())
        if guess:
            out[pk] = guess
    return out


def eta(job):
    """The estimate for one job; None unless it runs and has a history."""
    return etas([job]).get(job.pk)
