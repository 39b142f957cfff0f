"""Who is told about a build: on failure, when fixed, always; the default
branch only or every branch. A table of build histories (the builds before,
on the same line, then the one that ends) → the notifications sent, through
a job's real end, the queue (sync mode) and Django's mail framework."""

import pytest
from django.core import mail

from builds import constants as C
from repositories.notifications.models import Notification, NotificationDelivery
from tests.conftest import finished

ON = {
    "ff@x.test": ("failure_fixed", "default"),  # the default
    "fail-all@x.test": ("failure", "all"),
    "fixed-all@x.test": ("fixed", "all"),
    "always@x.test": ("always", "default"),
    "always-all@x.test": ("always", "all"),
}
FF, FAIL_ALL, FIXED_ALL, ALWAYS, ALWAYS_ALL = ON

MAIN = {"branch": "main"}
FEATURE = {"branch": "feature"}
PR5 = {"event": C.PULL_REQUEST, "branch": "main", "pr_number": 5}
PR6 = {"event": C.PULL_REQUEST, "branch": "main", "pr_number": 6}
MANUAL = {"event": C.MANUAL, "branch": "main"}
CRON = {"event": C.CRON, "branch": "main"}
TAG = {"event": C.TAG, "branch": "", "tag": "v1.0", "ref": "refs/tags/v1.0"}

CASES = [
    # (builds before: (where, status)…, the build that ends, its status, who is told)
    ([], MAIN, C.FAILED, {FF, FAIL_ALL, ALWAYS, ALWAYS_ALL}),
    ([], MAIN, C.SUCCESS, {ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.SUCCESS)], MAIN, C.SUCCESS, {ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.FAILED)], MAIN, C.FAILED, {FF, FAIL_ALL, ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.FAILED)], MAIN, C.SUCCESS, {FF, FIXED_ALL, ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.ERRORED)], MAIN, C.SUCCESS, {FF, FIXED_ALL, ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.TIMED_OUT)], MAIN, C.SUCCESS, {FF, FIXED_ALL, ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.SUCCESS)], MAIN, C.ERRORED, {FF, FAIL_ALL, ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.SUCCESS)], MAIN, C.TIMED_OUT, {FF, FAIL_ALL, ALWAYS, ALWAYS_ALL}),
    # Cancelled and skipped builds count neither way …
    ([(MAIN, C.FAILED), (MAIN, C.CANCELLED)], MAIN, C.SUCCESS, {FF, FIXED_ALL, ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.FAILED), (MAIN, C.SKIPPED)], MAIN, C.SUCCESS, {FF, FIXED_ALL, ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.FAILED)], MAIN, C.CANCELLED, {ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.FAILED)], MAIN, C.SKIPPED, {ALWAYS, ALWAYS_ALL}),
    # … and fixed means the first success after a failure.
    ([(MAIN, C.FAILED), (MAIN, C.SUCCESS)], MAIN, C.SUCCESS, {ALWAYS, ALWAYS_ALL}),
    # Run now and schedules are builds of the branch like pushes.
    ([(MAIN, C.FAILED)], MANUAL, C.SUCCESS, {FF, FIXED_ALL, ALWAYS, ALWAYS_ALL}),
    ([(CRON, C.FAILED)], MAIN, C.SUCCESS, {FF, FIXED_ALL, ALWAYS, ALWAYS_ALL}),
    # Other branches: only the notifications for every branch.
    ([], FEATURE, C.FAILED, {FAIL_ALL, ALWAYS_ALL}),
    ([(FEATURE, C.FAILED)], FEATURE, C.SUCCESS, {FIXED_ALL, ALWAYS_ALL}),
    # Each branch is its own line.
    ([(MAIN, C.FAILED)], FEATURE, C.SUCCESS, {ALWAYS_ALL}),
    ([(FEATURE, C.FAILED)], MAIN, C.SUCCESS, {ALWAYS, ALWAYS_ALL}),
    # A pull request into the default branch is not the default branch;
    # it is compared with its own builds only.
    ([], PR5, C.FAILED, {FAIL_ALL, ALWAYS_ALL}),
    ([(PR5, C.FAILED)], PR5, C.SUCCESS, {FIXED_ALL, ALWAYS_ALL}),
    ([(PR5, C.FAILED)], PR6, C.SUCCESS, {ALWAYS_ALL}),
    ([(PR5, C.FAILED)], MAIN, C.SUCCESS, {ALWAYS, ALWAYS_ALL}),
    ([(MAIN, C.FAILED)], PR5, C.SUCCESS, {ALWAYS_ALL}),
    # Tags are not the default branch either.
    ([], TAG, C.FAILED, {FAIL_ALL, ALWAYS_ALL}),
]


@pytest.fixture
def repo(make_repository):
    repo = make_repository(default_branch="main")
    for address, (when, branches) in ON.items():
        Notification.objects.create(repository=repo, kind="email", target=address, when=when, branches=branches)
    return repo


def told():
    return {to for m in mail.outbox for to in m.to}


@pytest.mark.parametrize("before,where,status,expected", CASES)
def test_who_is_told(repo, make_job, end_job, sync_queue, before, where, status, expected):
    for place, result in before:
        make_job(repo, **place, **finished(status=result))
    end_job(make_job(repo, **where), status)
    assert told() == expected
    assert NotificationDelivery.objects.filter(outcome="sent").count() == len(expected)


def test_a_notification_switched_off_tells_nobody(repo, make_job, end_job, sync_queue):
    Notification.objects.update(enabled=False)
    end_job(make_job(repo, branch="main"), C.FAILED)
    assert mail.outbox == [] and not NotificationDelivery.objects.exists()


def test_the_default_is_failure_and_fixed_on_the_default_branch(make_repository):
    n = Notification.objects.create(repository=make_repository(), kind="email", target="a@x.test")
    assert (n.when, n.branches, n.enabled) == ("failure_fixed", "default", True)


def test_a_matrix_build_is_told_once_with_its_overall_result(repo, make_job, end_job, sync_queue):
    first = make_job(repo, branch="main", matrix={"py": "3.11"})
    first.group = first
    first.save()
    others = [make_job(repo, branch="main", matrix={"py": v}, group=first) for v in ("3.12", "3.13")]
    end_job(first, C.SUCCESS)
    end_job(others[0], C.FAILED)
    assert mail.outbox == []  # the build has a job still running
    end_job(others[1], C.SUCCESS)
    assert told() == {FF, FAIL_ALL, ALWAYS, ALWAYS_ALL}
    assert len(mail.outbox) == 4
    assert all(m.subject == f"[acme/widgets] #{first.number} failed on main ({first.commit[:7]})" for m in mail.outbox)
    assert set(NotificationDelivery.objects.values_list("job", flat=True)) == {first.pk}
    body = mail.outbox[0].body
    for job in (first, *others):
        assert f"#{job.number} " in body and job.absolute_url() in body


def test_the_next_matrix_build_that_passes_is_fixed(repo, make_job, end_job, sync_queue):
    failed = make_job(repo, branch="main", matrix={"py": "3.11"}, **finished(status=C.SUCCESS))
    failed.group = failed
    failed.save()
    make_job(repo, branch="main", matrix={"py": "3.12"}, group=failed, **finished(status=C.FAILED))
    end_job(make_job(repo, branch="main"), C.SUCCESS)
    assert told() == {FF, FIXED_ALL, ALWAYS, ALWAYS_ALL}
    assert "is fixed on main" in mail.outbox[0].subject
