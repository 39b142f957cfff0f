"""Everything a job does with Docker, as a context manager.

Containers are named predictably (herald-job-<id>-<step>) and labelled with
the job, stale ones are removed on entry, and on exit everything the job
created is killed and removed whatever happened — including when django-q2's
task timeout raises inside us.
"""

import json
import logging
import os
import socket
import threading
import time

import docker
from django.conf import settings
from docker import errors as derrors

from builds import constants as C
from builds.errors import BuildError, DockerUnavailable

log = logging.getLogger(__name__)

# The cheapest way to tell a stopped build from a finished one.
STOP_CANCEL, STOP_TIMEOUT, STOP_LOST = "cancelled", "timed_out", "lost"


def docker_client(timeout=120):
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as e:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise DockerUnavailable(f"Docker engine unreachable at {where}: {_short(e)}") from None


_shared = {"client": None, "pid": None, "checked": 0.0}


def shared_client():
    """One client per worker process, kept between jobs: a build's start
    latency is part of what users wait for. Re-checked after an idle spell,
    so a restarted engine is noticed before a job depends on it."""
    now = time.monotonic()
    client = _shared["client"]
    if client is not None and _shared["pid"] == os.getpid():
        if now - _shared["checked"] < 30:
            _shared["checked"] = now
            return client
        try:
            client.ping()
            _shared["checked"] = now
            return client
        except Exception:
            pass
    client = docker_client()
    _shared.update(client=client, pid=os.getpid(), checked=now)
    return client


def _short(e):
    text = getattr(e, "explanation", None) or str(e)
    return str(text).strip().splitlines()[-1][:300] if str(text).strip() else type(e).__name__


class StepResult:
    def __init__(self, exit_code=None, stopped=None, oom=False):
        self.exit_code = exit_code
        self.stopped = stopped  # None, or one of STOP_*
        self.oom = oom


class DockerEnv:
    def __init__(self, job, log_writer, supervisor):
        self.job = job
        self.log = log_writer
        self.supervisor = supervisor
        self.client = None
        self.labels = job_labels(job.pk)
        self.images_built = []

    # --- lifecycle -----------------------------------------------------------

    def open(self):
        # Leftovers of this job can only come from a crash, and then the name
        # conflict in _create removes them; no listing on the hot path.
        self.client = shared_client()
        return self

    __enter__ = open

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def cleanup(self):
        try:
            self.remove_job_objects()
            for tag in self.images_built:
                # Drop the tag but keep the layers: the next build of the
                # repository reuses them as cache; the reaper prunes old ones.
                try:
                    self.client.images.remove(tag, noprune=True)
                except derrors.APIError:
                    pass
        except Exception:
            log.exception("cleanup of job %s failed", self.job.pk)

    def remove_job_objects(self):
        remove_job_objects(self.client, self.job.pk)

    # --- images --------------------------------------------------------------

    def ensure_image(self, image):
        try:
            self.client.images.get(image)
            return
        except derrors.ImageNotFound:
            pass
        except derrors.APIError as e:
            raise BuildError(f"Docker could not look up image {image}: {_short(e)}") from None
        if settings.HERALD_PULL_POLICY == "never":
            raise BuildError(f"Image {image} is not on the worker and HERALD_PULL_POLICY=never.")
        self.log.note(f"Pulling {image}")
        repo, tag = _split_image(image)
        try:
            last = None
            for event in self.client.api.pull(repo, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise BuildError(f"Pulling {image} failed: {event['error']}")
                status = event.get("status", "")
                if status and status != last and "Downloading" not in status and "Extracting" not in status:
                    self.log.write(f"{event.get('id', '') + ': ' if event.get('id') else ''}{status}\n")
                    last = status
                self.supervisor.tick()
        except derrors.APIError as e:
            raise BuildError(f"Pulling {image} failed: {_short(e)}") from None
        except derrors.DockerException as e:
            raise BuildError(f"Pulling {image} failed: {_short(e)}") from None

    # --- running a command container ----------------------------------------

    def _create(self, image, name, **options):
        """containers.create, pulling the image only when the engine lacks it
        and replacing a stale container of the same name."""
        for attempt in range(3):
            try:
                return self.client.containers.create(image, name=name, labels=self.labels, detach=True, **options)
            except derrors.ImageNotFound:
                if attempt:
                    raise BuildError(f"Image {image} not found.") from None
                self.ensure_image(image)
            except derrors.APIError as e:
                if e.status_code == 409 and attempt == 0:
                    try:
                        self.client.containers.get(name).remove(force=True)
                    except derrors.NotFound:
                        pass
                    continue
                raise BuildError(f"Docker could not create the build container: {_short(e)}") from None
        raise BuildError(f"Docker could not create the build container {name}.")

    def run(self, step, image, script, *, env=None, workspace, network=None):
        name = object_name(self.job.pk, step)
        container = self._create(
            image, name,
            entrypoint=["/bin/sh", "-e", "-c"],
            command=[script],
            working_dir="/repo",
            environment=env or {},
            volumes={str(workspace): {"bind": "/repo", "mode": "rw"}},
            network=network,
            **containment_options(),
        )
        # Attach before starting, as `docker run` does: following the logs of
        # a container that exits at once can miss its last output.
        stream = container.attach(stdout=True, stderr=True, stream=True, logs=True)
        try:
            container.start()
        except derrors.APIError as e:
            raise BuildError(f"Docker could not start the build container: {_short(e)}") from None
        stopped = self._pump(stream, on_stop=lambda: _kill(container))
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
            raise BuildError(f"Lost the build container: {_short(e)}") from None
        return StepResult(exit_code=exit_code, stopped=stopped, oom=oom)

    def _pump(self, stream, on_stop):
        """Copy a byte stream into the log until it ends or the supervisor
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
        while not done.wait(self.supervisor.tick_interval):
            stopped = self.supervisor.tick()
            if stopped:
                on_stop()
                done.wait(10)
                break
        thread.join(timeout=5)
        return stopped

    # --- docker build ----------------------------------------------------------

    def build(self, step, context_dir, dockerfile="Dockerfile", tag=None):
        """docker build of the checkout; the build output is the log.

        Returns StepResult: exit_code 0 on success, the failing RUN's code (or
        1) on failure.
        """
        # A client of its own with no read timeout: a silent RUN step may
        # take longer than any sensible API timeout.
        api = docker.from_env(timeout=None).api
        tag = tag or f"{object_name(self.job.pk, step)}:latest"
        exclude = None
        dockerignore = os.path.join(context_dir, ".dockerignore")
        if os.path.isfile(dockerignore) and not os.path.islink(dockerignore):
            with open(dockerignore, errors="replace") as f:
                exclude = [ln.strip() for ln in f.read().splitlines() if ln.strip() and not ln.startswith("#")]
        try:
            context = docker.utils.tar(context_dir, exclude=exclude)
        except Exception as e:
            api.close()
            raise BuildError(f"Could not pack the build context: {_short(e)}") from None
        params = {"t": tag, "rm": True, "forcerm": True, "pull": False, "dockerfile": dockerfile,
                  "labels": json.dumps(self.labels)}
        try:
            # The low-level call, so the response can be shut down on cancel
            # (dockerd abandons a build whose client went away).
            response = api._post(api._url("/build"), data=context, params=params,
                                 headers={"Content-Type": "application/tar"}, stream=True, timeout=None)
            api._raise_for_status(response)
        except derrors.APIError as e:
            api.close()
            raise BuildError(f"Docker refused the build: {_short(e)}") from None
        self.images_built.append(tag)
        outcome = {"error": None, "code": None}

        def events():
            for event in api._stream_helper(response, decode=True):
                if "stream" in event:
                    yield event["stream"].encode()
                elif "error" in event:
                    outcome["error"] = event["error"]
                    outcome["code"] = (event.get("errorDetail") or {}).get("code")
                    yield (event["error"].rstrip("\n") + "\n").encode()
                elif "status" in event:
                    yield (event["status"] + "\n").encode()

        def stop():
            try:
                sock = api._get_raw_response_socket(response)
                sock.shutdown(socket.SHUT_RDWR)
            except Exception:
                response.close()

        stopped = self._pump(events(), on_stop=stop)
        api.close()
        if stopped:
            return StepResult(stopped=stopped)
        if outcome["error"]:
            return StepResult(exit_code=outcome["code"] or 1)
        return StepResult(exit_code=0)


def job_labels(job_id):
    return {
        C.LABEL_INSTANCE: settings.HERALD_INSTANCE,
        C.LABEL_JOB: str(job_id),
        C.LABEL_WORKER: settings.HERALD_HOSTNAME,
    }


def object_name(job_id, suffix=""):
    """herald-<instance>-job-<id>[-<suffix>]: predictable, and distinct
    between installations sharing one Docker engine."""
    name = f"herald-{settings.HERALD_INSTANCE}-job-{job_id}"
    return f"{name}-{suffix}" if suffix else name


def containment_options():
    """Limits for every build container (milestone 3 makes these configurable)."""
    return {}


def _kill(container):
    try:
        container.kill()
    except derrors.APIError:
        pass


def _split_image(image):
    name, _, digest = image.partition("@")
    if digest:
        return name, digest
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
        return repo, tag
    return name, "latest"


def remove_job_objects(client, job_id):
    """Kill and remove every container and network labelled with the job."""
    label = [f"{C.LABEL_INSTANCE}={settings.HERALD_INSTANCE}", f"{C.LABEL_JOB}={job_id}"]
    for c in client.containers.list(all=True, filters={"label": label}):
        try:
            c.remove(force=True, v=True)
        except derrors.NotFound:
            pass
    for n in client.networks.list(filters={"label": label}):
        try:
            n.remove()
        except derrors.NotFound:
            pass
