"""Which files a job changes, for the path filters (builds/paths.py).

Asked only when the pipeline filters on paths, once the commit is checked
out in the workspace:

- the forge's list, when its push payload listed every commit's added,
  modified and removed files (the adapters leave it unknown when the list
  may be cut short: forges/webhook.py `changed_files`);
- otherwise, for a push, `git diff --name-only <before> <commit>`, after a
  depth-1 fetch of `before` by its id (a server may refuse that: then the
  log says so and everything runs);
- for a pull request, `git diff --name-only <target branch tip> <commit>`
  after a depth-1 fetch of the target branch. That may list files changed
  on the target since the branch point too: it can build more, never less;
- nothing (unknown, everything runs) for a new branch or a force push (no
  usable `before`), a tag, a manual, scheduled or API build, and the
  repository's first build.

Names from a payload or a diff are hostile text: they are only matched,
never used as paths, and a list longer than MAX_CHANGED_FILES counts as
unknown.
"""

import git

from builds import constants as C
from builds.git import SAFE_CONFIG, SHA_RE, _env, _last_line, _redact
from builds.models import Job
from builds.paths import count, listed
from builds.refs import is_valid_ref
from repositories.models import check_clone_url

WHY_UNKNOWN = {
    C.TAG: "a tag",
    C.MANUAL: "a build started by hand",
    C.API: "a build started through the API",
    "cron": "a scheduled build",
}


class Unknown(Exception):
    """The changed files cannot be told; the message says why."""


def changed_files(job, workspace, *, log, timeout=120, allow_local=None):
    """The files `job` changes (a list, possibly empty), or None when that
    cannot be told; the log says where the list came from, or why there is
    none."""
    try:
        files, source = _find(job, workspace, timeout, allow_local)
    except Unknown as e:
        log.note(f"Changed files unknown ({e}): path filters do not apply, every step runs")
        return None
    if len(files) > C.MAX_CHANGED_FILES:
        log.note(
            f"{len(files)} files changed ({source}), more than the {C.MAX_CHANGED_FILES} path filters look at:"
            " every step runs"
        )
        return None
    log.note(f"{count(files)} ({source})" + (f": {listed(files)}" if files else ""))
    return files


def _find(job, workspace, timeout, allow_local):
    if job.changed_files is not None:
        return sorted(job.changed_files), "listed by the forge"
    if job.event == C.PULL_REQUEST:
        return _against_target(job, workspace, timeout, allow_local)
    if job.event != C.PUSH:
        raise Unknown(WHY_UNKNOWN.get(job.event, f"a {job.event} build"))
    if not SHA_RE.match(job.before or "") or job.before == "0" * 40:
        raise Unknown("a new branch, or a push the forge names no previous commit for, like a force push")
    if not Job.objects.filter(repository_id=job.repository_id, pk__lt=job.group_id or job.pk).exists():
        raise Unknown("the repository's first build")
    repository = job.repository
    g = _Git(workspace, repository.clone_env(), timeout, repository.clone_url)
    if not g.has(job.before):
        try:
            g.run("fetch", "--depth=1", "--no-tags", "--no-recurse-submodules", "origin", job.before)
        except git.GitCommandError as e:
            raise Unknown(f"the previous commit {job.before[:12]} could not be fetched: {g.last_line(e)}") from None
    return g.diff(job.before), f"since {job.before[:12]}"


def _against_target(job, workspace, timeout, allow_local):
    target = job.target_branch
    if not target or not is_valid_ref(f"refs/heads/{target}"):
        raise Unknown("a pull request whose target branch is not known")
    repository = job.repository
    url = repository.clone_url
    try:
        check_clone_url(url, allow_local=allow_local)
    except Exception:
        raise Unknown("a pull request, and the repository's clone URL is refused") from None
    g = _Git(workspace, repository.clone_env(), timeout, url)
    try:
        # The target is in the repository itself, also when the commit came
        # from a fork's clone URL: its own remote, with the repository's
        # credentials.
        g.run("remote", "add", "herald-target", "--", url)
        g.run(
            "fetch",
            "--depth=1",
            "--no-tags",
            "--no-recurse-submodules",
            "herald-target",
            f"+refs/heads/{target}:refs/herald/target",
        )
    except git.GitCommandError as e:
        raise Unknown(f"the tip of {target} could not be fetched: {g.last_line(e)}") from None
    return g.diff("refs/herald/target"), f"compared with the tip of {target}; may include its own changes"


class _Git:
    def __init__(self, workspace, env, timeout, url=""):
        self.git = git.Repo(workspace).git
        self.env, self.timeout, self.url = _env(env), timeout, url

    def run(self, *args, binary=False):
        return self.git.execute(
            ["git", *SAFE_CONFIG, *args],
            env=self.env,
            kill_after_timeout=self.timeout,
            stdout_as_string=not binary,
        )

    def has(self, sha):
        """Whether the commit is in the workspace already (the checkout's
        fallback fetches bring history)."""
        try:
            self.run("cat-file", "-e", f"{sha}^{{commit}}")
        except git.GitCommandError:
            return False
        return True

    def last_line(self, error):
        return _redact(_last_line(error), self.url) if self.url else _last_line(error)

    def diff(self, base):
        """Paths that differ between `base` and the checked-out commit (a
        rename counts as both its names)."""
        try:
            out = self.run(
                "diff",
                "--name-only",
                "-z",
                "--no-renames",
                "--no-ext-diff",
                "--no-textconv",
                base,
                "HEAD",
                "--",
                binary=True,
            )
        except git.GitCommandError as e:
            raise Unknown(f"git diff failed: {self.last_line(e)}") from None
        return sorted({name.decode("utf-8", "replace") for name in out.split(b"\0") if name})
