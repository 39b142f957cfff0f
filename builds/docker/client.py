"""The Docker engine client, kept per worker process, and how Docker's errors
read in a build's log."""

import os
import time

import docker
from docker import errors as derrors

from builds.errors import BuildError, DockerUnavailable


def docker_client(timeout=120):
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as e:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise DockerUnavailable(f"Docker engine unreachable at {where}: {short_error(e)}") from None


# What this worker process remembers of the engine between jobs: the client,
# and (builds/docker/network.py) the shared bridge and the network sandbox.
remembered = {"client": None, "pid": None, "checked": 0.0}


def shared_client():
    """One client per worker process, kept between jobs: a build's start
    latency is part of what users wait for. Re-checked after an idle spell,
    so a restarted engine is noticed before a job depends on it."""
    now = time.monotonic()
    client = remembered["client"]
    if client is not None and remembered["pid"] == os.getpid():
        if now - remembered["checked"] < 30:
            remembered["checked"] = now
            return client
        # After an idle spell, also forget what we know of the engine's
        # networks: someone may have pruned them meanwhile.
        remembered.pop("isolated", None)
        try:
            client.ping()
            remembered["checked"] = now
            return client
        except Exception:
            pass
    client = docker_client()
    remembered.update(client=client, pid=os.getpid(), checked=now)
    return client


def short_error(e):
    text = getattr(e, "explanation", None) or str(e)
    return str(text).strip().splitlines()[-1][:300] if str(text).strip() else type(e).__name__


def create_container(client, image, name, what="the build container", **options):
    """containers.create, replacing a stale container of the same name
    (left by a crash) instead of failing on it."""
    for attempt in range(2):
        try:
            return client.containers.create(image, name=name, detach=True, **options)
        except derrors.ImageNotFound:
            raise BuildError(f"Image {image} not found.") from None
        except derrors.APIError as e:
            if e.status_code == 409 and attempt == 0:
                try:
                    client.containers.get(name).remove(force=True, v=True)
                except derrors.NotFound:
                    pass
                continue
            raise BuildError(f"Docker could not create {what}: {short_error(e)}") from None


def kill(container):
    try:
        container.kill()
    except derrors.APIError:
        pass
