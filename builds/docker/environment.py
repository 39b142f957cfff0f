"""Everything a job does with Docker, as a context manager.

Containers, the job's network and its workspace volume are named
predictably (herald-<instance>-job-<id>[-<what>]) and labelled with the job,
stale ones are removed on entry, and on exit everything the job created is
killed and removed whatever happened — including when django-q2's task
timeout raises inside us. The reaper finds leftovers of dead workers by the
same labels.

The environment drives the job's services, its step containers and its
`docker build` steps; the network (network.py), the workspace volume
(workspace.py), images (images.py) and the build itself (image_build.py)
each live in a module of their own.
"""

import json
import logging
import os
import threading

from django.conf import settings
from docker import errors as derrors

from builds.docker.client import create_container, kill, shared_client, short_error
from builds.docker.image_build import DockerBuild, build_context, cache_sources, keep_as_cache
from builds.docker.images import Images
from builds.docker.limits import build_limits, containment_options
from builds.docker.network import JobNetwork
from builds.docker.objects import LABEL_PID, LABEL_ROLE, job_labels, object_name, remove_job_objects
from builds.docker.usage import JobUsage
from builds.docker.workspace import WORKSPACE, Workspace, workspace_on_host
from builds.errors import BuildError

log = logging.getLogger(__name__)

# The cheapest way to tell a stopped build from a finished one. STOP_DRAIN:
# the worker is shutting down and the drain time is over (builds.drain);
# STOP_QUOTA: the build wrote more than HERALD_WORKSPACE_MAX_BYTES (builds.quota).
STOP_CANCEL, STOP_TIMEOUT, STOP_LOST, STOP_DRAIN = "cancelled", "timed_out", "lost", "drain"
STOP_QUOTA = "quota"


class StepResult:
    def __init__(self, exit_code=None, stopped=None, oom=False):
        self.exit_code = exit_code
        self.stopped = stopped  # None, or one of STOP_*
        self.oom = oom


class Stopped(Exception):
    """The watchdog said stop (cancel, timeout, lost) while we were not
    inside a step: pulling an image, starting services."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class DockerEnv:
    def __init__(self, job, log_writer, watchdog, checkout=None):
        self.job = job
        self.log = log_writer
        self.watchdog = watchdog
        self.checkout = checkout  # the worker's directory holding the clone
        self.client = None
        self.labels = {**job_labels(job.pk), LABEL_PID: str(os.getpid())}
        self.images_built = []
        self.services = []
        # Set up by open(): they talk to the engine.
        self.images = self.network = self.workspace = self.usage = None

    # --- lifecycle -----------------------------------------------------------

    def open(self):
        # Nothing of this job can exist yet on its first attempt, so no
        # listing on the hot path: a stale container name is handled where
        # it is created. A job put back in the queue may have left its
        # network and volume here (a worker killed, the reaper not yet by).
        self.client = shared_client()
        if self.job.attempts > 1:
            remove_job_objects(self.client, self.job.pk)
        self.images = Images(self.client, self.log, self.check_stop)
        self.network = JobNetwork(self.client, self.job.pk, self._labels("network"))
        self.workspace = Workspace(self.client, self.job.pk, self.checkout, self._labels("workspace"))
        self.usage = JobUsage(self.client, self.job.pk, self.workspace, self._labels("meter"))
        return self

    __enter__ = open

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def cleanup(self, keep_workspace=False):
        """Remove everything the job made; with `keep_workspace`, all but
        its workspace volume (a failed build's, kept for a retry: builds.retry)."""
        try:
            if self.usage is not None:
                self.usage.stop_meter()
            remove_job_objects(self.client, self.job.pk, keep_volumes=keep_workspace)
            for tag in self.images_built:
                # Drop the tag but keep the layers: the next build of the
                # repository reuses them as cache.
                try:
                    self.client.images.remove(tag, noprune=True)
                except derrors.APIError:
                    pass
        except Exception:
            log.exception("cleanup of job %s failed", self.job.pk)

    def adopt_workspace(self, old_job_id):
        """Take over the workspace a failed job kept (builds.retry): its
        checkout directory is already ours (the runner renamed it), its
        volume's contents become our volume's, and its Docker objects go."""
        if self.workspace.on_volume_of(old_job_id) and not workspace_on_host():
            self.images.ensure(settings.HERALD_QUOTA_IMAGE)
        self.workspace.adopt(old_job_id)
        remove_job_objects(self.client, old_job_id)

    def _labels(self, role):
        return {**self.labels, LABEL_ROLE: role}

    def check_stop(self):
        stopped = self.watchdog.tick()
        if stopped:
            raise Stopped(stopped)

    # --- services --------------------------------------------------------------

    def start_services(self, services):
        if services:
            self.network.own = True
        for service in services:
            self.check_stop()
            self.images.ensure(service.image)
            net = self.network.bridge()
            kwargs = {}
            if service.command:
                kwargs["command"] = service.command
            container = create_container(
                self.client,
                service.image,
                object_name(self.job.pk, f"svc-{service.name}"),
                what=f"service {service.name}",
                hostname=service.name,
                environment=service.env,
                labels=self._labels("service"),
                network=net,
                networking_config={net: self.client.api.create_endpoint_config(aliases=[service.name])},
                **containment_options(),
                **kwargs,
            )
            try:
                container.start()
            except derrors.APIError as e:
                raise BuildError(f"Service {service.name} could not start: {short_error(e)}") from None
            self.services.append((service.name, container))
            self.log.note(f"Service {service.name} started ({service.image})")

    def report_services(self, tail=20):
        """Tell the log about services that stopped during the build: the
        usual cause of a step's 'connection refused'."""
        for name, container in self.services:
            try:
                container.reload()
                state = container.attrs.get("State", {})
                if state.get("Running"):
                    continue
                self.log.note(f"Service {name} exited with code {state.get('ExitCode')}; its last lines:")
                self.log.write_bytes(container.logs(tail=tail))
                self.log.section()
            except derrors.APIError:
                continue

    # --- running a command container ----------------------------------------

    def prepare_workspace(self, image, user=""):
        if self.workspace.volume is None:
            self.workspace.prepare(image, user or (self.images.config(image).get("User") or ""))
        if settings.HERALD_WORKSPACE_MAX_BYTES:
            self.usage.start_meter(self.images)

    def run(self, key, image, script, *, env=None, user=""):
        self.images.ensure(image)
        network = self.network.step_options(image)
        self.prepare_workspace(image, user)
        container = create_container(
            self.client,
            image,
            object_name(self.job.pk, f"step-{key}"),
            entrypoint=["/bin/sh", "-e", "-c"],
            command=[script],
            working_dir=WORKSPACE,
            environment=env or {},
            labels=self._labels("step"),
            volumes=self.workspace.mounts(),
            user=user or None,
            **network,
            **containment_options(),
        )
        try:
            # Attached before it starts, like `docker run`: following the
            # log of a running container can miss the last output of one
            # that exits at that moment.
            stream = container.attach(stdout=True, stderr=True, stream=True, logs=True)
            container.start()
        except derrors.APIError as e:
            raise BuildError(f"Docker could not start the build container: {short_error(e)}") from None
        stopped = self._pump(stream, on_stop=lambda: kill(container))
        try:
            result = container.wait(timeout=30)
            exit_code = result.get("StatusCode")
            oom = False
            if exit_code == 137:  # SIGKILL: the kernel's OOM killer, or us
                container.reload()
                oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
        except Exception as e:
            if stopped:
                return StepResult(stopped=stopped)
            raise BuildError(f"Lost the build container: {short_error(e)}") from None
        # The container stays until cleanup (after the job's result is
        # saved): the volume carries the workspace on to the next step.
        return StepResult(exit_code=exit_code, stopped=stopped, oom=oom)

    def _pump(self, stream, on_stop):
        """Copy a byte stream into the log until it ends or the watchdog
        says stop; returns the stop reason or None."""
        done = threading.Event()
        failure = []

        def reader():
            try:
                for data in stream:
                    self.log.write_bytes(data)
            except Exception as e:  # the stream is closed under us on stop
                failure.append(e)
            finally:
                done.set()

        thread = threading.Thread(target=reader, name=f"log-job-{self.job.pk}", daemon=True)
        thread.start()
        stopped = None
        while not done.wait(self.watchdog.tick_interval):
            stopped = self.watchdog.tick()
            if stopped:
                on_stop()
                done.wait(10)
                break
        thread.join(timeout=5)
        return stopped

    # --- docker build ----------------------------------------------------------

    def build(self, key, context="", dockerfile="Dockerfile"):
        """docker build of the workspace; the build output is the log.

        The context is the checkout on the worker, or — once a command step
        has run — the shared workspace volume, so a build step sees what
        earlier steps produced. Returns StepResult: exit_code 0 on success,
        the failing RUN's code (or 1) on failure.
        """
        self.check_stop()
        archive, dockerfile = build_context(self.workspace, context, dockerfile)
        tag = f"{object_name(self.job.pk, f'image-{key}')}:latest"
        params = {
            "t": tag,
            "rm": True,
            "forcerm": True,
            "pull": False,
            "dockerfile": dockerfile,
            "labels": json.dumps(job_labels(self.job.pk)),
            "networkmode": self.network.build_mode(),
            "cachefrom": json.dumps(cache_sources(self.client, self.job.repository_id)),
        }
        params.update(build_limits())
        build = DockerBuild(archive, params, self.job.pk)
        build.start()
        self.images_built.append(tag)
        try:
            stopped = self._pump(build.output(), on_stop=build.interrupt)
        finally:
            build.close()
        if stopped:
            return StepResult(stopped=stopped)
        if build.error:
            return StepResult(exit_code=build.code or 1)
        keep_as_cache(self.client, self.job, tag, key)
        return StepResult(exit_code=0)
