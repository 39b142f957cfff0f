"""The build context of a `build:` step, resolved and packed without ever
leaving the checkout.

Every byte of a pushed commit is hostile, its symbolic links included, and
the steps before a `build:` step may have planted more links in the
workspace. A context named `data` that is a link to `../..` would otherwise
make the worker pack the directory above the checkout — Herald's own — and
send it to `docker build`, where a `RUN cat` prints it into the log.

So the context and the Dockerfile are resolved with every link followed and
refused unless they stay inside the checkout, and the context is packed the
way the docker CLI sends it: links as links, never followed. Packing walks
directory file descriptors and opens every entry relative to its directory
with O_NOFOLLOW, so a link swapped in while the archive is being written (a
service container shares the workspace) is refused, not followed.

In `copy` mode the workspace lives only in a Docker volume: paths are
resolved by the Docker engine inside the workspace container, where nothing
of the worker is visible; the context must still be a directory of the
workspace, not a link out of it.
"""

import os
import posixpath
import stat
import tarfile
import tempfile

from docker.utils.build import PatternMatcher

from builds.errors import BuildError

SPOOL_BYTES = 32 * 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK


def resolve_inside(root, relative, what, shown=None):
    """`relative` (a path the pipeline names) resolved against the checkout
    `root` with every symbolic link followed → the real path, relative to
    the real root; BuildError unless it stays inside. `shown`: the path as
    the pipeline wrote it, for the message."""
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, relative or "."))
    if target != real_root and not target.startswith(real_root + os.sep):
        raise BuildError(
            f"The {what} {shown or repr(relative)} leads outside the repository (through a symbolic link): "
            "a build may only use paths inside its checkout."
        )
    return os.path.relpath(target, real_root)


def pack_directory(checkout, context, dockerfile):
    """The context directory of the checkout as a build-context tar, and the
    Dockerfile's path inside it → (file object, dockerfile)."""
    rel = resolve_inside(checkout, context, "build context")
    real_context = os.path.join(os.path.realpath(checkout), rel)
    if not os.path.isdir(real_context):
        raise BuildError(f"The build context {context!r} is not a directory in the repository.")
    inner = resolve_inside(checkout, os.path.join(rel, dockerfile), "Dockerfile", repr(dockerfile))
    dockerfile_rel = os.path.relpath(inner, rel) if rel != "." else inner
    if dockerfile_rel == ".." or dockerfile_rel.startswith("../"):
        raise BuildError(f"The Dockerfile {dockerfile!r} leads outside the build context {context!r}.")
    if not os.path.isfile(os.path.join(real_context, dockerfile_rel)):
        raise BuildError(f"There is no Dockerfile {dockerfile!r} in the build context {context!r}.")
    top = _open_directory(os.path.realpath(checkout), rel)
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        matcher = PatternMatcher(_ignore_patterns(top) + [f"!{dockerfile_rel}"])
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add_tree(tar, top, matcher)
    except OSError as e:
        out.close()
        raise BuildError(f"Could not pack the build context: {e.strerror or e}") from None
    finally:
        os.close(top)
    out.seek(0)
    return out, dockerfile_rel


def _open_directory(real_root, rel):
    """A descriptor of real_root/rel, opened one component at a time without
    following links: a link planted since rel was resolved is refused."""
    fd = os.open(real_root, _DIR_FLAGS)
    try:
        for part in [] if rel == "." else rel.split(os.sep):
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError:
        os.close(fd)
        raise BuildError("The build context changed while it was being read (a symbolic link appeared).") from None
    return fd


def _ignore_patterns(top):
    try:
        fd = os.open(".dockerignore", _FILE_FLAGS, dir_fd=top)
    except OSError:
        return []  # none, or a link: ignored, as before
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return []
        text = f.read(1024 * 1024).decode(errors="replace")
    return dockerignore_patterns(text)


def dockerignore_patterns(text):
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _excluded_directory(matcher, rel):
    """Whether a matched directory can be skipped whole: not when an
    exception (`!dir/keep`) reaches inside it (docker-py's rule)."""
    return not any(p.exclusion and p.cleaned_pattern.startswith(rel) for p in matcher.patterns)


def _add_tree(tar, top, matcher):
    for dirpath, dirnames, filenames, dirfd in os.fwalk(".", dir_fd=top):
        base = "" if dirpath == "." else dirpath[2:] + "/"
        keep_dirs = []
        for name in sorted(dirnames + filenames):
            rel = base + name
            excluded = matcher.matches(rel)
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                if not excluded:
                    tar.addfile(_info(rel, st, tarfile.DIRTYPE))
                if not excluded or not _excluded_directory(matcher, rel):
                    keep_dirs.append(name)
            elif excluded:
                continue
            elif stat.S_ISLNK(st.st_mode):
                info = _info(rel, st, tarfile.SYMTYPE)
                info.linkname = os.readlink(name, dir_fd=dirfd)
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                _add_file(tar, rel, name, dirfd, st)
            # FIFOs, sockets and devices are not sent (nothing a build needs).
        # os.fwalk never descends into links; prune what .dockerignore drops.
        dirnames[:] = [d for d in dirnames if d in keep_dirs]


def _add_file(tar, rel, name, dirfd, st):
    fd = os.open(name, _FILE_FLAGS, dir_fd=dirfd)
    with os.fdopen(fd, "rb") as f:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise BuildError("The build context changed while it was being read.")
        tar.addfile(_info(rel, now, tarfile.REGTYPE), f)


def _info(rel, st, kind):
    info = tarfile.TarInfo(rel)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime) if 0 <= st.st_mtime < 8**11 else 0
    info.size = st.st_size if kind == tarfile.REGTYPE else 0
    return info


def retar_volume_context(raw, top, dockerfile):
    """Docker's archive of <top>/… from the workspace volume → a build
    context rooted at <top>, with .dockerignore applied as `docker build`
    would; the Dockerfile may be a link only to a file of the context."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    prefix = top + "/"
    with tarfile.open(fileobj=raw, mode="r:") as src:
        members = {m.name: m for m in src.getmembers()}
        dockerfile = _dockerfile_in_archive(members, prefix, dockerfile)
        matcher = None
        ignore = members.get(prefix + ".dockerignore")
        if ignore is not None and ignore.isfile():
            text = src.extractfile(ignore).read(1024 * 1024).decode(errors="replace")
            matcher = PatternMatcher(dockerignore_patterns(text) + [f"!{dockerfile}"])
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:
            for member in members.values():
                if not member.name.startswith(prefix):
                    continue
                rel = member.name[len(prefix) :]
                if not rel or (matcher and matcher.matches(rel)):
                    continue
                member.name = rel
                if member.islnk():
                    if not member.linkname.startswith(prefix):
                        continue
                    member.linkname = member.linkname[len(prefix) :]
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    out.seek(0)
    return out, dockerfile


def _dockerfile_in_archive(members, prefix, dockerfile):
    name = posixpath.normpath(dockerfile)
    for _ in range(8):
        member = members.get(prefix + name)
        if member is None:
            raise BuildError(f"There is no Dockerfile {dockerfile!r} in the build context.")
        if not member.issym():
            return name
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            raise BuildError(
                f"The Dockerfile {dockerfile!r} leads outside the build context (through a symbolic link)."
            )
        name = target
    raise BuildError(f"The Dockerfile {dockerfile!r} is a chain of symbolic links.")
