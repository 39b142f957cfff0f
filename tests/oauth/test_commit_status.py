"""Commit statuses: recorded when a job is queued, starts and ends; posted
by a queued task that retries with backoff and never fails the build. What
every forge with sign-in does runs on each one's fake (`on_forge`); the
race below needs the fake GitHub's `hold`."""

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from builds import constants as C
from builds.models import Job
from repositories.commit_status import describe
from repositories.models import CommitStatus, ForgeAccount, Repository
from repositories.tasks import post_commit_status
from tests.forges.oauth_kit import SHA, build_to_success, new_job


@pytest.fixture
def enabled(signed_in, fake_github):
    from repositories.models import Repository

    fake_github.add_repo("octocat/widgets", permission="admin")
    signed_in.post("/account/repositories/github/enable", {"full_name": "octocat/widgets"})
    return Repository.objects.get(full_name="octocat/widgets")


@pytest.fixture
def on_forge(oauth_forge, client, db):
    """(the forge, a repository its signed-in user enabled through its fake)."""
    full_name = f"{oauth_forge.kit.login}/widgets"
    oauth_forge.kit.add_admin_repo(oauth_forge.fake, full_name)
    assert oauth_forge.sign_in(client).status_code == 302
    client.post(f"/account/repositories/{oauth_forge.id}/enable", {"full_name": full_name})
    return oauth_forge, Repository.objects.get(full_name=full_name)


def test_it_posts_pending_then_success_with_the_job_link(on_forge, settings, django_capture_on_commit_callbacks):
    forge, repo = on_forge
    job = new_job(repo, django_capture_on_commit_callbacks)
    build_to_success(job, django_capture_on_commit_callbacks)
    rows = list(CommitStatus.objects.order_by("id"))
    assert [r.job_status for r in rows] == ["queued", "running", "success"]
    # Each row was handed to django-q2 as its own task.
    assert OrmQ.objects.count() >= 3
    for row in rows:
        assert post_commit_status(row.pk) == CommitStatus.SENT
    posted = forge.fake.statuses(repo.full_name)
    # In the forge's own words (github: pending, pending, success).
    assert [p["state"] for p in posted] == [forge.forge.state_for(s) for s in ("queued", "running", "success")]
    assert posted[-1]["description"] == f"Build #{job.number} passed in 41 s"
    assert all(p["target_url"] == f"{settings.HERALD_BASE_URL}/jobs/{job.pk}/" for p in posted)
    assert all(p[forge.kit.context_field] == "herald/push" for p in posted)
    assert forge.fake.received("POST", f"/statuses/{SHA}$")
    auth = forge.fake.received("POST", "/statuses/")[0].headers["Authorization"]
    assert auth == f"Bearer {ForgeAccount.objects.get().token}"


def test_it_never_lets_an_older_state_overwrite_a_newer_one(on_forge, django_capture_on_commit_callbacks):
    forge, repo = on_forge
    job = new_job(repo, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        job.claim("w")
        job.finish(C.FAILED, exit_code=2)
    queued, running, failed = CommitStatus.objects.order_by("id")
    assert post_commit_status(failed.pk) == CommitStatus.SENT
    assert post_commit_status(queued.pk) == CommitStatus.SUPERSEDED
    assert post_commit_status(running.pk) == CommitStatus.SUPERSEDED
    assert [p["state"] for p in forge.fake.statuses()] == [forge.forge.state_for(C.FAILED)]  # github: failure
    assert post_commit_status(failed.pk) == "nothing to do"  # a redelivered task


def test_an_older_state_that_lands_last_gets_the_newest_posted_again(
    enabled, fake_github, transactional_db, django_capture_on_commit_callbacks
):
    """Two workers post `running` and `success` at the same moment: the forge
    stores success, then running, before the success task has recorded its
    answer. The success task notices when it does and posts itself again."""
    import threading

    job = new_job(enabled, django_capture_on_commit_callbacks)
    build_to_success(job, django_capture_on_commit_callbacks)
    queued, running, success = CommitStatus.objects.order_by("id")
    hold = fake_github.hold("POST", "/statuses/")
    newer = threading.Thread(target=post_commit_status, args=(success.pk,))
    newer.start()
    assert hold.reached.wait(10)  # the forge has stored success, Herald hasn't heard back
    assert post_commit_status(running.pk) == CommitStatus.SENT  # lands last
    hold.release.set()
    newer.join(10)
    assert [p["state"] for p in fake_github.statuses()] == ["success", "pending"]
    success.refresh_from_db()
    assert success.outcome == CommitStatus.QUEUED  # and its task is queued again
    assert post_commit_status(success.pk) == CommitStatus.SENT
    assert [p["state"] for p in fake_github.statuses()][-1] == "success"
    assert post_commit_status(queued.pk) == CommitStatus.SUPERSEDED


def test_it_retries_a_forge_that_is_down_with_backoff(on_forge, settings, django_capture_on_commit_callbacks):
    forge, repo = on_forge
    settings.HERALD_STATUS_ATTEMPTS = 3
    settings.HERALD_STATUS_RETRY_SECONDS = 30
    new_job(repo, django_capture_on_commit_callbacks)
    row = CommitStatus.objects.get()
    forge.fake.fail("POST", "/statuses/", 503, body={"message": "Service Unavailable"}, times=1)
    assert post_commit_status(row.pk) == "retrying in 30 s"
    row.refresh_from_db()
    assert row.outcome == CommitStatus.RETRYING and row.attempts == 1 and row.response_code == 503
    retry = Schedule.objects.get(func="repositories.tasks.post_commit_status")
    assert retry.args == f"({row.pk},)" and 25 <= (retry.next_run - timezone.now()).total_seconds() <= 31
    assert post_commit_status(row.pk) == CommitStatus.SENT  # the scheduled retry
    row.refresh_from_db()
    assert row.outcome == CommitStatus.SENT and row.attempts == 2 and row.last_error == ""


def test_a_status_whose_task_was_lost_is_posted_by_housekeeping(on_forge, django_capture_on_commit_callbacks):
    """A broker without persistence can lose the task: the row stays
    "queued" until housekeeping finds it stale and hands it to the queue again."""
    from datetime import timedelta

    from builds import housekeeping

    forge, repo = on_forge
    new_job(repo, django_capture_on_commit_callbacks)
    row = CommitStatus.objects.get()
    OrmQ.objects.all().delete()  # the task is lost
    housekeeping.reap()
    assert not OrmQ.objects.exists()  # a fresh row: its task may still be on its way
    CommitStatus.objects.filter(pk=row.pk).update(updated=timezone.now() - timedelta(minutes=11))
    housekeeping.reap()
    (task,) = OrmQ.objects.all()
    assert task.task["func"] == "repositories.tasks.post_commit_status" and task.task["args"] == (row.pk,)
    assert post_commit_status(row.pk) == CommitStatus.SENT
    assert [p["state"] for p in forge.fake.statuses(repo.full_name)] == [forge.forge.state_for("queued")]


def test_it_gives_up_and_records_it_after_the_last_attempt(on_forge, settings, django_capture_on_commit_callbacks):
    forge, repo = on_forge
    settings.HERALD_STATUS_ATTEMPTS = 2
    new_job(repo, django_capture_on_commit_callbacks)
    row = CommitStatus.objects.get()
    forge.fake.fail("POST", "/statuses/", 500, body={"message": "Internal Server Error"})
    post_commit_status(row.pk)
    assert post_commit_status(row.pk) == CommitStatus.FAILED
    row.refresh_from_db()
    assert row.outcome == CommitStatus.FAILED and row.attempts == 2
    assert "gave up after 2 attempts" in row.last_error and "HTTP 500" in row.last_error


def test_a_revoked_token_fails_the_post_and_marks_the_account(on_forge, django_capture_on_commit_callbacks):
    forge, repo = on_forge
    new_job(repo, django_capture_on_commit_callbacks)
    forge.fake.revoke()
    assert post_commit_status(CommitStatus.objects.get().pk) == CommitStatus.FAILED
    assert ForgeAccount.objects.get().revoked_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        job = Job.objects.get()
        job.claim("w")
    assert post_commit_status(CommitStatus.objects.order_by("-id").first().pk) == CommitStatus.SKIPPED


def test_repositories_added_by_hand_get_no_status(make_repository, django_capture_on_commit_callbacks):
    repo = make_repository()
    new_job(repo, django_capture_on_commit_callbacks)
    assert not CommitStatus.objects.exists()


def test_a_status_failure_never_breaks_the_job(on_forge, django_capture_on_commit_callbacks, monkeypatch):
    import repositories.commit_status as cs

    def broken(*a, **kw):
        raise RuntimeError("queue is down")

    monkeypatch.setattr(cs, "enqueue", broken)
    job = new_job(on_forge[1], django_capture_on_commit_callbacks)
    assert Job.objects.get(pk=job.pk).status == C.QUEUED


@pytest.mark.parametrize(
    "status,extra,text",
    [
        ("queued", {}, "Build #12 is queued"),
        ("running", {}, "Build #12 is running"),
        ("success", {"seconds": 41}, "Build #12 passed in 41 s"),
        ("failed", {"seconds": 125, "exit_code": 3}, "Build #12 failed in 2 min 5 s (exit code 3)"),
        (
            "errored",
            {"reason": "Clone failed: repository not found"},
            "Build #12 errored: Clone failed: repository not found",
        ),
        ("cancelled", {}, "Build #12 was cancelled"),
        ("timed_out", {"seconds": 3600}, "Build #12 timed out in 1 h"),
    ],
)
def test_descriptions_read_like_a_sentence(status, extra, text):
    now = timezone.now()
    job = Job(number=12, status=status, exit_code=extra.get("exit_code"), reason=extra.get("reason", ""))
    if "seconds" in extra:
        job.started_at, job.finished_at = now - timezone.timedelta(seconds=extra["seconds"]), now
    assert describe(job, status) == text
