"""The job's workspace: a Docker volume holding the checkout, mounted at
/repo in every step.

The workspace is a Docker volume, not a bind mount of the worker's
directory: the checkout is copied in as a tar whose entries belong to the
build's user (so an image with `USER node` can write to /repo), whatever the
build writes is removed with the volume (no root-owned files the worker
cannot delete), and a worker may talk to a Docker engine on another host.
"""

import base64
import io
import json
import os
import posixpath
import tarfile
import tempfile

from django.conf import settings
from docker import errors as derrors

from builds.docker.build_context import SPOOL_BYTES
from builds.docker.client import create_container, short_error
from builds.docker.objects import object_name
from builds.errors import BuildError

WORKSPACE = "/repo"


class Workspace:
    def __init__(self, client, job_id, checkout, labels):
        self.client = client
        self.job_id = job_id
        self.checkout = checkout  # the worker's directory holding the clone
        self.labels = labels
        self.volume = None
        self.on_host = False
        self.owner = None  # (uid, gid) the checkout belongs to
        self.holder = None  # a created, never started container holding the volume

    def mounts(self):
        return {self.volume: {"bind": WORKSPACE, "mode": "rw"}}

    def prepare(self, image, user_spec):
        """Create the job's volume holding the checkout, owned by the user
        the steps run as (`user_spec`: the step's user, else the image's own).

        A worker that is root beside a local engine backs the volume with
        the checkout directory itself (a bind-type volume): no copy, so a
        big repository starts as fast as a small one, and root can remove
        whatever the build leaves there. Otherwise the checkout is copied in.
        """
        on_host = self._create_volume()
        self.owner = self._resolve_user(user_spec, image)
        if on_host:
            if self.owner != (0, 0):
                _chown_tree(self.checkout, *self.owner)
            return
        self._ensure_holder(image)
        with _checkout_tar(self.checkout, *self.owner) as archive:
            try:
                self.client.api.put_archive(self.holder.id, "/", archive)
            except derrors.APIError as e:
                raise BuildError(f"Docker could not copy the checkout into the workspace: {short_error(e)}") from None

    def _create_volume(self):
        """Create the job's volume, backed by the checkout directory when
        the workspace is on this host (returned: True), empty otherwise."""
        volume = object_name(self.job_id, "workspace")
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
            self.client.volumes.create(volume, driver="local", driver_opts=options, labels=self.labels)
        except derrors.APIError as e:
            raise BuildError(f"Docker could not create the workspace: {short_error(e)}") from None
        self.volume, self.on_host = volume, on_host
        return on_host

    def on_volume_of(self, job_id):
        """Whether the job `job_id` left a workspace volume on the engine."""
        try:
            self.client.volumes.get(object_name(job_id, "workspace"))
        except derrors.NotFound:
            return False
        return True

    def adopt(self, old_job_id):
        """Make this job's volume hold what the kept workspace of the failed
        job `old_job_id` holds (a retry from a step: builds.retry).

        In `bind` mode the runner has renamed the kept checkout directory
        to this job's, so a volume bound to it is all: no copy, and its files
        keep the owner the failed build gave them. In `copy` mode the kept
        volume's files are copied into this job's by a container of
        HERALD_QUOTA_IMAGE (a busybox Herald trusts; `cp -a` keeps owners,
        modes and links, and copies links as links), without network: 2.4 s
        for 220 MB in 20,000 files, measured on a busy 2-core machine (a
        Docker volume cannot be renamed, and a volume of the job's own name
        is what every cleanup and sweep finds). A job that failed before
        any command step left no volume: this one is then made from the
        checkout as usual, when the first step needs it.
        """
        if not self.on_volume_of(old_job_id):
            return
        kept = object_name(old_job_id, "workspace")
        if self._create_volume():
            return
        copier = create_container(
            self.client,
            settings.HERALD_QUOTA_IMAGE,
            object_name(self.job_id, "adopt"),
            what="the copy of the kept workspace (HERALD_QUOTA_IMAGE)",
            entrypoint=["cp"],
            command=["-a", "/from/.", "/to/"],
            labels=self.labels,
            volumes={kept: {"bind": "/from", "mode": "ro"}, self.volume: {"bind": "/to", "mode": "rw"}},
            network_mode="none",
            user="0:0",
            cap_drop=["ALL"],
            cap_add=["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID"],
            security_opt=["no-new-privileges"],
        )
        try:
            copier.start()
            code = copier.wait(timeout=3600).get("StatusCode")
            if code != 0:
                said = copier.logs(tail=3).decode(errors="replace").strip()
                raise BuildError(f"Could not copy the kept workspace (cp exited with code {code}: {said[:200]})")
        except derrors.APIError as e:
            raise BuildError(f"Docker could not copy the kept workspace: {short_error(e)}") from None
        finally:
            try:
                copier.remove(force=True)
            except derrors.APIError:
                pass
        self._ensure_holder(settings.HERALD_QUOTA_IMAGE)

    def _ensure_holder(self, image):
        """A created, never started container with the volume mounted: what
        files are read from and copied into."""
        if self.holder is None:
            self.holder = create_container(
                self.client,
                image,
                self.volume,
                what="the workspace",
                command=["herald-workspace"],
                labels=self.labels,
                volumes=self.mounts(),
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

    def archive(self, relative, what):
        """Docker's tar of the workspace path `relative` (resolved as
        `resolve` does), spooled → (file object, the path's base name)."""
        path = self.resolve(relative, what)
        try:
            bits, _ = self.client.api.get_archive(self.holder.id, path)
        except derrors.APIError as e:
            raise BuildError(f"Could not read the {what} from the workspace: {short_error(e)}") from None
        raw = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        for chunk in bits:
            raw.write(chunk)
        raw.seek(0)
        return raw, posixpath.basename(path)

    def resolve(self, relative, what):
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
