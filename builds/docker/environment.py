"""Everything a job does with Docker, as a context manager.

Containers, the job's network and its workspace volume are named
predictably (herald-<instance>-job-<id>[-<what>]) and labelled with the job,
stale ones are removed on entry, and on exit everything the job created is
killed and removed whatever happened — including when django-q2's task
timeout raises inside us. The reaper finds leftovers of dead workers by the
same labels.

The workspace is a Docker volume, not a bind mount of the worker's
directory: the checkout is copied in as a tar whose entries belong to the
build's user (so an image with `USER node` can write to /repo), whatever the
build writes is removed with the volume (no root-owned files the worker
cannot delete), and a worker may talk to a Docker engine on another host.
"""

import base64
import datetime
import fcntl
import io
import json
import logging
import os
import posixpath
import socket
import tarfile
import tempfile
import threading
import time

import docker
from django.conf import settings
from docker import errors as derrors

from builds import constants as C
from builds.docker.build_context import SPOOL_BYTES, pack_directory, retar_volume_context
from builds.errors import BuildError, DockerUnavailable

log = logging.getLogger(__name__)

# The cheapest way to tell a stopped build from a finished one.
STOP_CANCEL, STOP_TIMEOUT, STOP_LOST = "cancelled", "timed_out", "lost"

# Which worker process runs a container: what an admin (or a test) needs to
# find the process behind a build.
LABEL_PID = "org.herald-ci.pid"
LABEL_ROLE = "org.herald-ci.role"

WORKSPACE = "/repo"
SANDBOX_MAX_AGE = 3600


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
        # After an idle spell, also forget what we know of the engine's
        # networks: someone may have pruned them meanwhile.
        _shared.pop("isolated", None)
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


def _network_error(what, e):
    """Why a network could not be made, with what to do when the engine has
    run out of address pools (each bridge network holds one; Docker's
    defaults give about 30)."""
    text = _short(e)
    if "address pool" in text:
        text += (" (every address pool the Docker engine has is taken by other networks:"
                 " remove unused ones with `docker network prune`, or give dockerd more"
                 " with `default-address-pools` in /etc/docker/daemon.json)")
    return BuildError(f"Docker could not create {what}: {text}")


class StepResult:
    def __init__(self, exit_code=None, stopped=None, oom=False):
        self.exit_code = exit_code
        self.stopped = stopped  # None, or one of STOP_*
        self.oom = oom


class Stopped(Exception):
    """The supervisor said stop (cancel, timeout, lost) while we were not
    inside a step: pulling an image, starting services."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class DockerEnv:
    def __init__(self, job, log_writer, supervisor, checkout=None):
        self.job = job
        self.log = log_writer
        self.supervisor = supervisor
        self.checkout = checkout  # the worker's directory holding the clone
        self.client = None
        self.labels = {**job_labels(job.pk), LABEL_PID: str(os.getpid())}
        self.images_built = []
        self.network_name = None
        self.holder = None  # a created, never started container holding the volume
        self.volume = None
        self.on_host = False
        self.owner = None  # (uid, gid) the checkout belongs to
        self.services = []
        self.own_network = False
        self.sandbox = None
        self._image_configs = {}

    # --- lifecycle -----------------------------------------------------------

    def open(self):
        # Nothing of this job can exist yet (a job is claimed once; its
        # volume and network get fresh names), so no listing on the hot
        # path: a stale container name is handled where it is created.
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
                # repository reuses them as cache.
                try:
                    self.client.images.remove(tag, noprune=True)
                except derrors.APIError:
                    pass
        except Exception:
            log.exception("cleanup of job %s failed", self.job.pk)

    def remove_job_objects(self):
        remove_job_objects(self.client, self.job.pk)

    def _labels(self, role):
        return {**self.labels, LABEL_ROLE: role}

    def check_stop(self):
        stopped = self.supervisor.tick()
        if stopped:
            raise Stopped(stopped)

    # --- the job's network -----------------------------------------------------

    def network(self):
        """A job with services gets a bridge of its own: its services are
        reachable by name from its steps, and no other job's containers are
        on it. A job without services joins the installation's shared bridge
        on which containers cannot talk to each other (icc off): just as
        isolated, without a network to create and remove for every job."""
        if self.network_name is None:
            if not self.own_network:
                self.network_name = isolated_network(self.client)
                return self.network_name
            name = object_name(self.job.pk)
            for attempt in range(2):
                try:
                    self.client.networks.create(name, driver="bridge", labels=self._labels("network"),
                                                check_duplicate=True)
                    break
                except derrors.APIError as e:
                    if e.status_code == 409 and attempt == 0:
                        # Left by a crash (a database reset reuses job ids).
                        for stale in self.client.networks.list(names=[name]):
                            _remove_network(stale)
                        continue
                    raise _network_error("the job's network", e) from None
            self.network_name = name
        return self.network_name

    def network_options(self, image):
        """How a step container is networked. Jobs with services: the job's
        own bridge. Others: this worker's sandbox (see network_sandbox) —
        or, should it not start, the shared icc-off bridge directly."""
        if self.own_network or not settings.HERALD_NETWORK_SANDBOX:
            return {"network": self.network()}
        sandbox = network_sandbox(self.client, image)
        if sandbox:
            self.sandbox = sandbox
            return {"network_mode": f"container:{sandbox}"}
        return {"network": self.network()}

    def build_network(self):
        if self.sandbox and not self.own_network:
            return f"container:{self.sandbox}"
        return self.network()

    def _create(self, image, name, what="the build container", **options):
        """containers.create, replacing a stale container of the same name
        (left by a crash) instead of failing on it."""
        for attempt in range(2):
            try:
                return self.client.containers.create(image, name=name, detach=True, **options)
            except derrors.ImageNotFound:
                raise BuildError(f"Image {image} not found.") from None
            except derrors.APIError as e:
                if e.status_code == 409 and attempt == 0:
                    try:
                        self.client.containers.get(name).remove(force=True, v=True)
                    except derrors.NotFound:
                        pass
                    continue
                raise BuildError(f"Docker could not create {what}: {_short(e)}") from None

    # --- images --------------------------------------------------------------

    def image_config(self, image):
        if image not in self._image_configs:
            self._image_configs[image] = self.client.images.get(image).attrs.get("Config") or {}
        return self._image_configs[image]

    def ensure_image(self, image):
        try:
            self.image_config(image)
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
                self.check_stop()
        except derrors.DockerException as e:
            raise BuildError(f"Pulling {image} failed: {_short(e)}") from None

    # --- services --------------------------------------------------------------

    def start_services(self, services):
        if services:
            self.own_network = True
        for service in services:
            self.check_stop()
            self.ensure_image(service.image)
            net = self.network()
            kwargs = {}
            if service.command:
                kwargs["command"] = service.command
            container = self._create(
                service.image, object_name(self.job.pk, f"svc-{service.name}"), what=f"service {service.name}",
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
                raise BuildError(f"Service {service.name} could not start: {_short(e)}") from None
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

    # --- the workspace ---------------------------------------------------------

    def prepare_workspace(self, image, user=""):
        """Create the job's volume holding the checkout, owned by the user
        the steps run as (`user`, else the image's own).

        A worker that is root beside a local engine backs the volume with
        the checkout directory itself (a bind-type volume): no copy, so a
        big repository starts as fast as a small one, and root can remove
        whatever the build leaves there. Otherwise the checkout is copied in.
        """
        if self.volume is not None:
            return
        volume = object_name(self.job.pk, "workspace")
        on_host = workspace_on_host()
        try:
            # `volume create` hands back an existing volume as it is: a stale
            # one (a crash, then a database reset reusing the job id) must
            # not lend its files to this build.
            try:
                self.client.volumes.get(volume).remove(force=True)
            except derrors.NotFound:
                pass
            options = {"type": "none", "o": "bind", "device": str(self.checkout)} if on_host else None
            self.client.volumes.create(volume, driver="local", driver_opts=options, labels=self._labels("workspace"))
        except derrors.APIError as e:
            raise BuildError(f"Docker could not create the workspace: {_short(e)}") from None
        self.volume = volume
        self.on_host = on_host
        spec = user or (self.image_config(image).get("User") or "")
        self.owner = self._resolve_user(spec, image)
        if on_host:
            if self.owner != (0, 0):
                _chown_tree(self.checkout, *self.owner)
            return
        self._ensure_holder(image)
        with _checkout_tar(self.checkout, *self.owner) as archive:
            try:
                self.client.api.put_archive(self.holder.id, "/", archive)
            except derrors.APIError as e:
                raise BuildError(f"Docker could not copy the checkout into the workspace: {_short(e)}") from None

    def _ensure_holder(self, image):
        """A created, never started container with the volume mounted: what
        files are read from and copied into."""
        if self.holder is None:
            self.holder = self._create(
                image, self.volume, what="the workspace", command=["herald-workspace"],
                labels=self._labels("workspace"), volumes={self.volume: {"bind": WORKSPACE, "mode": "rw"}},
                network_mode="none",
            )
        return self.holder

    def _resolve_user(self, spec, image):
        """(uid, gid) for a Docker user spec as the image sees it: names are
        looked up in the image's /etc/passwd and /etc/group, like Docker does."""
        name, _, group = spec.partition(":")
        if not name:
            return 0, 0
        if name.isdigit() and (not group or group.isdigit()):
            return int(name), int(group) if group else 0
        self._ensure_holder(image)
        passwd = _parse_db(self._read_file("/etc/passwd"))
        uid = gid = None
        if name.isdigit():
            uid = int(name)
            entry = next((e for e in passwd.values() if e[0] == uid), None)
            gid = entry[1] if entry else 0
        elif name in passwd:
            uid, gid = passwd[name]
        else:
            raise BuildError(f"Image {image} runs as user {name!r}, who is not in its /etc/passwd.")
        if group:
            if group.isdigit():
                gid = int(group)
            else:
                groups = _parse_db(self._read_file("/etc/group"), group_file=True)
                if group not in groups:
                    raise BuildError(f"Image {image} runs as group {group!r}, which is not in its /etc/group.")
                gid = groups[group][0]
        return uid, gid

    def _read_file(self, path, limit=1024 * 1024):
        try:
            bits, stat = self.client.api.get_archive(self.holder.id, path)
        except derrors.NotFound:
            return ""
        except derrors.APIError:
            return ""
        if stat.get("size", 0) > limit:
            return ""
        data = b"".join(bits)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                if member.isfile():
                    return tar.extractfile(member).read().decode(errors="replace")
        return ""

    # --- running a command container ----------------------------------------

    def run(self, key, image, script, *, env=None, user=""):
        self.ensure_image(image)
        network = self.network_options(image)
        self.prepare_workspace(image, user)
        container = self._create(
            image, object_name(self.job.pk, f"step-{key}"),
            entrypoint=["/bin/sh", "-e", "-c"],
            command=[script],
            working_dir=WORKSPACE,
            environment=env or {},
            labels=self._labels("step"),
            volumes={self.volume: {"bind": WORKSPACE, "mode": "rw"}},
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
        # The container stays until cleanup (after the job's result is
        # saved): the volume carries the workspace on to the next step.
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

    def build(self, key, context="", dockerfile="Dockerfile"):
        """docker build of the workspace; the build output is the log.

        The context is the checkout on the worker, or — once a command step
        has run — the shared workspace volume, so a build step sees what
        earlier steps produced. Returns StepResult: exit_code 0 on success,
        the failing RUN's code (or 1) on failure.
        """
        self.check_stop()
        if self.volume is not None and not self.on_host:
            archive, dockerfile = self._context_from_volume(context, dockerfile)
        else:
            # The checkout itself (bind mode, or before any command step):
            # resolved and packed without following links out of it.
            archive, dockerfile = pack_directory(self.checkout, context, dockerfile)
        # A client of its own with no read timeout: a silent RUN step may
        # take longer than any sensible API timeout.
        api = docker.from_env(timeout=None).api
        tag = f"{object_name(self.job.pk, f'image-{key}')}:latest"
        params = {"t": tag, "rm": True, "forcerm": True, "pull": False, "dockerfile": dockerfile,
                  "labels": json.dumps(job_labels(self.job.pk)), "networkmode": self.build_network(),
                  "cachefrom": json.dumps(self._cache_sources())}
        params.update(build_limits())
        try:
            # The low-level call, so the response can be shut down on cancel
            # (dockerd abandons a build whose client went away).
            response = api._post(api._url("/build"), data=archive, params=params,
                                 headers={"Content-Type": "application/tar"}, stream=True, timeout=None)
            api._raise_for_status(response)
        except derrors.APIError as e:
            api.close()
            archive.close()
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
            # Shut the connection down under the reader thread (closing the
            # response would wait for its read to return, i.e. for the RUN
            # instruction to finish); dockerd then cancels the build.
            try:
                raw = response.raw._fp.fp.raw  # the SocketIO under http.client
                getattr(raw, "_sock", raw).shutdown(socket.SHUT_RDWR)
            except Exception:
                log.exception("job %s: could not interrupt docker build", self.job.pk)

        try:
            stopped = self._pump(events(), on_stop=stop)
        finally:
            api.close()
            archive.close()
        if stopped:
            return StepResult(stopped=stopped)
        if outcome["error"]:
            return StepResult(exit_code=outcome["code"] or 1)
        self._keep_as_cache(tag, key)
        return StepResult(exit_code=0)

    # Docker's build cache is the engine's, shared by every repository: a
    # RUN line whose result depends on the network (a download, a service)
    # would hand one repository's layer to another's identical line. So each
    # repository builds only from its own earlier images: the classic
    # builder, given `cachefrom`, looks nowhere else (a name that does not
    # exist yet means no cache at all). Pull requests from forks read the
    # repository's cache but never write it.

    def _cache_sources(self):
        name = cache_repository(self.job.repository_id)
        tags = [t for image in self.client.images.list(name=name) for t in image.tags]
        return tags or [f"{name}:none"]

    def _keep_as_cache(self, tag, key):
        if self.job.from_fork:
            return
        try:
            self.client.api.tag(tag, cache_repository(self.job.repository_id), tag=f"step-{key}")
        except derrors.APIError as e:
            log.warning("job %s: could not keep its image as cache: %s", self.job.pk, _short(e))

    def _context_from_volume(self, context, dockerfile):
        path = self._resolve_in_workspace(context, "build context")
        try:
            bits, _ = self.client.api.get_archive(self.holder.id, path)
        except derrors.APIError as e:
            raise BuildError(f"Could not read the build context from the workspace: {_short(e)}") from None
        raw = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        for chunk in bits:
            raw.write(chunk)
        raw.seek(0)
        try:
            return retar_volume_context(raw, posixpath.basename(path), dockerfile)
        finally:
            raw.close()

    def _resolve_in_workspace(self, relative, what):
        """`relative` resolved inside the workspace container, every link
        followed (the engine evaluates each one), one component at a time
        → the absolute path; BuildError unless it stays in the workspace."""
        current = WORKSPACE
        for part in (relative or ".").split("/"):
            if part in ("", "."):
                continue
            candidate = posixpath.normpath(posixpath.join(current, part))
            stat = self._stat(candidate) if candidate.startswith(WORKSPACE + "/") else {}
            target = posixpath.normpath((stat or {}).get("linkTarget") or candidate)
            if not target.startswith(WORKSPACE + "/") and target != WORKSPACE:
                raise BuildError(f"The {what} {relative!r} leads outside the workspace (through a symbolic link).")
            if stat is None:
                raise BuildError(f"The {what} {relative!r} is not in the workspace.")
            current = target
        return current

    def _stat(self, path):
        """What the engine's archive endpoint says of a path of the
        workspace container (a HEAD request: no archive is made), or None."""
        api = self.client.api
        url = f"{api.base_url}/v{api.api_version}/containers/{self.holder.id}/archive"
        response = api.head(url, params={"path": path})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise BuildError(f"Could not read {path} in the workspace (Docker answered {response.status_code}).")
        return json.loads(base64.b64decode(response.headers["X-Docker-Container-Path-Stat"]))


def workspace_on_host():
    """Whether the job's volume can be the worker's checkout directory."""
    if settings.HERALD_WORKSPACE_MODE != "auto":
        return settings.HERALD_WORKSPACE_MODE == "bind"
    host = os.environ.get("DOCKER_HOST", "")
    return os.geteuid() == 0 and (not host or host.startswith("unix://"))


def _chown_tree(directory, uid, gid):
    for root, dirs, files in os.walk(directory):
        os.lchown(root, uid, gid)
        for name in files + dirs:
            os.lchown(os.path.join(root, name), uid, gid)


def _checkout_tar(directory, uid, gid):
    """The checkout as a tar rooted at repo/, every entry owned by uid:gid."""
    archive = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)

    def own(info):
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        return info

    with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(directory, arcname=WORKSPACE.strip("/"), recursive=True, filter=own)
    archive.seek(0)
    return archive


def _parse_db(text, group_file=False):
    """/etc/passwd → {name: (uid, gid)}; /etc/group → {name: (gid, gid)}."""
    out = {}
    for line in text.splitlines():
        parts = line.split(":")
        try:
            if group_file and len(parts) >= 3:
                out[parts[0]] = (int(parts[2]), int(parts[2]))
            elif len(parts) >= 4:
                out[parts[0]] = (int(parts[2]), int(parts[3]))
        except ValueError:
            continue
    return out


def isolated_network(client):
    """The installation's shared bridge for jobs without services (its id);
    created once per engine, remembered per worker process."""
    cached = _shared.get("isolated")
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
                name, driver="bridge", check_duplicate=True,
                labels={C.LABEL_INSTANCE: settings.HERALD_INSTANCE, LABEL_ROLE: "isolated"},
                # No traffic between containers on this bridge: one job
                # cannot reach another's, though both reach the outside.
                options={"com.docker.network.bridge.enable_icc": "false"},
            )
        except derrors.APIError as e:
            if e.status_code != 409:
                raise _network_error("the build network", e) from None
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
    _shared["isolated"] = (found[0].name, id(client))
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
    cached = _shared.get("sandbox")
    if cached and cached["pid"] == os.getpid() and cached["client"] == id(client) \
            and time.monotonic() - cached["since"] < SANDBOX_MAX_AGE:
        try:
            if client.api.inspect_container(cached["id"])["State"]["Running"]:
                return cached["id"]
        except derrors.APIError:
            pass
    if cached:
        _shared.pop("sandbox", None)
        try:
            cached["stdin"].close()  # lets the old one exit and remove itself
        except Exception:
            pass
    labels = {
        C.LABEL_INSTANCE: settings.HERALD_INSTANCE, C.LABEL_WORKER: settings.HERALD_HOSTNAME,
        LABEL_PID: str(os.getpid()), LABEL_ROLE: "sandbox",
    }
    limits = {**containment_options(), "mem_limit": "32m", "memswap_limit": "32m", "pids_limit": 8}
    limits.pop("nano_cpus", None)
    try:
        container = client.containers.create(
            image, entrypoint=["/bin/sh", "-c", "read -r _ || true"], command=[], stdin_open=True,
            auto_remove=True, name=f"herald-{settings.HERALD_INSTANCE}-sandbox-{os.getpid()}-{os.urandom(3).hex()}",
            # Not detach=True: docker-py then sets StdinOnce, which is what
            # closes the sandbox's stdin when this process lets go of it.
            labels=labels, network=isolated_network(client), **limits,
        )
        stdin = client.api.attach_socket(container.id, params={"stdin": 1, "stream": 1})
        container.start()
    except (derrors.APIError, BuildError) as e:
        log.warning("no network sandbox (%s); steps join the build bridge directly", _short(e))
        return None
    _shared["sandbox"] = {"id": container.id, "pid": os.getpid(), "client": id(client),
                          "since": time.monotonic(), "stdin": stdin}
    return container.id


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
    """What every build and service container runs with (HERALD_* settings):
    never privileged, no capabilities but a few, no setuid escalation, and
    memory, CPU and process limits. Nothing of the host is mounted — in
    particular never the Docker socket; the only mount is the job's volume."""
    options = {
        "privileged": False,
        "cap_drop": ["ALL"],
        "cap_add": list(settings.HERALD_CAP_ADD),
        "security_opt": ["no-new-privileges"],
    }
    if settings.HERALD_MEMORY_LIMIT:
        options["mem_limit"] = settings.HERALD_MEMORY_LIMIT
        # Same as the memory limit: no swap on top of it.
        options["memswap_limit"] = settings.HERALD_MEMORY_LIMIT
    if settings.HERALD_CPUS:
        options["nano_cpus"] = int(settings.HERALD_CPUS * 1e9)
    if settings.HERALD_PIDS_LIMIT:
        options["pids_limit"] = settings.HERALD_PIDS_LIMIT
    return options


def build_limits():
    """The part of the limits `docker build` accepts for its RUN containers."""
    limits = {}
    if settings.HERALD_MEMORY_LIMIT:
        limits["memory"] = settings.HERALD_MEMORY_LIMIT
        limits["memswap"] = settings.HERALD_MEMORY_LIMIT
    if settings.HERALD_CPUS:
        limits["cpuperiod"] = 100000
        limits["cpuquota"] = int(settings.HERALD_CPUS * 100000)
    return limits


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


def _remove_network(network, patience=10.0):
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
                    log.warning("could not remove network %s: %s", network.name, _short(e))
                return
            time.sleep(0.2)


def cache_repository(repository_id):
    """The image name a repository's build cache is tagged under."""
    return f"herald-{settings.HERALD_INSTANCE}-cache-{repository_id}"


def prune_build_images(client, older_than_hours):
    """Remove the images `build:` steps of this installation made that no
    build used for the given hours: a repository's cache tags (re-tagged by
    every build that uses them) first, then the images left dangling, with
    the layers nothing else uses. Returns how many image records Docker
    deleted."""
    mine = f"{C.LABEL_INSTANCE}={settings.HERALD_INSTANCE}"
    cutoff = time.time() - older_than_hours * 3600
    prefix = f"herald-{settings.HERALD_INSTANCE}-cache-"
    for image in client.images.list(filters={"label": mine}):
        for tag in image.tags:
            if tag.startswith(prefix) and _last_tagged(client, tag) <= cutoff:
                client.images.remove(tag, noprune=True)
    filters = {"dangling": True, "label": mine}
    if older_than_hours:
        filters["until"] = f"{older_than_hours}h"
    result = client.images.prune(filters=filters) or {}
    return len(result.get("ImagesDeleted") or [])


def _last_tagged(client, tag):
    stamp = (client.api.inspect_image(tag).get("Metadata") or {}).get("LastTagTime") or ""
    try:
        return datetime.datetime.fromisoformat(stamp[:19]).replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        return 0.0


def remove_job_objects(client, job_id):
    """Kill and remove every container, network and volume labelled with the job."""
    label = [f"{C.LABEL_INSTANCE}={settings.HERALD_INSTANCE}", f"{C.LABEL_JOB}={job_id}"]
    for c in client.containers.list(all=True, filters={"label": label}):
        try:
            c.remove(force=True, v=True)
        except derrors.NotFound:
            pass
        except derrors.APIError as e:
            # "removal already in progress" from a concurrent sweep.
            log.warning("could not remove container %s: %s", c.name, _short(e))
    for n in client.networks.list(filters={"label": label}):
        _remove_network(n)
    for v in client.volumes.list(filters={"label": label}):
        try:
            v.remove(force=True)
        except derrors.NotFound:
            pass
        except derrors.APIError as e:
            log.warning("could not remove volume %s: %s", v.name, _short(e))
