"""Fetching exactly the commit a job builds, with GitPython.

Hardened for untrusted repositories: the URL is validated (no options, no
remote helpers, no local paths unless allowed), hooks are disabled, no
submodules are fetched, and git never prompts for credentials.
"""

import os
import re
import shutil
import tempfile

import git
from django.core.exceptions import ValidationError

from builds.errors import CloneError
from builds.refs import is_valid_ref
from repositories.models import check_clone_url

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
PREFIX_RE = re.compile(r"^[0-9a-f]{7,39}$")

SAFE_CONFIG = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "protocol.ext.allow=never",
    "-c",
    "protocol.fd.allow=never",
    "-c",
    "submodule.recurse=false",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "credential.helper=",
    "-c",
    "advice.detachedHead=false",
]


def _env(extra=None):
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/true",
        "SSH_ASKPASS": "/bin/true",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_ALLOW_PROTOCOL": "http:https:ssh:git:file",
        "HOME": os.environ.get("HOME", "/tmp"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
    }
    env.update(extra or {})
    return env


def _redact(text, url):
    # A clone URL may carry credentials (https://user:token@host/...).
    m = re.match(r"^([a-z+]+://)([^/@]+)@", url)
    if m:
        text = text.replace(m.group(2), "****")
    return text


def _last_line(error):
    text = str(error.stderr or error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "git failed").removeprefix("stderr:").strip(" '")


def fetch_commit(url, sha, dest, *, ref="", log=None, timeout=600, allow_local=None, env=None):
    """Init `dest`, fetch `sha` from `url` (shallow when the server allows)
    and check it out; returns the full sha checked out.

    Some forges don't name the whole commit: Gogs' pull request events name
    none (then `ref` is built, whatever it points to now) and Bitbucket's
    give 12 characters (then what `ref` points to must start with them).
    """
    try:
        check_clone_url(url, allow_local=allow_local)
    except ValidationError as e:
        raise CloneError(f"Refusing clone URL: {' '.join(e.messages)}") from None
    sha = (sha or "").lower()
    if not (SHA_RE.match(sha) or (PREFIX_RE.match(sha) and ref) or (not sha and ref)):
        raise CloneError(f"Refusing commit {sha!r}: a commit must be 40 hexadecimal characters.")
    if ref and not (ref.startswith("refs/") and is_valid_ref(ref)):
        raise CloneError(f"Refusing ref {ref!r}.")

    env = _env(env)
    os.makedirs(dest, exist_ok=True)
    repo = git.Repo.init(dest)
    g = repo.git

    def run(*args, quiet_fail=False, show=True):
        cmd = ["git", *SAFE_CONFIG, *args]
        if log and show:
            log.write("$ git " + _redact(" ".join(a for a in args if a != "--"), url) + "\n")
        try:
            out = g.execute(cmd, env=env, kill_after_timeout=timeout, with_extended_output=True)
        except git.GitCommandError as e:
            if not quiet_fail and log:
                log.write(_redact(str(e.stderr or e).strip(), url) + "\n")
            raise
        _, stdout, stderr = out
        if log and show and stderr.strip():
            log.write(_redact(stderr.strip(), url) + "\n")
        return stdout

    run("remote", "add", "origin", "--", url, show=False)
    log and log.write(f"$ git remote add origin {_redact(url, url)}\n")
    if not SHA_RE.match(sha):
        return _fetch_ref(run, ref, sha, url)
    attempts = [["fetch", "--depth=1", "--no-tags", "--no-recurse-submodules", "origin", sha]]
    if ref:
        attempts.append(
            ["fetch", "--depth=50", "--no-tags", "--no-recurse-submodules", "origin", f"+{ref}:refs/herald/fetched"]
        )
    attempts.append(
        [
            "fetch",
            "--no-tags",
            "--no-recurse-submodules",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
            *([f"+{ref}:refs/herald/fetched"] if ref else []),
        ]
    )
    last_error = None
    for i, args in enumerate(attempts):
        try:
            run(*args, quiet_fail=i < len(attempts) - 1)
        except git.GitCommandError as e:
            last_error = e
            continue
        try:
            run("cat-file", "-e", f"{sha}^{{commit}}", show=False, quiet_fail=True)
            break
        except git.GitCommandError:
            last_error = None
            continue
    else:
        if last_error is not None:
            raise CloneError(f"Clone failed: {_redact(_last_line(last_error), url)}")
        raise CloneError(f"Commit {sha[:12]} was not found in {_redact(url, url)}.")
    run("checkout", "--force", "--detach", sha)
    return sha


def _fetch_ref(run, ref, prefix, url):
    try:
        run("fetch", "--depth=1", "--no-tags", "--no-recurse-submodules", "origin", f"+{ref}:refs/herald/fetched")
    except git.GitCommandError as e:
        raise CloneError(f"Clone failed: {_redact(_last_line(e), url)}") from None
    full = run("rev-parse", "refs/herald/fetched^{commit}", show=False).strip()
    if not full.startswith(prefix):
        raise CloneError(f"{ref} now points to {full[:12]}, not {prefix}: the branch moved on; a newer push builds it.")
    run("checkout", "--force", "--detach", full)
    return full


def branch_head(url, branch, *, env=None, timeout=30, allow_local=None):
    """The commit `branch` points to on `url` now (`git ls-remote`), or ""
    when the remote has no such branch. CloneError when it cannot be read."""
    _checked_url(url, allow_local)
    ref = f"refs/heads/{branch}"
    if not is_valid_ref(ref):
        raise CloneError(f"Refusing branch {branch!r}.")
    try:
        out = git.Git().execute(
            ["git", *SAFE_CONFIG, "ls-remote", "--", url, ref], env=_env(env), kill_after_timeout=timeout
        )
    except git.GitCommandError as e:
        raise CloneError(f"Could not read the branches of {_redact(url, url)}: {_redact(_last_line(e), url)}") from None
    # ls-remote matches patterns on the end of names: refs/heads/x/refs/heads/main too.
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name == ref and SHA_RE.match(sha):
            return sha
    return ""


def _checked_url(url, allow_local):
    try:
        check_clone_url(url, allow_local=allow_local)
    except ValidationError as e:
        raise CloneError(f"Refusing clone URL: {' '.join(e.messages)}") from None


class Peek:
    """A throwaway bare repository holding a branch's recent history, file
    contents fetched only when read (a blobless fetch where the server
    allows it): enough to tell whether a commit is on the branch and to
    read its pipeline file, without a checkout. Nothing of it is ever
    checked out or run (hooks off, as for fetch_commit)."""

    def __init__(self, url, branch, *, depth=1, env=None, timeout=60, allow_local=None):
        _checked_url(url, allow_local)
        if not is_valid_ref(f"refs/heads/{branch}"):
            raise CloneError(f"Refusing branch {branch!r}.")
        self.url, self.branch, self.depth, self.timeout = url, branch, depth, timeout
        # Paths given to ls-tree are names, never patterns.
        self.env = _env({**(env or {}), "GIT_LITERAL_PATHSPECS": "1"})
        self.dir = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="herald-peek-")
        self.git = git.Repo.init(self.dir, bare=True).git
        self._run("remote", "add", "origin", "--", self.url)
        for key, value in (
            ("core.repositoryformatversion", "1"),
            ("extensions.partialClone", "origin"),
            ("remote.origin.promisor", "true"),
            ("remote.origin.partialclonefilter", "blob:none"),
        ):
            self._run("config", key, value)
        try:
            self._run(
                "fetch",
                "--filter=blob:none",
                f"--depth={self.depth}",
                "--no-tags",
                "--no-recurse-submodules",
                "origin",
                f"+refs/heads/{self.branch}:refs/herald/branch",
            )
        except git.GitCommandError as e:
            self.__exit__()
            raise CloneError(f"Could not fetch {self.branch}: {_redact(_last_line(e), self.url)}") from None
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)

    def _run(self, *args, binary=False):
        return self.git.execute(
            ["git", *SAFE_CONFIG, *args],
            env=self.env,
            kill_after_timeout=self.timeout,
            stdout_as_string=not binary,
            strip_newline_in_stdout=not binary,
        )

    def head(self):
        return self._run("rev-parse", "refs/herald/branch^{commit}").strip()

    def resolve(self, commit):
        """The full id of a commit (or of an unambiguous prefix) fetched here, or ""."""
        try:
            return self._run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}^{{commit}}").strip()
        except git.GitCommandError:
            return ""

    def describe(self, sha):
        """(author name, message) of a commit fetched here."""
        author, _, message = self._run("log", "-1", "--format=%an%x00%B", sha, "--").partition("\0")
        return author, message.strip()

    def on_branch(self, sha):
        """Whether `sha` is the branch's head or one of the `depth` commits before it."""
        try:
            self._run("merge-base", "--is-ancestor", sha, "refs/herald/branch")
        except git.GitCommandError:
            return False
        return True

    def entry(self, sha, path):
        """(mode, object id) of `path` in the commit, or None."""
        out = self._run("ls-tree", "-z", sha, "--", path)
        for item in out.split("\0"):
            info, _, name = item.partition("\t")
            if name == path:
                mode, _, oid = info.split(" ")
                return mode, oid
        return None

    def blob(self, oid, limit):
        """The blob's bytes, or None when it is larger than `limit`."""
        if int(self._run("cat-file", "-s", oid).strip()) > limit:
            return None
        return self._run("cat-file", "blob", oid, binary=True)
