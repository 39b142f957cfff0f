"""How long a running build has left: the median run time of the
repository's last successful builds of the same branch (and matrix
combination), in one query on the job_repo_branch index
(builds.durations.estimate does the arithmetic)."""

from django.utils import timezone

from builds import constants as C
from builds.durations import estimate
from builds.models import Job

HISTORY = 10  # builds the median is taken over
SCAN = 30  # rows read to find them (other matrix combinations are skipped)


def expected_history(job):
    """Run times (seconds) of the branch's last HISTORY successful builds
    of the same matrix combination; [] when there are none."""
    rows = (
        Job.objects.filter(
            repository_id=job.repository_id,
            branch=job.branch,
            status=C.SUCCESS,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .exclude(pk=job.pk)
        .order_by("-id")
        .values_list("started_at", "finished_at", "matrix")[:SCAN]
    )
    same = [(end - start).total_seconds() for start, end, matrix in rows if (matrix or {}) == (job.matrix or {})]
    return same[:HISTORY]


def eta(job):
    """The estimate for a running job (builds.durations.estimate), None for
    any other or without history."""
    if job.status != C.RUNNING or not job.started_at:
        return None
    return estimate(expected_history(job), (timezone.now() - job.started_at).total_seconds())
