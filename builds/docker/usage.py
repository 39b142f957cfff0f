"""How much disk a job's build occupies: what builds.quota holds against
HERALD_WORKSPACE_MAX_BYTES.

Counted, as the disk sees it (blocks allocated: a sparse file counts what
it holds; a file with several hard links once; a symbolic link as itself,
never what it points to — links in a workspace are hostile):

- the workspace, /repo. In `bind` mode it is the worker's checkout
  directory, walked here. In `copy` mode it is a Docker volume the worker
  cannot see: a meter container of HERALD_QUOTA_IMAGE (a busybox: `du` from
  an image Herald trusts, never the step's own image, which a pushed commit
  chooses) mounts it read-only, without network, and `du -skx` runs in it;
- the writable layer of each of the job's containers, steps and services
  (Docker's SizeRw): what a build writes outside /repo, into /tmp or /;
- the anonymous volumes the job's containers got from their images' VOLUME
  lines: walked on the host in `bind` mode (the engine is local and the
  worker root), mounted in the meter beside /repo in `copy` mode.

Not counted: the layers `docker build` steps make (Docker's build cache,
HERALD_BUILD_CACHE_HOURS), images pulled, and the log (HERALD_LOG_MAX_BYTES).
"""

import os
import stat

from django.conf import settings
from docker import errors as derrors

from builds import constants as C
from builds.docker.client import create_container, short_error
from builds.docker.objects import object_name
from builds.errors import BuildError

METER_MOUNT = "/w"


class Unmeasurable(Exception):
    """Part of the workspace could not be walked (paths longer than the
    system takes, a directory the worker may not read): what it holds
    cannot be counted, so the quota cannot be kept."""


def disk_usage(top):
    """Bytes of disk the tree at `top` occupies, without following links or
    leaving its filesystem; what vanishes during the walk is not counted.
    Raises Unmeasurable when some of it cannot be read."""
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return 0
    total = st.st_blocks * 512
    if not stat.S_ISDIR(st.st_mode):
        return total
    device = st.st_dev
    linked = set()  # (dev, inode) of files with several names, counted once
    pending = [os.fspath(top)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                        if (st.st_dev, st.st_ino) in linked:
                            continue
                        linked.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
                    if stat.S_ISDIR(st.st_mode) and st.st_dev == device:
                        pending.append(entry.path)
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed (or replaced) by the build meanwhile
        except OSError as e:
            # Skipping it would let a build hide anything there.
            raise Unmeasurable(e.strerror or type(e).__name__) from None
    return total


class JobUsage:
    """The disk one job's build occupies on the engine and the worker."""

    def __init__(self, client, job_id, workspace, labels):
        self.client = client
        self.job_id = job_id
        self.workspace = workspace  # builds.docker.workspace.Workspace
        self.labels = labels
        self.meter = None
        self.metered = ()  # the anonymous volumes the meter mounts besides /repo
        self.mountpoints = {}  # anonymous volume → where it is on the host (bind mode)

    def start_meter(self, images):
        """In `copy` mode: the container `du` runs in (removed with the
        job's other containers, by label)."""
        if self.meter is not None or self.workspace.on_host:
            return
        images.ensure(settings.HERALD_QUOTA_IMAGE)
        self._meter_for(())

    def _meter_for(self, volumes):
        """The meter, mounting /repo and these anonymous volumes; made again
        when a container brings new ones (a step's image with VOLUME lines)."""
        volumes = tuple(sorted(volumes))
        if self.meter is not None:
            if volumes == self.metered:
                return
            self.stop_meter()
        mounts = {self.workspace.volume: {"bind": f"{METER_MOUNT}/repo", "mode": "ro"}}
        mounts.update({name: {"bind": f"{METER_MOUNT}/{name}", "mode": "ro"} for name in volumes})
        meter = create_container(
            self.client,
            settings.HERALD_QUOTA_IMAGE,
            object_name(self.job_id, "meter"),
            what="the workspace quota's meter (HERALD_QUOTA_IMAGE)",
            entrypoint=["sleep"],
            command=["2147483647"],
            labels=self.labels,
            volumes=mounts,
            network_mode="none",
            read_only=True,
            # Root, and able to read what a build made unreadable
            # (chmod 000): nothing it holds may escape the count.
            user="0:0",
            cap_drop=["ALL"],
            cap_add=["DAC_READ_SEARCH"],
            security_opt=["no-new-privileges"],
            mem_limit=64 * 2**20,
            pids_limit=16,
        )
        try:
            meter.start()
        except derrors.APIError as e:
            meter.remove(force=True)
            raise BuildError(f"Docker could not start the workspace quota's meter: {short_error(e)}") from None
        self.meter, self.metered = meter, volumes

    def stop_meter(self):
        """Removed before the job's containers: an anonymous volume it still
        mounted would outlive the container it belongs to."""
        if self.meter is not None:
            try:
                self.meter.remove(force=True)
            except derrors.NotFound:
                pass
            self.meter = None

    def measure(self, checkout):
        """Bytes: the workspace, the job's containers' writable layers and
        the anonymous volumes they have."""
        workspace = self.workspace
        label = [f"{C.LABEL_INSTANCE}={settings.HERALD_INSTANCE}", f"{C.LABEL_JOB}={self.job_id}"]
        # docker-py's containers(size=True) is `docker ps --size`: the engine
        # computes SizeRw for these containers only.
        rows = self.client.api.containers(all=True, size=True, filters={"label": label})
        total = sum(row.get("SizeRw") or 0 for row in rows)
        volumes = {
            mount.get("Name")
            for row in rows
            for mount in row.get("Mounts") or ()
            if mount.get("Type") == "volume" and mount.get("Name") != workspace.volume
        }
        if workspace.volume is None or workspace.on_host:
            return total + disk_usage(checkout) + sum(disk_usage(self._mountpoint(name)) for name in volumes)
        if self.meter is None:
            return total  # `copy` mode before the meter runs: the volume is being filled from the checkout
        self._meter_for(volumes)
        return total + self._meter_usage()

    def workspace_bytes(self, checkout, images):
        """Bytes of the workspace alone, and of the worker's checkout
        directory beside it in `copy` mode: what keeping a failed build's
        workspace for a retry holds on to (builds.retry)."""
        size = disk_usage(checkout)
        if self.workspace.volume is None or self.workspace.on_host:
            return size
        if self.meter is None:
            images.ensure(settings.HERALD_QUOTA_IMAGE)
        self._meter_for(())
        return size + self._meter_usage()

    def _mountpoint(self, volume):
        # The container list leaves a volume's Source empty: ask once.
        if volume not in self.mountpoints:
            try:
                self.mountpoints[volume] = self.client.api.inspect_volume(volume).get("Mountpoint") or ""
            except derrors.NotFound:
                return ""
        return self.mountpoints[volume]

    def _meter_usage(self):
        paths = [f"{METER_MOUNT}/repo"] + [f"{METER_MOUNT}/{name}" for name in self.metered]
        _, (out, err) = self.meter.exec_run(["du", "-skx", *paths], user="0:0", demux=True)
        # du exits 1 when a file vanished during the walk (its total stands),
        # and when it could not read something (then it does not).
        for line in (err or b"").decode(errors="replace").splitlines():
            if "No such file or directory" not in line:
                raise Unmeasurable(line.rsplit(": ", 1)[-1][:100])
        lines = (out or b"").decode(errors="replace").splitlines()
        sizes = [line.split()[0] for line in lines if line.split()]
        if len(sizes) != len(paths) or not all(size.isdigit() for size in sizes):
            raise RuntimeError(f"the quota's meter said {lines[:3]!r}")
        return sum(int(size) for size in sizes) * 1024
