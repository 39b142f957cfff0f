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
- in `bind` mode, the anonymous volumes the job's containers got from their
  images' VOLUME lines (the engine is local and the worker root: walked on
  the host like the checkout).

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
        self.mountpoints = {}  # anonymous volume → where it is on the host (bind mode)

    def start_meter(self, images):
        """In `copy` mode: the container `du` runs in (removed with the
        job's other containers, by label)."""
        if self.meter is not None or self.workspace.on_host:
            return
        image = settings.HERALD_QUOTA_IMAGE
        images.ensure(image)
        self.meter = create_container(
            self.client,
            image,
            object_name(self.job_id, "meter"),
            what="the workspace quota's meter (HERALD_QUOTA_IMAGE)",
            entrypoint=["sleep"],
            command=["2147483647"],
            labels=self.labels,
            volumes={self.workspace.volume: {"bind": METER_MOUNT, "mode": "ro"}},
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
            self.meter.start()
        except derrors.APIError as e:
            raise BuildError(f"Docker could not start the workspace quota's meter: {short_error(e)}") from None

    def measure(self, checkout):
        """Bytes: the workspace plus the job's containers' writable layers
        (and, in `bind` mode, their anonymous volumes)."""
        workspace = self.workspace
        if workspace.volume is None or workspace.on_host:
            total = disk_usage(checkout)
        elif self.meter is not None:
            total = self._meter_usage()
        else:
            total = 0  # `copy` mode before the meter runs: the volume is being filled from the checkout
        label = [f"{C.LABEL_INSTANCE}={settings.HERALD_INSTANCE}", f"{C.LABEL_JOB}={self.job_id}"]
        # docker-py's containers(size=True) is `docker ps --size`: the engine
        # computes SizeRw for these containers only.
        volumes = set()
        for row in self.client.api.containers(all=True, size=True, filters={"label": label}):
            total += row.get("SizeRw") or 0
            if workspace.on_host:
                for mount in row.get("Mounts") or ():
                    name = mount.get("Name")
                    if mount.get("Type") == "volume" and name != workspace.volume and name not in volumes:
                        volumes.add(name)
                        total += disk_usage(self._mountpoint(name))
        return total

    def _mountpoint(self, volume):
        # The container list leaves a volume's Source empty: ask once.
        if volume not in self.mountpoints:
            try:
                self.mountpoints[volume] = self.client.api.inspect_volume(volume).get("Mountpoint") or ""
            except derrors.NotFound:
                return ""
        return self.mountpoints[volume]

    def _meter_usage(self):
        _, (out, err) = self.meter.exec_run(["du", "-skx", METER_MOUNT], user="0:0", demux=True)
        # du exits 1 when a file vanished during the walk (its total stands),
        # and when it could not read something (then it does not).
        for line in (err or b"").decode(errors="replace").splitlines():
            if "No such file or directory" not in line:
                raise Unmeasurable(line.rsplit(": ", 1)[-1][:100])
        last = (out or b"").decode(errors="replace").split()
        if not last or not last[0].isdigit():
            raise RuntimeError(f"the quota's meter said {last[:2]!r}")
        return int(last[0]) * 1024
