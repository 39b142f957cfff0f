"""Build artifacts: files a build leaves in its workspace, kept with the job.

    artifacts: ["dist/*.whl", "coverage.xml"]      # kept when the build succeeds
    artifacts:
      paths: [dist/**, coverage.xml]
      when: always                                  # or success (the default), failure

After the steps (not when the job was stopped), the files the globs match
(wcmatch, as builds/paths.py reads them) are read from the workspace by
builds/workspace_files.py — the very code test reports use, in both
workspace modes, links resolved and refused unless they stay in the
checkout — and streamed into the STORAGES["artifacts"] storage (a folder of
the data dir by default; S3 or any Django storage when configured), hashed
on the way. Nothing is held in memory whole: a 100 MB file costs a 64 KB
buffer.

Each file gets an Artifact row; its stored name is Herald's own (the job's
id and a counter), never the build's file name, and the path users see is
masked (builds/masking.py) and printable. Caps, checked from the size before
a byte is read: HERALD_ARTIFACTS_MAX_JOB_BYTES for a job, and
HERALD_ARTIFACTS_MAX_TOTAL_BYTES for every artifact stored (measured when
the job starts collecting: two jobs collecting at once may pass it by what
they collect). A file past a cap, a link leading out, a pattern that matches
nothing: each is a log line with the reason; an artifact never fails or
errors a build on its own.

The stored files are deleted with their rows (builds.models: a post_delete
receiver), so retention and the admin delete them with the job.
"""

import hashlib
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files import File
from django.db.models import Sum

from builds import paths, workspace_files
from builds.masking import mask, secret_values, server_secrets
from builds.models import Artifact, artifact_storage

log = logging.getLogger(__name__)

SUCCESS, FAILURE, ALWAYS = "success", "failure", "always"
WHENS = (SUCCESS, FAILURE, ALWAYS)
KEYS = {"paths", "when"}
MAX_FILES = 1000  # a job's artifacts: rows on its page, not a backup
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Spec:
    """A pipeline's artifacts: its globs and when they are collected."""

    paths: list = field(default_factory=list)
    when: str = SUCCESS

    def wanted(self, succeeded):
        return self.when == ALWAYS or self.when == (SUCCESS if succeeded else FAILURE)


def parse(c, data):
    """The artifacts: of a parsed .herald.yml (checked with the pipeline's
    _Checker `c`): a Spec, or None when absent."""
    if "artifacts" not in data:
        return None
    value = data["artifacts"]
    if isinstance(value, dict):
        c.keys(value, KEYS, "artifacts.")
        if "paths" not in value:
            c.fail(c.line_of(data, "artifacts"), "artifacts.paths", "is required: the globs of the files to keep")
        patterns = _patterns(c, value, "paths", "artifacts.")
        when = value.get("when", SUCCESS)
        if when not in WHENS:
            c.fail(c.line_of(value, "when"), "artifacts.when", f"must be success, failure or always, not {when!r}")
        return Spec(patterns, when)
    return Spec(_patterns(c, data, "artifacts", ""))


def _patterns(c, mapping, key, where):
    value = mapping[key]
    for pattern in value if isinstance(value, list) else [value]:
        if isinstance(pattern, str) and ".." in pattern.lstrip("!").split("/"):
            c.fail(
                c.line_of(mapping, key),
                f"{where}{key}",
                f"{pattern[:80]!r} contains '..': artifacts are collected from the workspace only",
            )
    return paths.parse(c, mapping, key, where)


# --- collecting ------------------------------------------------------------------


def _size(n):
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n:,} bytes"


class Budget(workspace_files.Budget):
    """MAX_FILES files; HERALD_ARTIFACTS_MAX_JOB_BYTES, or what is left of
    HERALD_ARTIFACTS_MAX_TOTAL_BYTES (`room`) when that is less."""

    def __init__(self, job_cap, room):
        limits = [limit for limit in (job_cap or None, room) if limit is not None]
        super().__init__(MAX_FILES, None, min(limits) if limits else None)
        self.by_installation = room is not None and (not job_cap or room < job_cap)

    def too_much(self, size):
        if self.by_installation:
            return (
                f"it is {_size(size)}, and the installation's artifacts would pass "
                f"HERALD_ARTIFACTS_MAX_TOTAL_BYTES ({_size(settings.HERALD_ARTIFACTS_MAX_TOTAL_BYTES)}): "
                "older builds' artifacts go with retention, or raise it"
            )
        return (
            f"it is {_size(size)}, and the job's artifacts would pass "
            f"HERALD_ARTIFACTS_MAX_JOB_BYTES ({_size(settings.HERALD_ARTIFACTS_MAX_JOB_BYTES)})"
        )


def budget():
    total_cap = settings.HERALD_ARTIFACTS_MAX_TOTAL_BYTES
    room = None
    if total_cap:
        stored = Artifact.objects.aggregate(b=Sum("size"))["b"] or 0
        room = max(total_cap - stored, 0)
    return Budget(settings.HERALD_ARTIFACTS_MAX_JOB_BYTES, room)


class _Hashing:
    """The file being stored, hashed and counted as the storage reads it.
    No seek(): Django's File.chunks() then reads it once from where it is."""

    def __init__(self, f):
        self.f = f
        self.sha = hashlib.sha256()
        self.bytes = 0

    def read(self, n=-1):
        data = self.f.read(n)
        self.sha.update(data)
        self.bytes += len(data)
        return data


def collect(job, spec, succeeded, docker_env, log_writer, secrets=()):
    """Store the job's artifacts (replacing an earlier attempt's); says in
    the log what it kept and what it left out. Never raises."""
    if spec is None:
        return []
    if not spec.wanted(succeeded):
        outcome = "succeeded" if succeeded else "did not succeed"
        log_writer.note(f"Artifacts: not collected (when: {spec.when}, and the build {outcome})")
        return []
    try:
        return _collect(job, spec, docker_env, log_writer, secrets)
    except Exception as e:
        log.exception("job %s: artifacts", job.pk)
        log_writer.note(f"Artifacts could not be collected: {e}")
        return []


def _collect(job, spec, docker_env, log_writer, secrets):
    shown = paths.shown(spec.paths)
    workspace = docker_env.workspace
    if workspace is None or workspace.volume is None:
        log_writer.note(f"Artifacts: no step ran, so no file matches artifacts: {shown}")
        return []
    # An earlier attempt's (a requeued job): their files go on commit, now.
    Artifact.objects.filter(job=job).delete()
    values = secret_values([*secrets, *server_secrets()])
    allowed = budget()
    if workspace.on_host:
        found = workspace_files.on_host(docker_env.checkout, spec.paths, allowed)
    else:
        found = workspace_files.in_volume(workspace, spec.paths, allowed, "artifacts")
    storage = artifact_storage()
    kept, skipped = [], 0
    for relative, item in found:
        name = mask(paths.listed([relative]), values)[:1000]
        if item is workspace_files.SKIPPED:
            skipped += 1
        elif isinstance(item, workspace_files.Refused):
            log_writer.note(f"Artifact {name} left out: {item}")
        else:
            kept.append(_store(job, storage, len(kept) + 1, name, item))
    if skipped:
        log_writer.note(f"Artifacts: {skipped} more files match; only the first {MAX_FILES} are kept")
    if not kept:
        log_writer.note(f"Artifacts: no file kept from artifacts: {shown}")
        return []
    size = sum(a.size for a in kept)
    files = f"{len(kept)} file{'s' if len(kept) != 1 else ''}"
    log_writer.note(f"Artifacts: {files}, {_size(size)}: {paths.listed([a.path for a in kept])}")
    return kept


def _store(job, storage, number, name, item):
    hashing = _Hashing(item)
    wanted = f"{job.pk}/{number}"
    try:
        stored = storage.save(wanted, File(hashing))
    except BaseException:
        # A write cut short (a full disk, the store gone) leaves no half file.
        # The name is this job's own: an earlier attempt's were deleted.
        if storage.exists(wanted):
            storage.delete(wanted)
        raise
    try:
        return Artifact.objects.create(
            job=job, path=name, size=hashing.bytes, sha256=hashing.sha.hexdigest(), stored=stored
        )
    except BaseException:
        storage.delete(stored)  # no row, no file
        raise
