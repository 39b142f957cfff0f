"""Running one claimed job: checkout → pipeline → Docker → final status.

Steps run in order, each in its own container, all sharing the workspace
volume mounted at /repo and the job's network (where the services are). The
first failing step fails the job; later steps are skipped unless marked
`always: true`. Every step has a JobStep row (status, exit code, times, and
the seq of the log chunk its section starts at).
"""

import logging
import shlex
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, transaction
from django.utils import timezone

from builds import artifacts, drain, parameters, paths, reports, retry, routing
from builds import constants as C
from builds.dbgrace import UNAVAILABLE, DatabaseGone, DiskFull, Grace
from builds.docker.environment import (
    STOP_CANCEL,
    STOP_DRAIN,
    STOP_LOST,
    STOP_QUOTA,
    STOP_TIMEOUT,
    DockerEnv,
    Stopped,
)
from builds.durations import format_duration
from builds.errors import BuildError
from builds.git import fetch_commit
from builds.lifecycle import expand_matrix, remember_matrix
from builds.logwriter import LogWriter
from builds.models import Job, JobStep
from builds.pipeline import load_pipeline
from builds.quota import Quota

log = logging.getLogger(__name__)


# Jobs this process is running; the housekeeping thread beats their
# heartbeats (so a long clone or pull is not mistaken for a dead worker).
ACTIVE = set()


def beat_active():
    if ACTIVE:
        Job.objects.filter(pk__in=list(ACTIVE), status=C.RUNNING).update(heartbeat_at=timezone.now())


PATH_FILTERED = "no changed file matches its when.path"


class NotInMatrix(Exception):
    """A job made from the predicted matrix whose combination this commit's
    pipeline no longer has: it ends skipped."""


class Watchdog:
    """The job's watchdog, called from every wait loop: flushes the log and
    says whether the job must stop (cancelled, timed out, past its disk
    quota, taken from us by the reaper, or the worker is shutting down and
    the drain time is over)."""

    tick_interval = 0.1

    def __init__(self, job, log_writer, deadline, quota):
        self.job = job
        self.log = log_writer
        self.deadline = deadline
        self.quota = quota
        self.next_cancel_check = time.monotonic() + 1.0
        self.stopped = None

    def tick(self):
        now = time.monotonic()
        if self.log.due():
            self.log.flush()
        if self.stopped:
            return self.stopped
        if now >= self.deadline:
            self.stopped = STOP_TIMEOUT
        elif drain.expired():
            self.stopped = STOP_DRAIN
        elif self.quota.due(now) and self.quota.exceeded():
            self.stopped = STOP_QUOTA
            self.log.note(self.quota.reason)
        elif now >= self.next_cancel_check:
            self.next_cancel_check = now + 1.0
            try:
                row = Job.objects.filter(pk=self.job.pk).values("status", "cancel_requested", "attempts").first()
            except UNAVAILABLE as e:
                # Nobody can cancel it meanwhile: go on, within the grace.
                self.log.grace.failed(e, "checking whether the job was cancelled")
                return self.stopped
            self.log.grace.ok()
            # Another attempt running means the reaper gave the job to
            # another worker while this one was silent.
            if row is None or row["status"] != C.RUNNING or row["attempts"] != self.job.attempts:
                self.stopped = STOP_LOST
            elif row["cancel_requested"]:
                self.stopped = STOP_CANCEL
        return self.stopped

    def step_ended(self):
        """Checks the quota now: a step may write past it quicker than the interval."""
        self.quota.next_check = 0.0
        return self.tick()


def workspace_for(job):
    return Path(settings.WORKSPACE_DIR) / f"job-{job.pk}"


def remove_workspace(path):
    # The worker's directory only ever holds the clone, written by the
    # worker itself: what builds write lives in the job's Docker volume.
    shutil.rmtree(path, ignore_errors=True)


class Runner(retry.Retrying):
    """Runs one claimed job; a retry from a step's part is builds.retry.Retrying."""

    # Where the log goes besides the database, as it is stored (LogWriter's output).
    log_output = None

    def __init__(self, job):
        self.job = job
        self.repository = job.repository
        self.log = None
        self.watchdog = None
        self.timeout = self.timeout_seconds()
        self.changed = None  # the files this job changes, when its pipeline filters on them (None: unknown)

    def timeout_seconds(self, pipeline=None):
        seconds = self.repository.build_timeout * 60
        if pipeline is not None and pipeline.timeout:
            seconds = pipeline.timeout
        return min(seconds, settings.HERALD_MAX_TIMEOUT_MINUTES * 60)

    def run(self):
        job = self.job
        # A job put back in the queue keeps its log: this attempt goes on after it.
        writer = self.log = LogWriter(
            job, fresh=job.attempts <= 1 and not job.handbacks, grace=Grace(), output=self.log_output
        )
        started = time.monotonic()
        workspace = workspace_for(job)
        watchdog = self.watchdog = Watchdog(job, writer, started + self.timeout, Quota(workspace))
        status, exit_code, reason = C.ERRORED, None, "Herald stopped unexpectedly"
        ACTIVE.add(job.pk)
        docker_env = None
        handback = None
        try:
            if job.attempts > 1:
                writer.section()
                writer.note(f"Attempt {job.attempts}: the build starts again from the beginning")
            remove_workspace(workspace)
            workspace.parent.mkdir(parents=True, exist_ok=True)
            writer.note(f"Job #{job.number} of {self.repository.full_name} on {job.worker}, commit {job.commit}")
            if job.from_step:  # a retry, even of a job deleted since: never a fresh checkout
                self.adopt(workspace)
            else:
                self.checkout(workspace, watchdog.deadline)
            secrets = self.load_secrets()
            pipeline = load_pipeline(workspace, known_secrets=set(secrets))
            self.check_definition(workspace, pipeline)
            if not settings.HERALD_BUILD_STEPS and any(step.build for step in pipeline.steps):
                raise BuildError(
                    "docker build steps are turned off on this server (HERALD_BUILD_STEPS=0): "
                    "build the image in a command step, or ask the admin"
                )
            self.timeout = self.timeout_seconds(pipeline)
            watchdog.deadline = started + self.timeout
            writer.note(f"Build definition: {pipeline.source}")
            matrix = self.matrix_values(pipeline)
            self.route(pipeline, matrix)
            pipeline = pipeline.for_combination(matrix)
            if pipeline.filters_paths():
                self.changed = self.files_changed(workspace, watchdog.deadline)
                paths.check_build(pipeline, self.changed, writer)  # Skipped: nothing to build
            docker_env = DockerEnv(job, writer, watchdog, checkout=str(workspace)).open()
            if self.adopted:
                docker_env.adopt_workspace(self.adopted.pk)
            watchdog.quota.usage = docker_env.usage
            status, exit_code, reason = self.execute(pipeline, docker_env, matrix, secrets)
        except routing.HandBack as e:
            status, exit_code, reason, handback = C.QUEUED, None, e.reason, e
        except (NotInMatrix, paths.Skipped) as e:
            status, exit_code, reason = C.SKIPPED, None, str(e)
            writer.note(f"Skipped: {e}")
        except (DatabaseGone, DiskFull) as e:
            # Said in the reason: the log may be what could not be written.
            status, exit_code, reason = C.ERRORED, None, str(e)[:1].upper() + str(e)[1:]
            log.error("job %s: %s", job.pk, e)
        except BuildError as e:
            status, exit_code, reason = C.ERRORED, None, str(e)
            writer.note(f"Error: {e}")
        except BaseException as e:
            # django-q2's task timeout arrives as an exception; anything else
            # is a bug. Either way the job must not stay "running".
            log.exception("job %s crashed", job.pk)
            status, exit_code, reason = C.ERRORED, None, f"Herald failed: {type(e).__name__}"
            writer.note(reason)
            if not isinstance(e, Exception):
                raise
        finally:
            requeue = status == C.QUEUED
            self.keep_workspace(status)
            try:
                if handback:
                    writer.note(handback.note())
                elif requeue:
                    writer.note(f"{reason}. It goes back in the queue; the next attempt starts from the beginning.")
                elif status != C.ERRORED:
                    writer.note(
                        f"Done in {time.monotonic() - started:.1f} s: {status}" + (f" ({reason})" if reason else "")
                    )
                writer.close()
            except Exception:
                log.exception("job %s: could not store the end of the log", job.pk)
            close_old_connections()
            if requeue:
                # Cleanup first this time: the next attempt may start on
                # this Docker engine as soon as the job is back in the queue.
                if docker_env is not None:
                    docker_env.cleanup()
                    docker_env = None
                remove_workspace(workspace)
                if not (job.hand_back(reason, handback.runs_on) if handback else job.requeue(reason)):
                    # Cancelled meanwhile (or taken from us): that ends it.
                    status, exit_code, reason = self.stop_outcome(STOP_CANCEL)
            ended = status == C.QUEUED
            if not ended:
                # The result first (users wait for it), the cleanup after: if
                # the worker dies in between, the sweeper removes what is left.
                try:
                    record_end(job, status, exit_code, reason)
                    ended = True
                except UNAVAILABLE as e:
                    # The database is away, or its disk full: clean up first
                    # (that may be what frees the space), then try again.
                    log.warning("job %s: could not record its end yet: %s", job.pk, e)
            ACTIVE.discard(job.pk)
            if self.kept:
                self.measure_kept(docker_env, workspace)
            if docker_env is not None:
                docker_env.cleanup(keep_workspace=bool(self.kept))
            if not self.kept:
                remove_workspace(workspace)
            if self.adopted:
                # What the adoption did not get to (the retry ended before its Docker environment).
                retry.remove_kept(self.adopted.pk)
            if not ended:
                try:
                    # However long it takes to come back or to get room.
                    Grace(max(settings.HERALD_DB_GRACE_SECONDS, 600), wait_for_space=True).call(
                        record_end, job, status, exit_code, reason, what="recording the job's end"
                    )
                except (DatabaseGone, DiskFull) as e:
                    log.error("job %s: its end (%s) could not be recorded: %s", job.pk, status, e)
        return status

    # --- before the steps ------------------------------------------------------

    def checkout(self, workspace, deadline):
        """Put the job's commit in `workspace` (a new, empty directory):
        cloned from the forge (or the pull request's source) at the commit.
        builds.localrun overrides it with the user's working tree."""
        job = self.job
        commit = fetch_commit(
            job.source_url or self.repository.clone_url,
            job.commit,
            workspace,
            ref=job.ref,
            log=self.log,
            timeout=max(30, int(deadline - time.monotonic())),
            env=self.repository.clone_env() if not job.source_url else None,
        )
        if commit != job.commit:
            # The forge named the commit partly (or not at all): record it whole.
            Job.objects.filter(pk=job.pk).update(commit=commit)
            job.commit = commit

    def route(self, pipeline, matrix):
        """Send the job to a worker with the labels its runs_on: asks for
        (raises routing.HandBack when this one lacks any)."""
        routing.route(self.job, pipeline, matrix, self.job.worker)

    def load_secrets(self):
        """{name: (value, exposed)}; every value is masked in the log, but a
        pull request from a fork only gets those the repository allows."""
        try:
            rows = list(self.repository.secrets.all())
        except ImproperlyConfigured as e:  # undecryptable: the key changed
            raise BuildError(str(e)) from None
        fork = self.job.from_fork
        secrets = {s.name: (s.value, not fork or s.allow_forks) for s in rows}
        self.log.set_secrets([value for value, _ in secrets.values()])
        return secrets

    def matrix_values(self, pipeline):
        """This job's matrix combination.

        The webhook cannot read the file (it is in the repository), so it
        predicts the matrix from the last pipeline read (Repository.matrix_hint)
        and makes a job per combination; each job checks its own against this
        commit's file, and the group's first job adds the combinations the
        prediction missed. With no prediction, the first job takes the first
        combination and queues the others.
        """
        job = self.job
        actual = pipeline.matrix_combinations() if pipeline.matrix else []
        remember_matrix(self.repository, actual)
        first = job.group_id in (None, job.pk)
        if not job.matrix:
            if not actual:
                return {}
            siblings = expand_matrix(job, actual)
            if siblings:
                self.log.note(
                    f"Matrix: {_describe(job.matrix)}; the other {len(siblings)} combination(s) run as "
                    + ", ".join(f"#{s.number}" for s in siblings)
                )
            else:
                self.log.note("Matrix: " + _describe(job.matrix))
            return dict(job.matrix)
        if first and job.group_id and actual:
            siblings = expand_matrix(job, actual)
            if siblings:
                self.log.note(
                    f"This commit's matrix has {len(siblings)} more combination(s): "
                    + ", ".join(f"#{s.number}" for s in siblings)
                )
        if job.matrix not in actual:
            if first and job.group_id and not actual:
                # The matrix is gone from the file: the first job runs the plain pipeline.
                Job.objects.filter(pk=job.pk).update(matrix={})
                job.matrix = {}
                return {}
            raise NotInMatrix(f"{_describe(job.matrix)} is not in this commit's matrix")
        self.log.note("Matrix: " + _describe(job.matrix))
        return dict(job.matrix)

    def base_variables(self, pipeline, matrix):
        """The environment variables every step gets."""
        job = self.job
        variables = {
            "CI": "true",
            "HERALD": "true",
            "HERALD_REPO": self.repository.full_name,
            "HERALD_COMMIT": job.commit,
            "HERALD_BRANCH": job.branch,
            "HERALD_TAG": job.tag,
            "HERALD_EVENT": job.event,
            "HERALD_JOB_NUMBER": str(job.number),
            "HERALD_JOB_URL": job.absolute_url(),
            # 2 and more: the job was put back in the queue (builds.drain).
            "HERALD_ATTEMPT": str(job.attempts),
        }
        if job.event == C.PULL_REQUEST:
            variables.update(
                {
                    "HERALD_PULL_REQUEST": str(job.pr_number or ""),
                    "HERALD_SOURCE_BRANCH": job.source_branch,
                    "HERALD_TARGET_BRANCH": job.target_branch,
                }
            )
        variables.update(pipeline.env)
        # Run-now values over the file's defaults (a push gets the defaults);
        # a value the file no longer allows is a ParameterError: errored.
        variables.update(parameters.environment(pipeline.parameters, job.params))
        variables.update(matrix)
        return variables

    # --- the steps -------------------------------------------------------------

    def execute(self, pipeline, docker_env, matrix, secrets):
        job = self.job
        steps = pipeline.steps
        JobStep.objects.bulk_create(JobStep(job=job, number=i + 1, name=s.name[:100]) for i, s in enumerate(steps))
        rows = list(JobStep.objects.filter(job=job).order_by("number"))
        filtered = [self.filtered(s) for s in steps]
        carried = self.carry_over(rows)
        selected = [not why and i >= carried for i, why in enumerate(filtered)]
        for step, row, why in zip(steps[carried:], rows[carried:], filtered[carried:]):
            if why:
                set_step(row, C.SKIPPED)
                self.log.note(f"Step {step.name}: skipped ({why})")
        if not any(selected):
            if any(why == PATH_FILTERED for why in filtered):
                why = f"{paths.count(self.changed)}, none matching their when.path"
                return C.SKIPPED, None, f"Every step was filtered out by when: ({why})"
            return C.SKIPPED, None, "Every step was filtered out by when:"

        variables = self.base_variables(pipeline, matrix)
        failure = None  # (status, exit_code, reason) of the first step that did not succeed
        stopped = None
        broken = False  # Herald could not even set up: run nothing, not even always: steps
        try:
            docker_env.check_stop()
            docker_env.start_services(pipeline.services)
        except Stopped as e:
            stopped = e.reason
        except BuildError as e:
            self.log.note(f"Error: {e}")
            failure, broken = (C.ERRORED, None, str(e)), True

        total = len(steps)
        for i, (step, row, chosen) in enumerate(zip(steps, rows, selected)):
            if not chosen:
                continue
            if stopped or broken or (failure and not step.always):
                set_step(row, C.SKIPPED)
                why = "the job was stopped" if stopped else "an earlier step failed"
                self.log.note(f"Step {step.name}: skipped ({why})")
                continue
            status, exit_code, reason, stop = self.run_step(i + 1, total, step, row, docker_env, variables, secrets)
            if stop:
                stopped = stop
            elif status != C.SUCCESS and failure is None:
                failure = (status, exit_code, reason)

        if not stopped and not broken:
            # Pass or fail, the build's own word on its tests; never its status.
            reports.collect(job, pipeline.reports, docker_env, self.log, [value for value, _ in secrets.values()])
            artifacts.collect(
                job, pipeline.artifacts, failure is None, docker_env, self.log, [v for v, _ in secrets.values()]
            )
        if stopped or failure:
            docker_env.report_services()
        if stopped:
            return self.stop_outcome(stopped)
        if failure:
            return failure
        return C.SUCCESS, 0, ""

    def filtered(self, step):
        """Why `step`'s when: leaves it out of this job, or ""."""
        if step.when is None:
            return ""
        if not step.when.matches(self.job):
            return f"its when: does not match this {self.job.event}"
        if not paths.step_runs(step.when.path, self.changed):
            return PATH_FILTERED
        return ""

    def run_step(self, number, total, step, row, docker_env, variables, secrets):
        """Run one step; returns (status, exit_code, reason, stop reason)."""
        first_seq = self.log.section()
        started = time.monotonic()
        self.log.grace.call(
            JobStep.objects.filter(pk=row.pk).update,
            status=C.RUNNING,
            started_at=timezone.now(),
            first_seq=first_seq,
            what="starting a step",
        )
        what = "docker build" if step.build else step.image
        self.log.note(f"==> Step {number}/{total}: {step.name} ({what})")
        stop = None
        try:
            if step.build:
                result = docker_env.build(number, step.build["context"], step.build["dockerfile"])
            else:
                step_variables = {**variables, **step.env, **self.step_secrets(step, secrets)}
                result = docker_env.run(
                    step.name,
                    step.image,
                    render_script(step.commands),
                    env=step_variables,
                    user=settings.HERALD_BUILD_USER,
                )
            stop = result.stopped or self.watchdog.step_ended()
            if stop:
                status, exit_code, reason = self.stop_outcome(stop)
            elif result.oom:
                status, exit_code = C.FAILED, result.exit_code
                reason = f"Step {step.name} ran out of memory"
            elif result.exit_code == 0:
                status, exit_code, reason = C.SUCCESS, 0, ""
            else:
                status, exit_code = C.FAILED, result.exit_code
                reason = f"Step {step.name} exited with code {result.exit_code}"
        except Stopped as e:
            stop = e.reason
            status, exit_code, reason = self.stop_outcome(stop)
        except BuildError as e:
            status, exit_code, reason = C.ERRORED, None, f"Step {step.name}: {e}"
            self.log.note(f"Error: {e}")
        self.log.grace.call(set_step, row, status, exit_code, what="ending a step")
        code = f" with exit code {exit_code}" if exit_code not in (None, 0) else ""
        shown = "stopped" if status == C.QUEUED else status  # to run again (builds.drain)
        self.log.note(f"Step {step.name}: {shown}{code} in {time.monotonic() - started:.1f} s")
        return status, exit_code, reason, stop

    def step_secrets(self, step, secrets):
        out = {}
        for name in step.secrets:
            value, exposed = secrets[name]
            if exposed:
                out[name] = value
            else:
                self.log.note(f"Secret {name} is not given to this step: the pull request comes from a fork")
        return out

    def stop_outcome(self, stopped):
        if stopped == STOP_CANCEL:
            # Keep who or what asked ("Cancelled by ada", "Superseded by #7").
            reason = Job.objects.filter(pk=self.job.pk).values_list("reason", flat=True).first()
            return C.CANCELLED, None, reason or "Cancelled"
        if stopped == STOP_TIMEOUT:
            return C.TIMED_OUT, None, f"Stopped after the {format_duration(self.timeout)} timeout"
        if stopped == STOP_QUOTA:
            return C.ERRORED, None, self.watchdog.quota.reason
        if stopped == STOP_DRAIN:
            if drain.hurried():
                why = "was told to stop at once"
            else:
                why = (
                    f"was shutting down and the build did not end within "
                    f"{format_duration(settings.HERALD_DRAIN_SECONDS)} (HERALD_DRAIN_SECONDS)"
                )
            return C.QUEUED, None, f"Stopped: the worker {self.job.worker} {why}"
        return C.ERRORED, None, "The job was taken from this worker"


def record_end(job, status, exit_code, reason):
    with transaction.atomic():
        close_steps(job, status)
        job.finish(status, exit_code=exit_code, reason=reason)


def set_step(row, status, exit_code=None):
    fields = {"status": status, "exit_code": exit_code}
    if status != C.SKIPPED:
        fields["finished_at"] = timezone.now()
    JobStep.objects.filter(pk=row.pk).update(**fields)


def close_steps(job, job_status):
    """No step stays queued or running once the job has ended, whatever
    ended it (a crash, the reaper)."""
    running_as = job_status if job_status in (C.CANCELLED, C.TIMED_OUT) else C.ERRORED
    now = timezone.now()
    JobStep.objects.filter(job=job, status=C.RUNNING).update(status=running_as, finished_at=now)
    JobStep.objects.filter(job=job, status=C.QUEUED).update(status=C.SKIPPED)


def _describe(values):
    return " ".join(f"{k}={v}" for k, v in values.items())


def render_script(commands):
    """A POSIX sh script that echoes each command before running it."""
    lines = []
    for command in commands:
        lines.append(f"printf '%s\\n' {shlex.quote('$ ' + command)}")
        lines.append(command)
    return "\n".join(lines) + "\n"
