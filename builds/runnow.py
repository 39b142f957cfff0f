"""Run now: a build someone with push rights asks for, from the repository
page's form or `POST /api/repos/<owner>/<name>/builds`.

The branch is resolved to a commit on the repository's stored clone URL
(`git ls-remote`), never taken from the request alone; a commit given with
it must be on that branch (its head or one of the DEPTH commits before
it). The parameters are checked against the `.herald.yml` of that very
commit, read from a blobless fetch (builds.git.Peek): the file the worker
will build, so a bad value is refused at the door with the reason instead
of being found by a worker. The page's form reads the file the same way at
the branch's head (cached by commit): its fields are those of the file
that will run, not of the last build, which may be of another commit.
"""

import posixpath
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction

from builds import constants as C
from builds.errors import BuildError, PipelineError
from builds.git import PREFIX_RE, SHA_RE, Peek, branch_head
from builds.lifecycle import create_job, remember_matrix
from builds.parameters import ParameterError, validate
from builds.pipeline import HERALD_FILES, MAX_FILE_BYTES, parse_herald, parse_yaml
from builds.refs import ref_problem

# How far back from the branch's head a commit given by hand may be.
DEPTH = 200
# Symbolic links followed from .herald.yml before giving up (a loop).
MAX_LINKS = 8
# The form's fields per commit: the file of a commit never changes.
CACHE_SECONDS = 24 * 3600
HEAD_SECONDS = 30
# Seconds git may take for a page (a run waits up to 60).
PAGE_TIMEOUT = 15


class Refused(Exception):
    """Why a run-now is not done: a one-line reason and the HTTP status
    (400 bad input, 502 the repository could not be read, 409 inactive)."""

    def __init__(self, reason, status=400):
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass
class Target:
    branch: str
    commit: str
    pipeline: object = None  # builds.pipeline.Pipeline of .herald.yml, None without one
    author: str = ""
    message: str = ""

    @property
    def parameters(self):
        return self.pipeline.parameters if self.pipeline else []


def run_now(repository, user, *, branch="", commit="", params=None):
    """Create the manual build (every job of a matrix) and return its jobs."""
    return start(
        repository, event=C.MANUAL, triggered_by=user.get_username(), branch=branch, commit=commit, params=params
    )


def start(repository, *, event, triggered_by, branch="", commit="", params=None):
    """A build of the branch (or commit) with these parameters, checked as
    run_now checks them: a run-now, or a schedule's build (event `cron`)."""
    if not repository.active:
        raise Refused(f"{repository.full_name} is inactive: it builds nothing until an admin activates it", 409)
    target = resolve(repository, branch, commit)
    try:
        values = {p.name: p.default for p in target.parameters}
        values.update(validate(target.parameters, params))
    except ParameterError as e:
        raise Refused(str(e)) from None
    if target.pipeline is not None:
        # The prediction create_job makes the matrix's jobs from, taken
        # from this very commit: the answer lists the whole build.
        remember_matrix(repository, target.pipeline.matrix_combinations() if target.pipeline.matrix else [])
    with transaction.atomic():
        job, _ = create_job(
            repository,
            event=event,
            commit=target.commit,
            ref=f"refs/heads/{target.branch}",
            branch=target.branch,
            message=target.message,
            author=target.author,
            dedupe_seconds=0,
            auto_cancel=False,
            approval=False,
            triggered_by=triggered_by,
            params=values,
        )
    return [job, *job.siblings]


def resolve(repository, branch="", commit="", timeout=60):
    """The branch's commit (or the commit given, once known to be on the
    branch) and its pipeline; Refused with the reason otherwise."""
    branch = branch or repository.default_branch
    if not isinstance(branch, str) or not isinstance(commit, str):
        raise Refused("branch and commit must be strings")
    branch, commit = branch.strip(), commit.strip().lower()
    problem = ref_problem(f"refs/heads/{branch}")
    if problem or branch.startswith("refs/"):
        raise Refused(f"{branch[:100]!r} is not a branch name: {problem or 'give the name without refs/heads/'}")
    if commit and not PREFIX_RE.match(commit) and not SHA_RE.match(commit):
        raise Refused(f"{commit[:100]!r} is not a commit: give 7 to 40 hexadecimal characters")
    url, env = repository.clone_url, repository.clone_env()
    try:
        head = branch_head(url, branch, env=env, timeout=timeout)
        if not head:
            raise Refused(f"There is no branch {branch!r} in {repository.full_name}")
        with Peek(url, branch, depth=DEPTH if commit else 1, env=env, timeout=timeout) as peek:
            sha = peek.resolve(commit) if commit else peek.head()
            if not sha or not peek.on_branch(sha):
                raise Refused(f"Commit {commit} is not on {branch} (its head or one of the {DEPTH} commits before it)")
            author, message = peek.describe(sha)
            pipeline = read_pipeline(peek, sha)
    except PipelineError as e:
        raise Refused(f"The pipeline of {branch} at {sha[:12]} is invalid: {e}") from None
    except BuildError as e:  # the clone URL could not be read: not the caller's fault
        raise Refused(str(e), 502) from None
    return Target(branch, sha, pipeline, author, message)


def declared(repository, branch="", network=True):
    """(commit, parameters, error) for the form: the parameters of the
    branch's head, cached by commit; error is the reason they could not be
    read (the form then has no parameter fields and says why).

    network=False (the repository page) answers from the cache alone, and
    (None, None, "") when it knows nothing yet: a page view never waits on
    the forge; the page then fetches the form from the run-now page."""
    branch = branch or repository.default_branch
    # The branch's head, for HEAD_SECONDS: a forge takes a round trip to
    # answer. A run resolves afresh.
    head_key = f"herald:run-now-head:{repository.pk}:{branch}"
    sha = cache.get(head_key)
    if not network:
        parameters = cache.get(_cache_key(repository, sha)) if sha else None
        return (sha, parameters, "") if parameters is not None else (None, None, "")
    if sha is None:
        try:
            sha = branch_head(repository.clone_url, branch, env=repository.clone_env(), timeout=PAGE_TIMEOUT)
        except BuildError as e:
            return "", [], str(e)
        cache.set(head_key, sha, HEAD_SECONDS)
    if not sha:
        return "", [], f"There is no branch {branch!r} in {repository.full_name}"
    parameters = cache.get(_cache_key(repository, sha))
    if parameters is None:
        try:
            target = resolve(repository, branch, timeout=PAGE_TIMEOUT)
        except Refused as e:
            return sha, [], e.reason
        sha, parameters = target.commit, target.parameters
        cache.set(_cache_key(repository, sha), parameters, CACHE_SECONDS)
    return sha, parameters, ""


def _cache_key(repository, sha):
    return f"herald:run-now:{repository.pk}:{sha}"


def read_pipeline(peek, sha):
    """The commit's .herald.yml as a Pipeline, None when it has none (the
    other build definitions declare no parameters). The file is hostile:
    the same rules as builds.pipeline's on a checkout — a link may lead to
    another file of the repository, never outside it; a regular file only;
    its size checked before it is read."""
    for name in HERALD_FILES:
        path, entry = name, peek.entry(sha, name)
        if entry is None:
            continue
        for _ in range(MAX_LINKS):
            if entry is None or entry[0] != "120000":
                break
            target = (peek.blob(entry[1], 4096) or b"").decode("utf-8", "replace")
            path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if target.startswith("/") or path == ".." or path.startswith("../"):
                raise PipelineError(
                    f"{name} is a symbolic link that leads outside the repository: "
                    "Herald reads only files inside the checkout"
                )
            entry = peek.entry(sha, path)
        if entry is None or entry[0] == "120000":
            raise PipelineError(f"{name} is a symbolic link that leads nowhere (a missing file or a loop)")
        if entry[0] not in ("100644", "100755"):
            raise PipelineError(f"{name} is not a regular file: a build definition must be a file in the repository")
        raw = peek.blob(entry[1], MAX_FILE_BYTES)
        if raw is None:
            raise PipelineError(f"{name}: the file is larger than the limit of {MAX_FILE_BYTES // 1024} KiB")
        return parse_herald(parse_yaml(raw, name), name)
    return None
