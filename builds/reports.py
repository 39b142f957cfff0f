"""Test reports: the JUnit XML files a build leaves in its workspace.

    reports: ["**/junit*.xml", "build/test-results/**/*.xml"]

After the steps (whether they passed or failed; not when the job was
stopped), the files the globs match (wcmatch, as builds/paths.py reads them)
are read from the workspace and parsed (builds/junit.py); the job gets one
TestReport with the totals of every file and its failed and errored tests,
masked like the log. A file that cannot be read — malformed, too big, a
symbolic link leading out of the workspace, a DTD — is named in the log with
the reason and left out: a report never fails or errors a build on its own.

Every byte is the build's: in `bind` mode the files are on the worker, each
path resolved (links followed) and refused unless it stays in the checkout,
opened without following a link, read up to the cap; in `copy` mode the
workspace volume is read through the engine (the never-started container
holding it) as a tar stream, whose links are resolved by the engine the way
builds/docker/workspace.py resolves any path, and whose sizes are checked
before a byte of a file is read.
"""

import io
import logging
import os
import posixpath
import stat
import tarfile
from pathlib import Path

from django.db import transaction
from django.db.models import Count, Max, Min
from docker import errors as derrors
from wcmatch import glob

from builds import junit, paths
from builds.errors import BuildError
from builds.masking import secret_values, server_secrets
from builds.models import Job, TestCaseFailure, TestReport

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 10 * 2**20  # one report
MAX_TOTAL_BYTES = 50 * 2**20  # all of a job's reports
MAX_FILES = 100
MAX_CASES = 500  # failed and errored tests kept per job (the totals count them all)
# What the repository page weighs: the default branch's last builds with a report.
RECENT_BUILDS = 20


def parse(c, data):
    """The reports: globs of a parsed .herald.yml (checked with the
    pipeline's _Checker `c`); [] when absent."""
    if "reports" in data:
        for pattern in data["reports"] if isinstance(data["reports"], list) else [data["reports"]]:
            if isinstance(pattern, str) and ".." in pattern.lstrip("!").split("/"):
                c.fail(
                    c.line_of(data, "reports"),
                    "reports",
                    f"{pattern[:80]!r} contains '..': reports are read from the workspace only",
                )
    return paths.parse(c, data, "reports", "")


# --- reading the files ----------------------------------------------------------


class Refused(Exception):
    """This file is left out; the message says why."""


SKIPPED = "skipped"  # past MAX_FILES: counted, never read


class Budget:
    """What a job's reports may take, checked before a file is read (its
    size known from the disk or the tar header): MAX_FILE_BYTES a file,
    MAX_TOTAL_BYTES in all, MAX_FILES files."""

    def __init__(self):
        self.files = 0
        self.bytes = 0

    def take(self, size):
        """None when the file may be read (and counts it), else SKIPPED or a Refused."""
        if self.files >= MAX_FILES:
            return SKIPPED
        if size > MAX_FILE_BYTES:
            return Refused(_too_big(size))
        if self.bytes + size > MAX_TOTAL_BYTES:
            return Refused(f"the job's reports pass {MAX_TOTAL_BYTES // 2**20} MB together")
        self.files += 1
        self.bytes += size
        return None


def _matcher(patterns):
    return glob.compile(list(patterns), flags=paths.FLAGS, limit=paths.MAX_EXPANDED)


def files_on_host(checkout, patterns, budget):
    """(relative path, bytes, Refused or SKIPPED) for each file of the
    checkout the patterns match (`bind` mode)."""
    root = Path(checkout).resolve()
    found = glob.glob(list(patterns), flags=paths.FLAGS, root_dir=str(root), limit=paths.MAX_EXPANDED)
    for relative in sorted(found):
        try:
            data = _read_host_file(root, relative, budget)
        except Refused as e:
            data = e
        if data is not None:
            yield relative, data


def _read_host_file(root, relative, budget):
    real = (root / relative).resolve()
    if not real.is_relative_to(root):
        raise Refused("it leads outside the workspace (through a symbolic link)")
    try:
        # O_NOFOLLOW: a link swapped in after resolve() is not followed;
        # O_NONBLOCK: a FIFO named junit.xml does not hold the worker.
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise Refused(f"it cannot be opened ({e.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            return None  # a folder the glob matched: not a report
        raise Refused("it is not a regular file")
    with os.fdopen(fd, "rb") as f:
        why = budget.take(st.st_size)
        if why is not None:
            return why
        # A file still growing (a service writing it) is cut at what it said.
        return f.read(st.st_size)


def files_in_volume(workspace, patterns, budget):
    """(relative path, bytes, Refused or SKIPPED) for each file of the
    workspace volume the patterns match (`copy` mode), read as Docker's tar
    of the deepest folder every pattern starts with."""
    matcher = _matcher(patterns)
    top = _common_folder(patterns)
    try:
        start = workspace.resolve(top, "reports: folder") if top else "/repo"
        bits, _ = workspace.client.api.get_archive(workspace.holder.id, start)
    except (BuildError, derrors.NotFound):
        return  # the folder is not there (or leads out): nothing matches
    except derrors.APIError as e:
        raise BuildError(f"Docker could not read the workspace: {e.explanation or e}") from None
    # The archive's entries are named from the base name of `start`.
    base = posixpath.basename(start) + "/"
    found = []
    with tarfile.open(fileobj=_ChunkReader(bits), mode="r|") as tar:
        for member in tar:
            if not member.name.startswith(base):
                continue
            rest = member.name[len(base) :]
            relative = f"{top}/{rest}" if top else rest
            if not relative or member.isdir() or not matcher.match(relative):
                continue
            if member.issym() or member.islnk():
                found.append((relative, None))  # read once the stream is done
            elif not member.isfile():
                found.append((relative, Refused("it is not a regular file")))
            else:
                why = budget.take(member.size)
                found.append((relative, why if why is not None else tar.extractfile(member).read(member.size)))
    for relative, data in sorted(found, key=lambda item: item[0]):
        if data is None:
            try:
                data = _read_linked(workspace, relative, budget)
            except Refused as e:
                data = e
        yield relative, data


def _read_linked(workspace, relative, budget):
    try:
        path = workspace.resolve(relative, "report")
    except BuildError:
        raise Refused("it leads outside the workspace (through a symbolic link)") from None
    try:
        bits, st = workspace.client.api.get_archive(workspace.holder.id, path)
    except derrors.APIError:
        raise Refused("it cannot be read") from None
    if st.get("size", 0) > MAX_FILE_BYTES:
        raise Refused(_too_big(st["size"]))
    with tarfile.open(fileobj=_ChunkReader(bits), mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                raise Refused("it is not a regular file")
            why = budget.take(member.size)
            return why if why is not None else tar.extractfile(member).read(member.size)
    raise Refused("it cannot be read")


def _common_folder(patterns):
    """The folder every pattern starts with, globs aside ("" for the top):
    `copy` mode reads only that part of the workspace."""
    folders = []
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        parts = []
        for part in pattern.split("/")[:-1]:
            if glob.is_magic(part, flags=paths.FLAGS):
                break
            parts.append(part)
        folders.append(parts)
    if not folders:
        return ""
    common = []
    for level in zip(*folders):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common)


class _ChunkReader(io.RawIOBase):
    """A file over the chunks docker-py streams, for tarfile's stream mode."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.pending = b""

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self.pending:
            self.pending = next(self.chunks, None)
            if self.pending is None:
                self.pending = b""
                return 0
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def _too_big(size):
    return f"it is {size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB"


# --- the job's report --------------------------------------------------------------


def collect(job, patterns, docker_env, log_writer, secrets=()):
    """Read, parse and store the job's reports; says in the log what it
    found and what it left out. Never raises: reports are information."""
    if not patterns:
        return None
    try:
        return _collect(job, patterns, docker_env, log_writer, secrets)
    except Exception as e:
        log.exception("job %s: test reports", job.pk)
        log_writer.note(f"Test reports could not be read: {e}")
        return None


def _collect(job, patterns, docker_env, log_writer, secrets):
    workspace = docker_env.workspace
    shown = paths.shown(patterns)
    if workspace is None or workspace.volume is None:
        log_writer.note(f"Test reports: no step ran, so no file matches reports: {shown}")
        return None
    budget = Budget()
    if workspace.on_host:
        found = files_on_host(docker_env.checkout, patterns, budget)
    else:
        found = files_in_volume(workspace, patterns, budget)
    summary, read, skipped = junit.Summary(), 0, 0
    for relative, data in found:
        name = paths.listed([relative])
        if data is SKIPPED:
            skipped += 1
            continue
        if isinstance(data, Refused):
            log_writer.note(f"Test report {name} left out: {data}")
            continue
        try:
            summary.add(junit.parse(data))
        except junit.Malformed as e:
            log_writer.note(f"Test report {name} left out: {e}")
            continue
        read += 1
    if skipped:
        log_writer.note(f"Test reports: {skipped} more files match; only the first {MAX_FILES} are read")
    if not read:
        log_writer.note(f"Test reports: no readable file matches reports: {shown}")
        return None
    report = store(job, summary, read, secrets)
    log_writer.note(f"Test reports: {read} file{'s' if read != 1 else ''}, {summary.tests} tests: {report.summary()}")
    return report


def store(job, summary, files, secrets=()):
    """The job's TestReport (replacing one an earlier attempt stored), its
    texts masked and stripped of NUL bytes."""
    values = secret_values([*secrets, *server_secrets()])

    def clean(text, limit=None):
        text = text.replace("\0", "")
        for value in values:
            text = text.replace(value, "****")
        return text[:limit] if limit else text

    kept = summary.cases[:MAX_CASES]
    with transaction.atomic():
        TestReport.objects.filter(job=job).delete()
        report = TestReport.objects.create(
            job=job,
            files=files,
            tests=summary.tests,
            passed=summary.passed,
            failed=summary.failed,
            errors=summary.errors,
            skipped=summary.skipped,
            duration=round(summary.duration, 3),
            cases_dropped=len(summary.cases) - len(kept),
        )
        TestCaseFailure.objects.bulk_create(
            TestCaseFailure(
                report=report,
                kind=case.kind,
                suite=clean(case.suite, 255),
                classname=clean(case.classname, 255),
                name=clean(case.name, 500) or "(unnamed)",
                message=clean(case.message),
                output=clean(case.output),
            )
            for case in kept
        )
    return report


# --- the repository's recent failures -------------------------------------------------


def recent_failures(repository, builds=RECENT_BUILDS):
    """The tests that failed in the default branch's last `builds` jobs with
    a report, flaky ones first, then most often: [{name, classname,
    failures, of, flaky, last_job, last_number}]. A test is flaky when it
    passed again after failing (a report that does not list it among its
    failures counts as a pass). Counted by the database: one row a test."""
    numbers = dict(
        Job.objects.filter(repository=repository, branch=repository.default_branch, test_report__isnull=False)
        .exclude(event="pull_request")
        .order_by("-id")
        .values_list("id", "number")[:builds]
    )
    jobs = sorted(numbers, reverse=True)
    if not jobs:
        return []
    rows = (
        TestCaseFailure.objects.filter(report__job_id__in=jobs)
        .order_by()
        .values("classname", "name")
        .annotate(
            failures=Count("report__job_id", distinct=True), first=Min("report__job_id"), last=Max("report__job_id")
        )
    )
    out = []
    for row in rows:
        # The builds from its first failure on: failing in fewer, it passed in between.
        since = sum(1 for job_id in jobs if job_id >= row["first"])
        out.append(
            {
                "classname": row["classname"],
                "name": row["name"],
                "failures": row["failures"],
                "of": len(jobs),
                "flaky": row["failures"] < since,
                "last_job": row["last"],
                "last_number": numbers[row["last"]],
            }
        )
    out.sort(key=lambda t: (-t["flaky"], -t["failures"], t["classname"], t["name"]))
    return out
