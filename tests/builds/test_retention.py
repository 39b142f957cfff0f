"""Retention: old builds go with their steps and logs; what people still
need stays (anything active, the newest build of each branch, the newest
few of each repository)."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from builds import constants as C
from builds.models import Job, JobStep, LogChunk, PruneRun, Worker
from builds.retention import doomed_builds, prune, prune_if_due


@pytest.fixture
def repo(make_repository, settings):
    settings.HERALD_KEEP_BUILDS_MIN = 3
    return make_repository()


def job(repo, number, days_old, branch="main", status=C.SUCCESS, **kw):
    created = timezone.now() - timedelta(days=days_old)
    return Job.objects.create(
        repository=repo, number=number, commit=f"{number:040x}", branch=branch, status=status, created_at=created, **kw
    )


def numbers(ids):
    return sorted(Job.objects.filter(pk__in=ids).values_list("number", flat=True))


def test_builds_older_than_keep_days_go_except_what_is_still_needed(repo, settings):
    settings.HERALD_KEEP_DAYS = 35
    job(repo, 1, 200, branch="old-feature")  # the only build of its branch
    job(repo, 2, 300, status=C.RUNNING)  # still running, however old
    for n in range(3, 13):  # #3 is 90 days old … #12 is 0 days old
        job(repo, n, 120 - 10 * n)
    # The newest 3 (#10–#12) and those newer than 35 days (#9 too) stay.
    assert numbers(doomed_builds(repo)) == [3, 4, 5, 6, 7, 8]


def test_keep_builds_caps_the_count_and_a_repository_may_set_its_own(repo, settings):
    settings.HERALD_KEEP_BUILDS = 5
    for n in range(1, 9):
        job(repo, n, 0)
    assert numbers(doomed_builds(repo)) == [1, 2, 3]
    repo.keep_builds = 0  # this repository keeps everything
    assert doomed_builds(repo) == []
    repo.keep_builds, repo.keep_days = None, 1
    settings.HERALD_KEEP_BUILDS = 0
    assert doomed_builds(repo) == []  # all made today


def test_nothing_goes_unless_retention_is_set(repo):
    for n in range(1, 20):
        job(repo, n, 1000)
    assert doomed_builds(repo) == [] and prune_if_due() is None and not PruneRun.objects.exists()


def test_a_matrix_build_goes_whole_or_not_at_all(repo, settings):
    settings.HERALD_KEEP_DAYS = 1
    first = job(repo, 1, 50)
    Job.objects.filter(pk=first.pk).update(group=first)
    sibling = job(repo, 2, 50, group=first)
    running = job(repo, 3, 50, group=first, status=C.RUNNING)
    for n in range(4, 8):
        job(repo, n, 0)
    assert doomed_builds(repo) == []  # one of its jobs still runs
    Job.objects.filter(pk=running.pk).update(status=C.SUCCESS)
    assert doomed_builds(repo) == [first.pk]  # its first job stands for it
    prune()
    assert not Job.objects.filter(pk__in=[first.pk, sibling.pk, running.pk]).exists()


def test_a_prune_deletes_logs_and_steps_in_batches_and_records_what_it_did(repo, settings, monkeypatch):
    settings.HERALD_KEEP_DAYS = 7
    monkeypatch.setattr("builds.retention.LOG_BATCH", 7)
    monkeypatch.setattr("builds.retention.JOB_BATCH", 2)
    old = [job(repo, n, 30, log_bytes=100) for n in range(1, 6)]
    for j in old:
        JobStep.objects.create(job=j, number=1, name="test")
        LogChunk.objects.bulk_create([LogChunk(job=j, seq=s, text="x" * 10) for s in range(1, 11)])
    kept = [job(repo, n, 0) for n in range(6, 10)]
    run = prune(host="box-1")
    assert (run.builds, run.jobs, run.log_chunks, run.log_bytes, run.error) == (5, 5, 50, 500, "")
    assert run.finished_at and run.host == "box-1"
    assert list(Job.objects.order_by("number").values_list("pk", flat=True)) == [j.pk for j in kept]
    assert not LogChunk.objects.exists() and not JobStep.objects.exists()
    # Housekeeping's call: not again within the interval.
    assert prune_if_due() is None and PruneRun.objects.count() == 1


def test_the_admin_lists_prunes(admin_client, repo, settings):
    settings.HERALD_KEEP_DAYS = 7
    job(repo, 1, 30)
    for n in range(2, 6):
        job(repo, n, 0)
    prune()
    page = admin_client.get("/admin/builds/prunerun/").content.decode()
    assert "retention prune" in page and ">1<" in page


def test_a_long_prune_never_holds_up_the_heartbeats(repo, settings, monkeypatch, transactional_db):
    """A prune of 100,000 jobs takes minutes: housekeeping runs it in a
    thread of its own and goes on beating, or the worker's running builds
    would be taken for lost meanwhile."""
    from builds import housekeeping, retention

    settings.HERALD_KEEP_DAYS = 7
    job(repo, 1, 30)
    for n in range(2, 6):
        job(repo, n, 0)
    inside, release = threading.Event(), threading.Event()
    real = retention._delete_builds

    def slow_batch(build_ids, run):
        inside.set()
        assert release.wait(30)
        real(build_ids, run)

    monkeypatch.setattr(retention, "_delete_builds", slow_batch)
    housekeeping.reap()  # returns while the prune is inside its first batch
    assert inside.wait(10)
    housekeeping.beat(host="box-1")
    assert Worker.objects.filter(host="box-1").exists()
    assert retention.prune_in_background() is None  # one prune at a time in a process
    release.set()
    retention._pruner[0].join(30)
    assert not Job.objects.filter(number=1).exists()
    assert PruneRun.objects.get().builds == 1
