"""What a job's Docker objects are called and labelled, and how they are all
removed.

Containers, the job's network and its workspace volume are named
predictably (herald-<instance>-job-<id>[-<what>]) and labelled with the job,
so the environment's cleanup, and the reaper for leftovers of dead workers,
find every one of them by label.
"""

import logging
import time

from django.conf import settings
from docker import errors as derrors

from builds import constants as C
from builds.docker.client import short_error

log = logging.getLogger(__name__)

# Which worker process runs a container: what an admin (or a test) needs to
# find the process behind a build.
LABEL_PID = "org.herald-ci.pid"
LABEL_ROLE = "org.herald-ci.role"


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


def remove_job_objects(client, job_id, keep_volumes=False):
    """Kill and remove every container, network and volume labelled with the
    job (but its volumes with `keep_volumes`: a workspace kept for a retry)."""
    label = [f"{C.LABEL_INSTANCE}={settings.HERALD_INSTANCE}", f"{C.LABEL_JOB}={job_id}"]
    for c in client.containers.list(all=True, filters={"label": label}):
        try:
            c.remove(force=True, v=True)
        except derrors.NotFound:
            pass
        except derrors.APIError as e:
            # "removal already in progress" from a concurrent sweep.
            log.warning("could not remove container %s: %s", c.name, short_error(e))
    for n in client.networks.list(filters={"label": label}):
        remove_network(n)
    for v in [] if keep_volumes else client.volumes.list(filters={"label": label}):
        try:
            v.remove(force=True)
        except derrors.NotFound:
            pass
        except derrors.APIError as e:
            log.warning("could not remove volume %s: %s", v.name, short_error(e))


def remove_network(network, patience=10.0):
    """Remove a job's network. The intermediate container of an interrupted
    `docker build` (not ours to remove: dockerd does) may still be attached
    for a moment; wait for it, then cut it off."""
    deadline = time.monotonic() + patience
    while True:
        try:
            network.remove()
            return
        except derrors.NotFound:
            return
        except derrors.APIError as e:
            if time.monotonic() >= deadline:
                try:
                    network.reload()
                    for container_id in network.attrs.get("Containers") or {}:
                        network.disconnect(container_id, force=True)
                    network.remove()
                except derrors.APIError:
                    log.warning("could not remove network %s: %s", network.name, short_error(e))
                return
            time.sleep(0.2)


def remove_instance_objects(client, instance):
    """Kill and remove every container, network and volume of the
    installation `instance`, the jobs' and its shared ones (the isolated
    network, the sandboxes): what a local run (builds.localrun), whose
    installation lasts as long as the run, leaves at its end. Never called
    with a server's instance; a server removes only its jobs' objects."""
    label = [f"{C.LABEL_INSTANCE}={instance}"]
    for c in client.containers.list(all=True, filters={"label": label}):
        try:
            c.remove(force=True, v=True)
        except derrors.APIError:
            pass  # gone meanwhile (a sandbox removes itself), or being removed
    for n in client.networks.list(filters={"label": label}):
        remove_network(n)
    for v in client.volumes.list(filters={"label": label}):
        try:
            v.remove(force=True)
        except derrors.APIError as e:
            log.warning("could not remove volume %s: %s", v.name, short_error(e))
