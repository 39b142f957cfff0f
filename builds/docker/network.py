"""How a job's containers are networked.

A job with services gets a bridge of its own: its services are reachable by
name from its steps, and no other job's containers are on it. A job without
services joins the installation's shared bridge on which containers cannot
talk to each other (icc off): just as isolated, without a network to create
and remove for every job — and, through this worker process's network
sandbox, without even a network endpoint of its own per step.
"""

import fcntl
import logging
import os
import time

from django.conf import settings
from docker import errors as derrors

from builds import constants as C
from builds.docker.client import remembered, short_error
from builds.docker.limits import containment_options
from builds.docker.objects import LABEL_PID, LABEL_ROLE, object_name, remove_network
from builds.errors import BuildError

log = logging.getLogger(__name__)

SANDBOX_MAX_AGE = 3600


class JobNetwork:
    """The network side of one job's environment."""

    def __init__(self, client, job_id, labels):
        self.client = client
        self.job_id = job_id
        self.labels = labels
        self.name = None
        self.own = False  # a bridge of the job's own: it has services
        self.sandbox = None

    def bridge(self):
        """The job's own bridge when it has services (created once), else
        the installation's shared icc-off bridge."""
        if self.name is None:
            if not self.own:
                self.name = isolated_network(self.client)
                return self.name
            name = object_name(self.job_id)
            for attempt in range(2):
                try:
                    self.client.networks.create(name, driver="bridge", labels=self.labels, check_duplicate=True)
                    break
                except derrors.APIError as e:
                    if e.status_code == 409 and attempt == 0:
                        # Left by a crash (a database reset reuses job ids).
                        for stale in self.client.networks.list(names=[name]):
                            remove_network(stale)
                        continue
                    raise network_error("the job's network", e) from None
            self.name = name
        return self.name

    def step_options(self, image):
        """How a step container is networked. Jobs with services: the job's
        own bridge. Others: this worker's sandbox (see network_sandbox) —
        or, should it not start, the shared icc-off bridge directly."""
        if self.own or not settings.HERALD_NETWORK_SANDBOX:
            return {"network": self.bridge()}
        sandbox = network_sandbox(self.client, image)
        if sandbox:
            self.sandbox = sandbox
            return {"network_mode": f"container:{sandbox}"}
        return {"network": self.bridge()}

    def build_mode(self):
        """`docker build`'s networkmode: the sandbox a step already joined,
        else the bridge."""
        if self.sandbox and not self.own:
            return f"container:{self.sandbox}"
        return self.bridge()


def network_error(what, e):
    """Why a network could not be made, with what to do when the engine has
    run out of address pools (each bridge network holds one; Docker's
    defaults give about 30)."""
    text = short_error(e)
    if "address pool" in text:
        text += (
            " (every address pool the Docker engine has is taken by other networks:"
            " remove unused ones with `docker network prune`, or give dockerd more"
            " with `default-address-pools` in /etc/docker/daemon.json)"
        )
    return BuildError(f"Docker could not create {what}: {text}")


def isolated_network(client):
    """The installation's shared bridge for jobs without services (its id);
    created once per engine, remembered per worker process."""
    cached = remembered.get("isolated")
    if cached and cached[1] == id(client):
        return cached[0]
    name = f"herald-{settings.HERALD_INSTANCE}-isolated"

    def existing():
        return [n for n in client.networks.list(names=[name]) if n.name == name]

    # Docker's duplicate-name check is racy, and a name two networks share
    # is unusable ("ambiguous"): the worker processes of one installation
    # take turns here.
    lock_path = settings.DATA_DIR / "isolated-network.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _isolated_network_locked(client, name, existing)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _isolated_network_locked(client, name, existing):
    found = existing()
    if not found:
        try:
            client.networks.create(
                name,
                driver="bridge",
                check_duplicate=True,
                labels={C.LABEL_INSTANCE: settings.HERALD_INSTANCE, LABEL_ROLE: "isolated"},
                # No traffic between containers on this bridge: one job
                # cannot reach another's, though both reach the outside.
                options={"com.docker.network.bridge.enable_icc": "false"},
            )
        except derrors.APIError as e:
            if e.status_code != 409:
                raise network_error("the build network", e) from None
        found = existing()
    if not found:
        raise BuildError("Docker could not create the build network.")
    found.sort(key=lambda n: (n.attrs.get("Created", ""), n.id))
    for extra in found[1:]:
        # Made by another installation's race on a shared engine: the name
        # only works again once it is unique.
        try:
            extra.remove()
        except derrors.APIError:
            pass
    remembered["isolated"] = (found[0].name, id(client))
    return found[0].name


def network_sandbox(client, image):
    """This worker process's network sandbox: a container idling on the
    shared icc-off bridge whose network namespace the steps of jobs without
    services join (`network_mode=container:`). A container that joins an
    existing namespace starts in ~75 ms instead of ~235 ms and stops without
    a ~50 ms network teardown; concurrent jobs run in different worker
    processes, so in different sandboxes that cannot reach each other.

    The sandbox waits on a read of its stdin, which this process holds open:
    when the process ends (even by SIGKILL) the read returns, the sandbox
    exits and Docker removes it. Replaced hourly so it doesn't pin an image.
    Returns the container id, or None when it cannot be started (the step
    then joins the bridge itself).
    """
    cached = remembered.get("sandbox")
    if (
        cached
        and cached["pid"] == os.getpid()
        and cached["client"] == id(client)
        and time.monotonic() - cached["since"] < SANDBOX_MAX_AGE
    ):
        try:
            if client.api.inspect_container(cached["id"])["State"]["Running"]:
                return cached["id"]
        except derrors.APIError:
            pass
    if cached:
        remembered.pop("sandbox", None)
        try:
            cached["stdin"].close()  # lets the old one exit and remove itself
        except Exception:
            pass
    labels = {
        C.LABEL_INSTANCE: settings.HERALD_INSTANCE,
        C.LABEL_WORKER: settings.HERALD_HOSTNAME,
        LABEL_PID: str(os.getpid()),
        LABEL_ROLE: "sandbox",
    }
    limits = {**containment_options(), "mem_limit": "32m", "memswap_limit": "32m", "pids_limit": 8}
    limits.pop("nano_cpus", None)
    try:
        container = client.containers.create(
            image,
            entrypoint=["/bin/sh", "-c", "read -r _ || true"],
            command=[],
            stdin_open=True,
            auto_remove=True,
            name=f"herald-{settings.HERALD_INSTANCE}-sandbox-{os.getpid()}-{os.urandom(3).hex()}",
            # Not detach=True: docker-py then sets StdinOnce, which is what
            # closes the sandbox's stdin when this process lets go of it.
            labels=labels,
            network=isolated_network(client),
            **limits,
        )
        stdin = client.api.attach_socket(container.id, params={"stdin": 1, "stream": 1})
        container.start()
    except (derrors.APIError, BuildError) as e:
        log.warning("no network sandbox (%s); steps join the build bridge directly", short_error(e))
        return None
    remembered["sandbox"] = {
        "id": container.id,
        "pid": os.getpid(),
        "client": id(client),
        "since": time.monotonic(),
        "stdin": stdin,
    }
    return container.id
