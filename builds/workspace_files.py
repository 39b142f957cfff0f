"""Reading the files a build left in its workspace, by globs: what test
reports (builds/reports.py) and artifacts (builds/artifacts.py) both do
after the steps.

Every byte is the build's: its file names, its links, its sizes. The globs
are matched with wcmatch as builds/paths.py reads them, and each matching
file comes out as a file object holding at most the size that was checked
against the caller's Budget before a byte was read:

- `bind` mode (on_host): the files are on the worker, each path resolved
  (links followed) and refused unless it stays in the checkout, opened
  without following a link (O_NOFOLLOW) nor waiting on a FIFO (O_NONBLOCK),
  read up to the size fstat gave (a file still growing is cut there);
- `copy` mode (in_volume): the workspace volume is read through the engine
  (the never-started container holding it) as one tar stream of the deepest
  folder every pattern starts with; sizes come from the tar headers, and a
  link is resolved by the engine the way builds/docker/workspace.py
  resolves any path, then read as a tar of its own.

Both yield (relative path, item) where item is a Refused (left out, the
reason says why), SKIPPED (past the budget's file count: counted, never
read) or a binary file object to read before asking for the next item (in
copy mode it is a window on the tar stream).
"""

import io
import os
import posixpath
import stat
import tarfile
from pathlib import Path

from docker import errors as derrors
from wcmatch import glob

from builds import paths
from builds.errors import BuildError

LEADS_OUT = "it leads outside the workspace (through a symbolic link)"
SKIPPED = "skipped"


class Refused(Exception):
    """This file is left out; the message says why."""


class Budget:
    """What a job's files may take, checked before a file is read: so many
    files, so many bytes a file, so many in all (None: no such limit).
    Subclasses word the refusals (too_big, too_much)."""

    def __init__(self, max_files=None, max_file_bytes=None, max_total_bytes=None):
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self.files = 0
        self.bytes = 0

    def take(self, size):
        """None when the file may be read (and counts it), else SKIPPED or a Refused."""
        if self.max_files is not None and self.files >= self.max_files:
            return SKIPPED
        if self.max_file_bytes is not None and size > self.max_file_bytes:
            return Refused(self.too_big(size))
        if self.max_total_bytes is not None and self.bytes + size > self.max_total_bytes:
            return Refused(self.too_much(size))
        self.files += 1
        self.bytes += size
        return None

    def too_big(self, size):
        return f"it is {size / 2**20:.1f} MB; the limit is {self.max_file_bytes / 2**20:.0f} MB"

    def too_much(self, size):
        return f"the job's files would pass {self.max_total_bytes / 2**20:.0f} MB together"


# --- bind mode ------------------------------------------------------------------


def on_host(checkout, patterns, budget):
    """The files of the worker's checkout the patterns match, sorted by path."""
    root = Path(checkout).resolve()
    found = glob.glob(list(patterns), flags=paths.FLAGS, root_dir=str(root), limit=paths.MAX_EXPANDED)
    for relative in sorted(found):
        try:
            fd, size = _open_host_file(root, relative)
        except Refused as e:
            yield relative, e
            continue
        if fd is None:
            continue  # a folder the glob matched: its files are matched on their own
        with os.fdopen(fd, "rb") as f:
            why = budget.take(size)
            yield relative, why if why is not None else _Limited(f, size)


def _open_host_file(root, relative):
    real = (root / relative).resolve()
    if not real.is_relative_to(root):
        raise Refused(LEADS_OUT)
    try:
        # O_NOFOLLOW: a link swapped in after resolve() is not followed;
        # O_NONBLOCK: a FIFO named like a match does not hold the worker.
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise Refused(f"it cannot be opened ({e.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            return None, 0
        raise Refused("it is not a regular file")
    return fd, st.st_size


class _Limited(io.RawIOBase):
    """A file read up to `size` bytes: what the budget was told."""

    def __init__(self, f, size):
        self.f = f
        self.left = size

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self.left)]
        n = self.f.readinto(view)
        self.left -= n or 0
        return n


# --- copy mode ------------------------------------------------------------------


def in_volume(workspace, patterns, budget, what):
    """The files of the workspace volume the patterns match, read as
    Docker's tar of the deepest folder every pattern starts with (`what`
    names them in an error: "reports", "artifacts"); the links among them
    last, each resolved and read on its own."""
    matcher = glob.compile(list(patterns), flags=paths.FLAGS, limit=paths.MAX_EXPANDED)
    top = common_folder(patterns)
    try:
        start = workspace.resolve(top, f"{what}: folder") if top else "/repo"
        bits, _ = workspace.client.api.get_archive(workspace.holder.id, start)
    except BuildError as e:
        # The folder is not there (nothing matches), or it is a link out.
        if "leads outside" in str(e):
            yield top, Refused(LEADS_OUT)
        return
    except derrors.NotFound:
        return
    except derrors.APIError as e:
        raise BuildError(f"Docker could not read the workspace: {e.explanation or e}") from None
    # The archive's entries are named from the base name of `start`.
    base = posixpath.basename(start) + "/"
    # A folder a pattern names that is a link: the tar does not enter it
    # (bind mode's glob does). One leading out is said; one inside is not
    # followed (docs/pipeline.md: name the real folder).
    named = {
        "/".join(parts[:i])
        for p in patterns
        if not p.startswith("!")
        for parts in [_literal_folders(p)]
        for i in range(1, len(parts) + 1)
    }
    links, folder_links = [], []
    with tarfile.open(fileobj=_ChunkReader(bits), mode="r|") as tar:
        for member in tar:
            if not member.name.startswith(base):
                continue
            rest = member.name[len(base) :]
            relative = f"{top}/{rest}" if top else rest
            if member.issym() and relative in named:
                folder_links.append(relative)
            if not relative or member.isdir() or not matcher.match(relative):
                continue
            if member.issym() or member.islnk():
                links.append(relative)  # read once the stream is done
            elif not member.isfile():
                yield relative, Refused("it is not a regular file")
            else:
                why = budget.take(member.size)
                yield relative, why if why is not None else tar.extractfile(member)
    for relative in sorted(links):
        yield from _linked(workspace, relative, budget, what)
    for relative in folder_links:
        try:
            workspace.resolve(relative, what)
        except BuildError:
            yield relative, Refused(LEADS_OUT)


def _linked(workspace, relative, budget, what):
    try:
        path = workspace.resolve(relative, what)
    except BuildError:
        yield relative, Refused(LEADS_OUT)
        return
    try:
        bits, _ = workspace.client.api.get_archive(workspace.holder.id, path)
    except derrors.APIError:
        yield relative, Refused("it cannot be read")
        return
    with tarfile.open(fileobj=_ChunkReader(bits), mode="r|") as tar:
        member = tar.next()
        if member is None or not member.isfile():
            yield relative, Refused("it is not a regular file")
            return
        why = budget.take(member.size)
        yield relative, why if why is not None else tar.extractfile(member)


def _literal_folders(pattern):
    """The folders a pattern names before its first glob: `dist/a/*.whl` → [dist, a]."""
    parts = []
    for part in pattern.split("/")[:-1]:
        if glob.is_magic(part, flags=paths.FLAGS):
            break
        parts.append(part)
    return parts


def common_folder(patterns):
    """The folder every pattern starts with, globs aside ("" for the top):
    `copy` mode reads only that part of the workspace."""
    folders = [_literal_folders(p) for p in patterns if not p.startswith("!")]
    if not folders:
        return ""
    common = []
    for level in zip(*folders):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common)


class _ChunkReader(io.RawIOBase):
    """A file over the chunks docker-py streams, for tarfile's stream mode.
    The chunk is kept as a memoryview: tarfile reads 10 KB at a time from
    2 MB chunks, and slicing bytes would copy the rest of the chunk each time."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.pending = memoryview(b"")

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self.pending:
            chunk = next(self.chunks, None)
            if chunk is None:
                return 0
            self.pending = memoryview(chunk)
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n
