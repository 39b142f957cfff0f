"""A local run: the server's Runner, fed from the user's working tree.

LocalRunner is builds.runner.Runner with a few parts swapped: the checkout
is a copy of the working tree (builds.localrun.tree) instead of a clone,
the secrets come from the command line, the matrix combination and the
steps are the ones asked for, runs_on: is not a reason to hand the job
back (this machine is the only worker), and path filters let every step
run (there is no push to compare with). Everything else — the
pipeline's reading, the Docker environment and its containment, the
steps, masking, the log — is the server's own code, so a local run
behaves as a build on a server does. The log is printed as it is stored
(LogWriter's output), so the terminal shows exactly the server's log.

The Job, JobStep and LogChunk rows live in the throwaway SQLite database
the launcher made (builds.localrun.launcher): created here table by table
from the models, in 0.04 s, where running the migrations takes 2 s.

Ctrl-C (SIGINT, or SIGTERM) cancels the running job the way the server's
Cancel button does (Job.request_cancel; the watchdog stops the step and
everything is removed), and the run exits 130. A second one stops at once
(KeyboardInterrupt: Runner.run still removes the containers on its way out).
"""

import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection
from docker.errors import DockerException

from builds import constants as C
from builds.docker.client import docker_client
from builds.docker.image_build import cache_repository
from builds.docker.objects import remove_instance_objects
from builds.errors import DockerUnavailable
from builds.lint import lint_path
from builds.localrun import options, tree
from builds.models import Job
from builds.runner import Runner
from repositories.models import Repository

EXIT_CODES = {C.SUCCESS: 0, C.SKIPPED: 0, C.FAILED: 1, C.ERRORED: 2, C.TIMED_OUT: 3, C.CANCELLED: 3}
INTERRUPTED = 130
log = logging.getLogger(__name__)

HERALD_MARK = "\033[1;36m[herald]\033[0m"


class LocalRunner(Runner):
    def __init__(self, job, source, *, secrets=None, steps=(), timeout=None, output=None):
        self.source = source
        self.given_secrets = secrets or {}
        self.only_steps = set(steps)
        self.forced_timeout = timeout
        self.log_output = output
        super().__init__(job)

    def timeout_seconds(self, pipeline=None):
        return self.forced_timeout or super().timeout_seconds(pipeline)

    def checkout(self, workspace, deadline):
        count = tree.copy_tree(self.source, workspace)
        if tree.is_work_tree(self.source):
            self.log.note(f"Working tree {self.source}: {count} files, uncommitted changes included")
        else:
            self.log.note(f"Folder {self.source} (not a git work tree): {count} files and folders")

    def files_changed(self, workspace, deadline):
        self.log.note("Changed files unknown (a local run has no push to compare with): every step runs")
        return None

    def route(self, pipeline, matrix):
        runs_on = pipeline.for_combination(matrix).runs_on
        if runs_on:
            self.log.note(f"runs_on: {', '.join(runs_on)} is not checked: a local run uses this machine")

    def load_secrets(self):
        secrets = {name: (value, True) for name, value in self.given_secrets.items()}
        self.log.set_secrets(list(self.given_secrets.values()))
        return secrets

    def matrix_values(self, pipeline):
        if self.job.matrix:
            self.log.note("Matrix: " + _shown(self.job.matrix))
        return dict(self.job.matrix)

    def filtered(self, step):
        if self.only_steps and step.name not in self.only_steps:
            return "--step"
        return super().filtered(step)


class Interrupt:
    """Ctrl-C and SIGTERM: the first cancels the running job, the next stops at once."""

    def __init__(self):
        self.signum = None
        self.job_id = None

    def install(self):
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.handle)

    def handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        # Not here: the main thread may be inside a query on its connection.
        threading.Thread(target=self.cancel, daemon=True).start()

    def cancel(self):
        try:
            if self.job_id is not None:
                job = Job.objects.filter(pk=self.job_id).first()
                if job is not None:
                    job.request_cancel(f"Cancelled: interrupted ({signal.Signals(self.signum).name})")
        finally:
            connection.close()


def create_tables():
    with connection.schema_editor() as editor:
        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy:
                editor.create_model(model)


def terminal(stream):
    """LogWriter's output for `stream`: Herald's own colour only on a terminal."""
    colour = stream.isatty()
    closed = []

    def write(text):
        if closed:
            return
        if not colour:
            text = text.replace(HERALD_MARK, "[herald]")
        try:
            stream.buffer.write(text.encode("utf-8", errors="replace"))
            stream.flush()
        except BrokenPipeError:
            # `herald exec | head`: the reader has gone, the build goes on to
            # its end (and its exit code); Python's own last flush must not fail.
            closed.append(True)
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())

    return write


def run(
    path=".",
    *,
    step=(),
    param=(),
    secret=(),
    secrets_file=None,
    matrix=(),
    event=C.PUSH,
    branch=None,
    tag=None,
    timeout=None,
    stdout=None,
):
    """Run the pipeline of the working tree at `path`; returns the exit code
    (raises options.UsageError for a bad option or pipeline)."""
    stdout = stdout or sys.stdout
    root = Path(path).resolve()
    if not root.is_dir():
        raise options.UsageError(f"{path}: not a directory")
    if Path(settings.WORKSPACE_DIR).is_relative_to(root):
        raise options.UsageError(f"{path}: holds the run's own temporary directory; give a checkout")
    given_secrets = options.secrets(secret, secrets_file)
    result = lint_path(root, set(given_secrets))
    if not result.valid:
        raise options.UsageError(str(result.error))
    pipeline = result.pipeline
    combinations = options.combinations(pipeline, matrix)
    only_steps = options.steps(pipeline, step)
    values = options.params(pipeline, param)
    seconds = options.timeout(timeout)
    trigger = trigger_of(tree.head(root), event, branch, tag)

    create_tables()
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", root.name) or "checkout"
    repository = Repository.objects.create(provider="git", full_name=f"local/{name}", clone_url=str(root))
    interrupt = Interrupt()
    interrupt.install()
    output = terminal(stdout)

    def run_one(number, combination):
        job = Job.objects.create(repository=repository, number=number, params=values, matrix=combination, **trigger)
        interrupt.job_id = job.pk
        if interrupt.signum is not None or not job.claim(settings.HERALD_HOSTNAME):
            return C.CANCELLED
        return LocalRunner(job, root, secrets=given_secrets, steps=only_steps, timeout=seconds, output=output).run()

    results = []
    try:
        for number, combination in enumerate(combinations, 1):
            if interrupt.signum is not None:
                break
            if len(combinations) > 1:
                gap = "\n" if number > 1 else ""
                output(f"{gap}{HERALD_MARK} === Job {number} of {len(combinations)}: {_shown(combination)} ===\n")
            results.append((combination, run_one(number, combination)))
    except KeyboardInterrupt:
        return INTERRUPTED
    finally:
        _remove_leftovers(repository)
    if interrupt.signum is not None:
        return INTERRUPTED
    if len(results) > 1:
        output(f"{HERALD_MARK} " + "; ".join(f"{_shown(c)}: {status}" for c, status in results) + "\n")
    # Several jobs: the worst of them.
    return max(EXIT_CODES.get(status, options.USAGE_EXIT) for _, status in results)


def _shown(combination):
    return " ".join(f"{k}={v}" for k, v in combination.items())


def trigger_of(head, event, branch, tag):
    """The job's trigger fields, as a push, pull request or tag of HEAD
    would make them (what when: filters look at)."""
    fields = {"event": event, "commit": head.commit, "message": head.message[:2000], "author": head.author[:255]}
    if event == C.TAG:
        tag = tag or head.tag
        if not tag:
            raise options.UsageError("--event tag: no tag points at HEAD; give --tag NAME")
        return {**fields, "tag": tag, "ref": f"refs/tags/{tag}"}
    branch = branch or head.branch
    if event == C.PULL_REQUEST:
        return {**fields, "branch": head.branch, "source_branch": head.branch, "target_branch": branch}
    return {**fields, "branch": branch, "ref": f"refs/heads/{branch}" if branch else ""}


def _remove_leftovers(repository):
    """What this installation made beside its jobs' objects (Runner.run
    removed those): the isolated network and the sandbox every server keeps
    for its life, and the tags `build:` steps gave their images as the
    repository's build cache (the layers stay, as cache)."""
    try:
        client = docker_client(timeout=30)
    except DockerUnavailable:
        return
    try:
        remove_instance_objects(client, settings.HERALD_INSTANCE)
        for image in client.images.list(name=cache_repository(repository.pk)):
            for image_tag in image.tags:
                client.images.remove(image_tag, noprune=True)
    except DockerException as e:
        log.warning("could not remove all of this run's Docker objects: %s", e)
    finally:
        client.close()
