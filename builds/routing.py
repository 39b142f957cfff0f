"""A claimed job meets its pipeline's runs_on: (see builds.labels).

The worker reads the commit's pipeline only after it has claimed the job,
so the labels the claim went by are a prediction. Right after reading the
file the runner calls route(): the job (and, for the first job of a matrix
build, its queued siblings) get the labels this commit really asks for,
and a worker that lacks one of them raises HandBack instead of running
anything. The runner then puts the job back in the queue with those labels
(Job.hand_back: neither an attempt nor a loss), and the claim gives it to a
worker that carries them, or leaves it waiting — saying which label no
online worker has — while the jobs behind it go past.
"""

import logging

from builds import constants as C
from builds import labels as L
from builds.lifecycle import hint_key
from builds.models import Job

log = logging.getLogger(__name__)


class HandBack(Exception):
    """This worker lacks labels the job needs; `runs_on` routes it."""

    def __init__(self, reason, runs_on):
        super().__init__(reason)
        self.reason, self.runs_on = reason, runs_on

    def note(self):
        return (
            f"{self.reason}. The job goes back in the queue for a worker that has "
            f"{'them' if len(L.split(self.runs_on)) > 1 else 'it'} (a hand-back: not counted as an attempt)."
        )


def route(job, pipeline, combination, worker, labels=None):
    """Record on `job` the labels `pipeline` (not yet narrowed to
    `combination`) asks for, route its queued matrix siblings likewise,
    and raise HandBack when `worker` (carrying `labels`, default this
    machine's) lacks one."""
    needed = L.key(pipeline.for_combination(combination).runs_on)
    remember_routes(job.repository, pipeline)
    if job.runs_on != needed or not job.runs_on_read:
        Job.objects.filter(pk=job.pk).update(runs_on=needed, runs_on_read=True)
        job.runs_on, job.runs_on_read = needed, True
    if job.group_id == job.pk:
        _route_siblings(job, pipeline)
    have = L.worker_labels() if labels is None else labels
    missing = sorted(set(L.split(needed)) - set(have))
    if missing:
        log.info("job %s: handed back, %s lacks %s", job.pk, worker, ", ".join(missing))
        raise HandBack(
            f"Handed back by {worker}: its runs_on: asks for {L.the_labels(missing)}, which {worker} "
            f"lacks (it has {', '.join(have)})",
            needed,
        )


def remember_routes(repository, pipeline):
    """Keep the labels this pipeline asks for, per combination, on the
    repository: the next webhook's jobs are predicted from them."""
    combinations = pipeline.matrix_combinations() if pipeline.matrix else [{}]
    routes = {hint_key(c): L.key(pipeline.for_combination(c).runs_on) for c in combinations}
    if routes != (repository.runs_on_hint or {}):
        type(repository).objects.filter(pk=repository.pk).update(runs_on_hint=routes)
        repository.runs_on_hint = routes


def _route_siblings(first, pipeline):
    """The siblings were made with the first job's labels (or predicted
    ones): those still queued get their own combination's."""
    by_labels = {}
    for pk, matrix in Job.objects.filter(group=first, status=C.QUEUED).exclude(pk=first.pk).values_list("pk", "matrix"):
        by_labels.setdefault(L.key(pipeline.for_combination(matrix or {}).runs_on), []).append(pk)
    for needed, pks in by_labels.items():
        Job.objects.filter(pk__in=pks, status=C.QUEUED).update(runs_on=needed, runs_on_read=True)
