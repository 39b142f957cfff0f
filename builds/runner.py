"""Running one claimed job: checkout → pipeline → Docker → final status."""

import logging
import shlex
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from builds import constants as C
from builds.docker_env import STOP_CANCEL, STOP_LOST, STOP_TIMEOUT, DockerEnv
from builds.errors import BuildError
from builds.git import fetch_commit
from builds.logwriter import LogWriter
from builds.models import Job
from builds.pipeline import load_pipeline

log = logging.getLogger(__name__)


# Jobs this process is running; the housekeeping thread beats their
# heartbeats (so a long clone or pull is not mistaken for a dead worker).
ACTIVE = set()


def beat_active():
    if ACTIVE:
        Job.objects.filter(pk__in=list(ACTIVE), status=C.RUNNING).update(heartbeat_at=timezone.now())


class Supervisor:
    """Called from every wait loop: flushes the log and says whether the job
    must stop (cancelled, timed out, or taken from us by the reaper)."""

    tick_interval = 0.1

    def __init__(self, job, log_writer, deadline):
        self.job = job
        self.log = log_writer
        self.deadline = deadline
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
        elif now >= self.next_cancel_check:
            self.next_cancel_check = now + 1.0
            row = Job.objects.filter(pk=self.job.pk).values("status", "cancel_requested").first()
            if row is None or row["status"] != C.RUNNING:
                self.stopped = STOP_LOST
            elif row["cancel_requested"]:
                self.stopped = STOP_CANCEL
        return self.stopped


def workspace_for(job):
    return Path(settings.WORKSPACE_DIR) / f"job-{job.pk}"


def remove_workspace(path):
    shutil.rmtree(path, ignore_errors=True)


class Runner:
    def __init__(self, job):
        self.job = job
        self.repository = job.repository

    def timeout_seconds(self, pipeline=None):
        seconds = self.repository.build_timeout * 60
        if pipeline is not None and pipeline.timeout:
            seconds = pipeline.timeout
        return min(seconds, settings.HERALD_MAX_TIMEOUT_MINUTES * 60)

    def run(self):
        job = self.job
        writer = LogWriter(job, fresh=True)
        started = time.monotonic()
        supervisor = Supervisor(job, writer, started + self.timeout_seconds())
        workspace = workspace_for(job)
        status, exit_code, reason = C.ERRORED, None, "Herald stopped unexpectedly"
        ACTIVE.add(job.pk)
        env = None
        try:
            remove_workspace(workspace)
            workspace.parent.mkdir(parents=True, exist_ok=True)
            writer.note(f"Job #{job.number} of {self.repository.full_name} on {job.worker}, commit {job.commit}")
            fetch_commit(
                job.source_url or self.repository.clone_url, job.commit, workspace,
                ref=job.ref, log=writer, timeout=max(30, int(supervisor.deadline - time.monotonic())),
                env=self.repository.clone_env() if not job.source_url else None,
            )
            supervisor.tick()
            pipeline = load_pipeline(workspace)
            supervisor.deadline = started + self.timeout_seconds(pipeline)
            writer.note(f"Build definition: {pipeline.source}")
            env = DockerEnv(job, writer, supervisor).open()
            status, exit_code, reason = self.execute(pipeline, env, workspace)
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
            try:
                if status == C.SUCCESS:
                    writer.note(f"Done in {time.monotonic() - started:.1f} s: success")
                writer.close()
            except Exception:
                log.exception("job %s: could not store the end of the log", job.pk)
            close_old_connections()
            # The result first (users wait for it), the cleanup after: if the
            # worker dies in between, the sweeper removes what is left.
            job.finish(status, exit_code=exit_code, reason=reason)
            ACTIVE.discard(job.pk)
            if env is not None:
                env.cleanup()
            remove_workspace(workspace)
        return status

    def execute(self, pipeline, env, workspace):
        step = pipeline.steps[0]
        if step.build:
            context = workspace / step.build["context"]
            result = env.build(step.name, str(context), dockerfile=step.build["dockerfile"])
        else:
            script = render_script(step.commands)
            result = env.run(step.name, step.image, script, env={**pipeline.env, **step.env, "CI": "true", "HERALD": "true"},
                             workspace=workspace)
        return outcome(result, self.timeout_seconds(pipeline))


def render_script(commands):
    """A POSIX sh script that echoes each command before running it."""
    lines = []
    for command in commands:
        lines.append(f"printf '%s\\n' {shlex.quote('$ ' + command)}")
        lines.append(command)
    return "\n".join(lines) + "\n"


def outcome(result, timeout_seconds):
    """Map a step result to (status, exit_code, reason)."""
    if result.stopped == STOP_CANCEL:
        return C.CANCELLED, None, "Cancelled"
    if result.stopped == STOP_TIMEOUT:
        return C.TIMED_OUT, None, f"Stopped after the {format_duration(timeout_seconds)} timeout"
    if result.stopped == STOP_LOST:
        return C.ERRORED, None, "The job was taken from this worker"
    if result.oom:
        return C.FAILED, result.exit_code, "Out of memory"
    if result.exit_code == 0:
        return C.SUCCESS, 0, ""
    return C.FAILED, result.exit_code, f"Exited with code {result.exit_code}"


def format_duration(seconds):
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
