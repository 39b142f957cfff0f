"""Test reports: the JUnit XML files a build leaves in its workspace.

    reports: ["**/junit*.xml", "build/test-results/**/*.xml"]

After the steps (whether they passed or failed; not when the job was
stopped), the files the globs match (wcmatch, as builds/paths.py reads them)
are read from the workspace and parsed (builds/junit.py); the job gets one
TestReport with the totals of every file and its failed and errored tests,
masked like the log. A file that cannot be read — malformed, too big, a
symbolic link leading out of the workspace, a DTD — is named in the log with
the reason and left out: a report never fails or errors a build on its own.

Every byte is the build's: the files are read from the workspace in either
mode by builds/workspace_files.py (links resolved and refused unless they
stay in the checkout, sizes checked against the caps before a byte of a
file is read), which artifacts (builds/artifacts.py) share.
"""

import logging

from django.db import transaction
from django.db.models import Count, Max, Min

from builds import junit, paths, workspace_files
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


# --- reading the files (builds/workspace_files.py) ---------------------------------

Refused = workspace_files.Refused
SKIPPED = workspace_files.SKIPPED


class Budget(workspace_files.Budget):
    """MAX_FILE_BYTES a report, MAX_TOTAL_BYTES in all, MAX_FILES files."""

    def __init__(self):
        super().__init__(MAX_FILES, MAX_FILE_BYTES, MAX_TOTAL_BYTES)

    def too_big(self, size):
        return f"it is {size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB"

    def too_much(self, size):
        return f"the job's reports pass {MAX_TOTAL_BYTES // 2**20} MB together"


def files_on_host(checkout, patterns, budget):
    """(relative path, bytes, Refused or SKIPPED) for each file of the
    checkout the patterns match (`bind` mode)."""
    return _contents(workspace_files.on_host(checkout, patterns, budget))


def files_in_volume(workspace, patterns, budget):
    """The same from the workspace volume (`copy` mode)."""
    return _contents(workspace_files.in_volume(workspace, patterns, budget, "reports"))


def _contents(found):
    for relative, item in found:
        yield relative, item if isinstance(item, (Refused, str)) else item.read()


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
