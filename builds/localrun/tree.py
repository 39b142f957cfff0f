"""The working tree `manage.py exec` builds, and what git says about it.

As `woodpecker exec` does, a local run builds the files as they are on
disk, uncommitted changes included: in a git work tree, the files git
would commit (tracked ones, and untracked ones .gitignore does not
exclude), plus `.git` itself so `git describe` and the like work in a step;
elsewhere, the whole directory. A symbolic link is copied as a link, never
followed: the build sees what a push of this tree would give it, and
nothing of the disk outside PATH. Free of Django: plain files and git.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Head:
    """What git says about the tree's HEAD (all empty outside git)."""

    commit: str = ""
    branch: str = ""
    tag: str = ""
    message: str = ""
    author: str = ""


def _git(root, *args):
    """git's answer, or None when it fails (not a work tree, no commit yet)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, timeout=60, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.decode("utf-8", errors="replace") if result.returncode == 0 else None


def is_work_tree(root):
    return (_git(root, "rev-parse", "--is-inside-work-tree") or "").strip() == "true"


def head(root):
    if not is_work_tree(root):
        return Head()
    info = Head(commit=(_git(root, "rev-parse", "--verify", "-q", "HEAD") or "").strip())
    if info.commit:
        info.branch = (_git(root, "symbolic-ref", "-q", "--short", "HEAD") or "").strip()
        info.tag = (_git(root, "describe", "--tags", "--exact-match", "HEAD") or "").strip()
        info.message, _, info.author = (_git(root, "log", "-1", "--format=%B%x00%an") or "").partition("\0")
        info.message, info.author = info.message.strip(), info.author.strip()
    return info


def files(root):
    """The paths (relative, as git lists them) of the files a commit of
    this tree would hold; None outside a git work tree."""
    if not is_work_tree(root):
        return None
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if listed is None:
        raise OSError(f"git ls-files failed in {root}")
    return sorted({name for name in listed.split("\0") if name})


def copy_tree(source, dest):
    """Copy the working tree at `source` into `dest` (a new directory);
    returns how many entries were copied."""
    source = Path(source).resolve()
    dest = Path(dest)
    names = files(source)
    if names is None:
        shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
        return sum(1 for _ in dest.rglob("*"))
    dest.mkdir(parents=True, exist_ok=True)
    copied = 0
    for name in names:
        src = source / name
        # git lists nothing beyond a symbolic link, but the tree may change
        # under us: a parent that resolves outside the tree is not copied.
        if not src.parent.resolve().is_relative_to(source):
            continue
        if not os.path.lexists(src):
            continue  # deleted, not yet committed: the build does not get it
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), target)
        elif src.is_dir():  # a submodule's work tree
            shutil.copytree(src, target, symlinks=True)
        elif src.is_file():
            shutil.copy2(src, target, follow_symlinks=False)
        else:
            continue  # a socket or a pipe: nothing a commit could hold
        copied += 1
    git_dir = source / ".git"
    if git_dir.is_dir() and not git_dir.is_symlink():
        shutil.copytree(git_dir, dest / ".git", symlinks=True)
    return copied
