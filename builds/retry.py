"""Retry from a step (issue 15 §4): a failed build's workspace stays on its
worker for a while, and a retry runs the steps from N on in it.

Steps share one workspace (builds.docker.workspace), so a step's input is
whatever the steps before it left there: a retry from step N is only
honest in the very workspace the failed build left. So:

- A job that ends `failed` (a step exited non-zero; not errored, cancelled
  or timed out: those say nothing about the steps before) keeps its
  workspace — the Docker volume, and the worker's checkout directory (in
  `bind` mode they are one) — for HERALD_KEEP_WORKSPACE_MINUTES. Its
  containers, services and network go as always. The Job row says where
  (workspace_kept_on) and until when; the kept workspaces of a worker hold
  at most HERALD_KEEP_WORKSPACE_MAX_BYTES between them, the oldest removed
  first (enforce_cap), and the worker's housekeeping removes expired ones
  (builds.housekeeping.sweep_local, through expire_here and kept_here).
- "Retry from step N" makes a job on the same commit, parameters and matrix
  combination with retry_of and from_step (retry); only the worker holding
  the workspace may claim it (builds.claim.KeptWorkspace, which also says
  so on the job page). Its runner takes the workspace over (take_over: the
  failed job holds it no more, so two retries cannot share it), skips the
  clone, marks the steps before N skipped with a line naming them, and runs
  from N.
- A workspace gone (expired, removed for room, taken over by another retry,
  its worker offline) is said at request time (refusal, a 409 with a pointer
  to a full rebuild) or, found at run time, ends the retry errored with the
  same words: a retry never runs from step N on a fresh checkout.

The kept directory is the build's (in `bind` mode the steps wrote in it,
as root if they liked): the retry reads nothing of it on the host but the
pipeline file (builds.pipeline reads it as hostile as any commit's), which
must be the file the failed build ran (pipeline_digest), and runs no git in
it (a step may have written .git/config). Path filters of a retry therefore
go by the changed files the forge listed, or do not apply.
"""

import hashlib
import logging
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from builds import constants as C
from builds.changes import changed_files
from builds.dbgrace import UNAVAILABLE
from builds.docker.client import docker_client
from builds.docker.objects import remove_job_objects
from builds.errors import BuildError, DockerUnavailable
from builds.lifecycle import restart
from builds.models import Job, JobStep, Worker
from builds.pipeline import MAX_FILE_BYTES

log = logging.getLogger(__name__)


def kept_dir(job_id):
    """The worker's directory of a job: its checkout (builds.runner.workspace_for,
    which imports this module)."""
    return Path(settings.WORKSPACE_DIR) / f"job-{job_id}"


def is_kept(job, now=None):
    return (
        bool(job.workspace_kept_on)
        and job.workspace_kept_until is not None
        and (job.workspace_kept_until > (now or timezone.now()))
    )


def at(moment):
    """A kept-until time as the log and the messages say it."""
    return moment.astimezone(timezone.get_fixed_timezone(0)).strftime("%Y-%m-%d %H:%M UTC")


def gone_reason(job, now=None):
    """Why the workspace of `job` cannot be retried in, or ""."""
    now = now or timezone.now()
    if is_kept(job, now):
        return ""
    if job.workspace_kept_until is None:
        why = "it was not kept"
    elif job.workspace_kept_until <= now:
        why = f"expired at {at(job.workspace_kept_until)}"
    else:
        why = "taken over by another retry, or removed to make room (HERALD_KEEP_WORKSPACE_MAX_BYTES)"
    return f"The workspace of #{job.number} is gone ({why}): rebuild from the start"


def failed_step(job):
    """The number of the step that failed `job` (the last a retry may start at)."""
    numbers = list(job.steps.order_by("number").values_list("number", "status"))
    first = next((n for n, status in numbers if status in (C.FAILED, C.ERRORED)), None)
    return first or (numbers[-1][0] if numbers else 0)


class Refused(Exception):
    """A retry that cannot be made; str(): why, and what to do instead.
    `status`: 400 for a bad step number, 409 for the job's state."""

    def __init__(self, reason, status=409):
        super().__init__(reason)
        self.status = status


def refusal(job, step):
    """Why `job` cannot be retried from `step` now (Refused), or None."""
    if job.status != C.FAILED:
        raise Refused(f"#{job.number} is {job.status}, not failed: only a failed build can be retried from a step")
    last = failed_step(job)
    if not isinstance(step, int) or isinstance(step, bool) or not 1 <= step <= last:
        raise Refused(f"step must be a step number from 1 to {last} (the step that failed)", status=400)
    reason = gone_reason(job)
    if not reason and not Worker.online().filter(host=job.workspace_kept_on).exists():
        reason = (
            f"The workspace of #{job.number} is on {job.workspace_kept_on}, which is offline: rebuild from the start"
        )
    if reason:
        raise Refused(reason)
    active = job.retries.filter(status__in=C.ACTIVE_STATUSES).first()
    if active:
        raise Refused(f"#{active.number} is already retrying #{job.number} in its workspace")


def retry(job, step, user=None):
    """A job retrying the failed `job` from `step` in its kept workspace
    (Refused when it cannot). Like builds.lifecycle.restart, it supersedes
    nothing and needs no approval: only people with push rights retry."""
    refusal(job, step)
    return restart(job, user, retry_of=job, from_step=step)


# --- on the worker: keeping ---------------------------------------------------


def keep(job, digest):
    """Mark the workspace of `job` (ending failed on this worker) kept; the
    time it is kept until, or None when keeping is off."""
    minutes = settings.HERALD_KEEP_WORKSPACE_MINUTES
    if not minutes:
        return None
    until = timezone.now() + timedelta(minutes=minutes)
    Job.objects.filter(pk=job.pk).update(
        workspace_kept_on=settings.HERALD_HOSTNAME, workspace_kept_until=until, pipeline_digest=digest
    )
    job.workspace_kept_on, job.workspace_kept_until, job.pipeline_digest = settings.HERALD_HOSTNAME, until, digest
    return until


def record_size(job, size):
    Job.objects.filter(pk=job.pk).update(workspace_kept_bytes=size)
    job.workspace_kept_bytes = size


def release(job_id):
    """This worker holds the workspace of `job_id` no more (the caller
    removes it); whether it held it. kept_until stays: it says when it expired."""
    return bool(Job.objects.filter(pk=job_id, workspace_kept_on=settings.HERALD_HOSTNAME).update(workspace_kept_on=""))


def enforce_cap(keep=None):
    """Release the oldest kept workspaces of this worker, and remove them,
    until those left hold at most HERALD_KEEP_WORKSPACE_MAX_BYTES (`keep`:
    a job whose workspace is released but left to its runner to remove).
    Returns the ids released."""
    cap = settings.HERALD_KEEP_WORKSPACE_MAX_BYTES
    if keep is not None and cap and Job.objects.filter(pk=keep, workspace_kept_bytes__gt=cap).exists():
        # Alone past the cap: it goes, not the others.
        release(keep)
        return [keep]
    kept = list(
        Job.objects.filter(workspace_kept_on=settings.HERALD_HOSTNAME)
        .order_by("workspace_kept_until", "pk")
        .values_list("pk", "workspace_kept_bytes")
    )
    total = sum(size for _, size in kept)
    released = []
    for pk, size in kept:
        if not cap or total <= cap:
            break
        if release(pk):
            if pk != keep:
                remove_kept(pk)
            released.append(pk)
        total -= size
    return released


def remove_kept(job_id):
    """Remove the workspace (directory and Docker objects) a job left here."""
    # Written by the worker (the clone) and, in bind mode, by the build:
    # root-owned files are no trouble, the worker that keeps them is root.
    shutil.rmtree(kept_dir(job_id), ignore_errors=True)
    try:
        client = docker_client(timeout=30)
    except DockerUnavailable:
        return
    try:
        remove_job_objects(client, job_id)
    finally:
        client.close()


def expire_here(now=None):
    """Release this worker's kept workspaces whose time is over (the sweep
    then removes them like any job's leftovers); their ids."""
    now = now or timezone.now()
    expired = Job.objects.filter(workspace_kept_on=settings.HERALD_HOSTNAME, workspace_kept_until__lte=now)
    ids = list(expired.values_list("pk", flat=True))
    if ids:
        Job.objects.filter(pk__in=ids, workspace_kept_until__lte=now).update(workspace_kept_on="")
        log.info("kept workspaces expired: %s", ids)
    return ids


def kept_here():
    """Ids of the jobs whose workspaces this worker keeps, or a retry
    running here is taking over: the sweep leaves their volume and
    directory alone."""
    host = settings.HERALD_HOSTNAME
    kept = set(Job.objects.filter(workspace_kept_on=host).values_list("pk", flat=True))
    adopting = Job.objects.filter(status=C.RUNNING, worker=host, retry_of__isnull=False)
    return kept | set(adopting.values_list("retry_of_id", flat=True))


# --- on the worker: retrying ----------------------------------------------------


def take_over(job):
    """The failed job whose kept workspace the retry `job` runs in, taken
    from it (a conditional UPDATE: of two retries, one wins); BuildError
    with gone_reason's words when it is gone."""
    old = job.retry_of
    if old is None:
        raise BuildError("The build this job retries was deleted: rebuild from the start")
    now = timezone.now()
    taken = Job.objects.filter(
        pk=old.pk, workspace_kept_on=settings.HERALD_HOSTNAME, workspace_kept_until__gt=now
    ).update(workspace_kept_on="")
    if not taken:
        old.refresh_from_db()
        if job.attempts > 1:  # put back in the queue (a worker shut down, or died) after taking it over
            raise BuildError(
                f"The workspace of #{old.number} went with this retry's first attempt: rebuild from the start"
            )
        if is_kept(old, now):  # kept on another worker: the claim should not have let us
            raise BuildError(
                f"The workspace of #{old.number} is on {old.workspace_kept_on}, not here: rebuild from the start"
            )
        raise BuildError(gone_reason(old, now))
    if not kept_dir(old.pk).is_dir():
        raise BuildError(
            f"The workspace of #{old.number} is gone (removed from {settings.HERALD_HOSTNAME}): rebuild from the start"
        )
    return old


def carried_note(old, names):
    """'Steps 1–2 carried over from #7: build, test'."""
    n = len(names)
    which = "Step 1" if n == 1 else f"Steps 1–{n}"
    return f"{which} carried over from #{old.number}: {', '.join(names)}"


def pipeline_digest(checkout, source):
    """sha256 of the pipeline file `source` (a name builds.pipeline found
    in the checkout), or "" when it cannot be read as a file inside it."""
    root = os.path.realpath(checkout)
    path = os.path.realpath(os.path.join(root, source))
    if not path.startswith(root + os.sep):
        return ""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        return hashlib.sha256(f.read(MAX_FILE_BYTES + 1)).hexdigest()


def check_pipeline(job, old, digest):
    """The retry runs the pipeline file the failed build ran, or nothing."""
    if not old.pipeline_digest or digest != old.pipeline_digest:
        raise BuildError(
            f"The pipeline file in the workspace of #{old.number} is not the one it ran "
            "(a step changed it): rebuild from the start"
        )


def page(job):
    """What the job page shows of retrying `job` from a step (templates/
    builds/_retry.html): None, or {"kept", "last_step", "until"} while its
    workspace is kept, or {"gone"} once it was kept and is no more."""
    if job.status != C.FAILED:
        return None
    if is_kept(job):
        return {"kept": True, "last_step": failed_step(job), "until": at(job.workspace_kept_until)}
    if job.workspace_kept_until:
        return {"kept": False, "gone": gone_reason(job)}
    return None


class Retrying:
    """The runner's part of keeping and retrying (mixed into
    builds.runner.Runner, whose job, log and run() it uses): keep a failed
    build's workspace and say so, measure it against the worker's cap; in a
    retry, adopt the workspace instead of cloning, check the pipeline file,
    carry the steps before from_step over."""

    adopted = None  # the failed job whose workspace this retry took over
    digest = ""  # of the pipeline file this job runs
    kept = None  # until when this job's workspace is kept, once it failed

    def files_changed(self, workspace, deadline):
        """The files this job changes (builds.changes). A retry runs no git
        in the workspace it took over (a step may have written its
        .git/config): it goes by the forge's list, or has none."""
        if self.adopted and self.job.changed_files is None:
            self.log.note("Changed files unknown (a retry runs no git in a kept workspace): every step runs")
            return None
        return changed_files(self.job, workspace, log=self.log, timeout=max(30, int(deadline - time.monotonic())))

    def adopt(self, workspace):
        """Instead of the clone: take over the kept workspace of the failed
        job this one retries (BuildError, errored, when it is gone)."""
        old = self.adopted = take_over(self.job)
        # Same filesystem, one rename: the directory is ours from now on.
        os.rename(kept_dir(old.pk), workspace)
        self.log.note(f"Retrying #{old.number} from step {self.job.from_step} in the workspace it left")

    def check_definition(self, workspace, pipeline):
        """Remember the pipeline file's digest (a failed build keeps it with
        its workspace); a retry runs only the file the failed build ran."""
        self.digest = pipeline_digest(workspace, pipeline.source)
        if self.adopted:
            check_pipeline(self.job, self.adopted, self.digest)
            if self.job.from_step > len(pipeline.steps):
                raise BuildError(f"The pipeline has {len(pipeline.steps)} steps: there is no step {self.job.from_step}")

    def keep_workspace(self, status):
        """A failed build keeps its workspace for a retry from a step; the
        log says until when."""
        if status != C.FAILED or not settings.HERALD_KEEP_WORKSPACE_MINUTES:
            return
        try:
            self.kept = keep(self.job, self.digest)
        except UNAVAILABLE as e:
            log.warning("job %s: could not keep its workspace: %s", self.job.pk, e)
            return
        self.log.note(
            f"The workspace is kept on {self.job.worker} until {at(self.kept)} "
            "(HERALD_KEEP_WORKSPACE_MINUTES): a step can be retried from the job page"
        )

    def measure_kept(self, docker_env, workspace):
        """Count what the kept workspace holds, and make room within
        HERALD_KEEP_WORKSPACE_MAX_BYTES (the oldest kept ones go first:
        this one too when it is alone too big)."""
        try:
            size = docker_env.usage.workspace_bytes(workspace, docker_env.images) if docker_env else 0
            record_size(self.job, size)
            released = enforce_cap(keep=self.job.pk)
        except Exception as e:  # unmeasured, it cannot be counted against the cap: not kept
            log.warning("job %s: its kept workspace could not be measured: %s", self.job.pk, e)
            release(self.job.pk)
            released = [self.job.pk]
        if self.job.pk in released:
            self.kept = None

    def carry_over(self, rows):
        """A retry: the steps before its from_step are the failed build's,
        marked skipped here and named in the log; how many."""
        if not self.adopted:
            return 0
        carried = self.job.from_step - 1
        JobStep.objects.filter(pk__in=[row.pk for row in rows[:carried]]).update(status=C.SKIPPED)
        if carried:
            self.log.note(carried_note(self.adopted, [row.name for row in rows[:carried]]))
        return carried
