"""How long a running build has left: the median run time of the
repository's last successful builds of the same branch and matrix
combination (builds.durations.estimate does the arithmetic).

One query whatever the number of jobs asked about (the dashboard asks for
every running job it lists): each job gets HISTORY correlated subqueries,
one per place in its history (`OFFSET i LIMIT 1`), each a short walk down
the job_repo_branch index (repository, branch, -id) — bounded, where a
window over the branch would read all its successful builds."""

from django.db.models import DurationField, ExpressionWrapper, F, OuterRef, Subquery
from django.utils import timezone

from builds import constants as C
from builds.durations import estimate
from builds.models import Job

HISTORY = 10  # builds the median is taken over


def histories(jobs):
    """{job id: run times (seconds) of its branch's last HISTORY successful
    builds of the same matrix combination}, for the running ones of `jobs`;
    no query when none is running."""
    running = [j.pk for j in jobs if j is not None and j.status == C.RUNNING and j.started_at]
    if not running:
        return {}
    took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    # matrix: equal JSON (on SQLite, equal text: a build's combinations are
    # all written by the same expansion, keys in the same order).
    same = (
        Job.objects.filter(
            repository=OuterRef("repository"),
            branch=OuterRef("branch"),
            matrix=OuterRef("matrix"),
            status=C.SUCCESS,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-id")
        .annotate(took=took)
        .values("took")
    )
    slots = {f"took_{i}": Subquery(same[i : i + 1], output_field=DurationField()) for i in range(HISTORY)}
    rows = Job.objects.filter(pk__in=running).order_by().annotate(**slots).values_list("pk", *slots)
    return {pk: [t.total_seconds() for t in times if t is not None] for pk, *times in rows}


def etas(jobs):
    """{job id: builds.durations.estimate} for the running ones of `jobs`
    that have a history (one query, none when nothing runs)."""
    now = timezone.now()
    found = histories(jobs)
    by_id = {j.pk: j for j in jobs if j is not None}
    out = {}
    for pk, history in found.items():
        guess = estimate(history, (now - by_id[pk].started_at).total_seconds())
        if guess:
            out[pk] = guess
    return out


def eta(job):
    """The estimate for one job; None unless it runs and has a history."""
    return etas([job]).get(job.pk)
