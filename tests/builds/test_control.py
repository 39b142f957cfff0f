"""Control: timeout, log cap, cancel and restart (API, with a token),
auto-cancel, concurrency limits, and the createtoken/setsecret commands."""

import io
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from builds import constants as C
from builds.claim import claim_next_job
from builds.lifecycle import create_job, restart
from builds.models import Job, LogChunk
from repositories.models import ApiToken, Membership, Secret
from tests.builds.helpers import job_objects, log_of, queue, run_commit, steps_of
from tests.support import TEST_IMAGE

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup(git_repo, make_repository, test_image):
    def make(files, **repo_fields):
        src = git_repo()
        sha = src.commit(files)
        return make_repository("acme/widgets", clone_url=src.url, **repo_fields), sha

    return make


# --- timeout and log cap (real Docker) -------------------------------------------


@pytest.mark.docker
def test_the_files_timeout_stops_the_job_as_timed_out(setup, docker_client, settings):
    repo, sha = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
timeout: 3s
steps:
  - name: slow
    commands: [echo started-slowly, sleep 120, echo never]
  - name: after
    always: true
    commands: [echo not-after-a-timeout]
"""
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "timed_out" and job.exit_code is None
    assert job.reason == "Stopped after the 3 s timeout"
    assert steps_of(job) == [("slow", "timed_out", None), ("after", "skipped", None)]
    text = log_of(job)
    assert "started-slowly\n" in text  # the partial log is kept
    assert "not-after-a-timeout\n" not in text
    assert job_objects(docker_client, job) == []
    assert not (settings.WORKSPACE_DIR / f"job-{job.pk}").exists()


@pytest.mark.docker
def test_a_timeout_interrupts_a_docker_build_step(setup, docker_client):
    repo, sha = setup(
        {
            ".herald.yml": f"image: {TEST_IMAGE}\ntimeout: 3s\nsteps:\n  - name: image\n    build: Dockerfile\n",
            # Unique, so Docker's cache cannot skip the slow RUN.
            "Dockerfile": f"FROM {TEST_IMAGE}\nRUN echo building-{time.time()} && sleep 120\n",
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "timed_out"
    assert steps_of(job) == [("image", "timed_out", None)]
    assert "building-" in log_of(job)
    assert job_objects(docker_client, job) == []


def test_the_timeout_is_the_files_else_the_repositorys_within_the_installations_maximum(make_repository, settings):
    from builds.pipeline import Pipeline
    from builds.runner import Runner

    settings.HERALD_MAX_TIMEOUT_MINUTES = 90
    repo = make_repository(build_timeout=25)
    runner = Runner(queue(repo, "a" * 40))
    assert runner.timeout == 25 * 60
    assert runner.timeout_seconds(Pipeline(source=".herald.yml", steps=[])) == 25 * 60
    assert runner.timeout_seconds(Pipeline(source=".herald.yml", steps=[], timeout=30)) == 30
    assert runner.timeout_seconds(Pipeline(source=".herald.yml", steps=[], timeout=5 * 3600)) == 90 * 60


@pytest.mark.docker
def test_past_the_log_cap_the_head_and_the_tail_are_kept_and_the_job_finishes(setup, settings):
    settings.HERALD_LOG_MAX_BYTES = 8 * 1024
    repo, sha = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
steps:
  - name: chatty
    commands: ["seq 1 50000", "echo the-build-went-on > /repo/marker", "echo THE-LAST-LINE-OF-CHATTY"]
  - name: after
    commands: [cat marker]
"""
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "success"
    assert steps_of(job) == [("chatty", "success", 0), ("after", "success", 0)]
    text = log_of(job)
    assert len(text.encode()) <= 8 * 1024 + 1024  # the cap, and Herald's two lines about it
    # The head: the first lines, as they came.
    assert "\n1\n2\n3\n" in text
    assert "The log reached 0.0078125 MiB of its 0.0078125 MiB limit" not in text
    assert "The log reached 0.00585938 MiB of its 0.0078125 MiB limit (HERALD_LOG_MAX_BYTES)" in text
    # The middle, left out and counted.
    head, _, rest = text.partition(" lines (")
    left_out = int(head.rsplit(" ", 1)[-1].replace(",", ""))
    assert 40000 < left_out < 50000 and "of output were left out here; the last part follows." in rest
    assert "\n25000\n" not in text
    # The tail: where failures are, starting on a whole line.
    tail = rest.split("the last part follows.\n", 1)[1]
    assert tail.split("\n", 1)[0].isdigit()
    assert "\n50000\n" in tail and "\nTHE-LAST-LINE-OF-CHATTY\n" in tail
    assert "the-build-went-on" in tail and "success" in tail.splitlines()[-1]
    # The steps' sections still lead somewhere: "after" starts at the cap's line.
    job.refresh_from_db()
    assert job.log_bytes == len(text.encode())


# --- cancel and restart through the API ----------------------------------------------


@pytest.fixture
def pusher(db, make_repository):
    user = get_user_model().objects.create_user("ada", password="pw")
    return user, ApiToken.issue(user)


def test_the_api_cancels_a_queued_job_with_a_bearer_token(make_repository, pusher, client):
    user, token = pusher
    repo = make_repository()
    Membership.objects.create(user=user, repository=repo, permission=Membership.PUSH)
    job = queue(repo, "a" * 40)

    assert client.post(f"/api/jobs/{job.pk}/cancel").status_code == 401
    assert client.post(f"/api/jobs/{job.pk}/cancel", HTTP_AUTHORIZATION="Bearer hci_wrong").status_code == 401
    r = client.post(f"/api/jobs/{job.pk}/cancel", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    assert r.json()["reason"] == "Cancelled by ada"
    again = client.post(f"/api/jobs/{job.pk}/cancel", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert again.status_code == 409


def test_the_api_restarts_a_job_for_the_same_commit_and_event(make_repository, pusher, client):
    user, token = pusher
    repo = make_repository()
    job = queue(repo, "b" * 40, branch="dev")
    Job.objects.filter(pk=job.pk).update(status="failed")
    assert client.post(f"/api/jobs/{job.pk}/restart", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    Membership.objects.create(user=user, repository=repo, permission=Membership.PUSH)
    r = client.post(f"/api/jobs/{job.pk}/restart", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 201
    new = Job.objects.get(pk=r.json()["id"])
    assert (new.commit, new.event, new.branch, new.status) == ("b" * 40, "push", "dev", "queued")
    assert new.number == job.number + 1 and new.restarted_from_id == job.pk and new.triggered_by == "ada"


def test_a_restart_copies_everything_that_triggered_the_job(make_repository, make_job):
    repo = make_repository()
    job = make_job(
        repo,
        event="pull_request",
        ref="refs/pull/7/head",
        branch="fast",
        tag="",
        commit="c" * 40,
        message="Faster",
        author="Mallory",
        pr_number=7,
        pr_title="Faster widgets",
        source_branch="fast",
        target_branch="main",
        source_repo="mallory/widgets",
        from_fork=True,
        source_url="https://example.com/mallory/widgets.git",
        # What it changed: a rebuild filters paths the same way.
        before="d" * 40,
        changed_files=["src/fast.py"],
        status="failed",
    )
    new = restart(job)
    assert set(C.TRIGGER_FIELDS) <= {f.name for f in Job._meta.concrete_fields}
    assert new.trigger_fields() == job.trigger_fields()
    assert all(getattr(new, name) not in ("", None, False) for name in C.TRIGGER_FIELDS if name != "tag")


# --- auto-cancel -------------------------------------------------------------------


def test_a_new_push_cancels_older_builds_of_the_same_branch(make_repository):
    repo = make_repository()
    old_main = queue(repo, "1" * 40, branch="main")
    running_main = queue(repo, "2" * 40, branch="main")
    other_branch = queue(repo, "3" * 40, branch="dev")
    Job.objects.filter(pk=running_main.pk).update(status="running")
    newest = queue(repo, "4" * 40, branch="main")

    old_main.refresh_from_db()
    running_main.refresh_from_db()
    other_branch.refresh_from_db()
    assert (old_main.status, old_main.reason) == ("cancelled", f"Superseded by #{running_main.number}")
    # A running job is asked to stop; its worker stops it within a second.
    assert running_main.status == "running" and running_main.cancel_requested
    assert running_main.reason == f"Superseded by #{newest.number}"
    assert other_branch.status == "queued"


def test_auto_cancel_follows_pull_requests_and_can_be_switched_off(make_repository):
    repo = make_repository()
    pr = queue(repo, "1" * 40, event="pull_request", branch="", ref="refs/pull/5/head", pr_number=5)
    other_pr = queue(repo, "2" * 40, event="pull_request", branch="", ref="refs/pull/6/head", pr_number=6)
    queue(repo, "3" * 40, event="pull_request", branch="", ref="refs/pull/5/head", pr_number=5)
    assert Job.objects.get(pk=pr.pk).status == "cancelled"
    assert Job.objects.get(pk=other_pr.pk).status == "queued"

    repo.auto_cancel = False
    repo.save()
    kept = queue(repo, "5" * 40, branch="main")
    queue(repo, "6" * 40, branch="main")
    assert Job.objects.get(pk=kept.pk).status == "queued"


# --- concurrency limits ---------------------------------------------------------------


def test_a_worker_runs_no_more_than_its_concurrency(make_repository, settings):
    settings.HERALD_CONCURRENCY = 1
    repo = make_repository()
    first, second = queue(repo, "1" * 40, branch="a"), queue(repo, "2" * 40, branch="b")
    assert claim_next_job("host-1")[0].pk == first.pk
    assert claim_next_job("host-1") == (None, "host-full")
    assert claim_next_job("host-2")[0].pk == second.pk


def test_the_installation_limit_holds_across_workers(make_repository, settings):
    settings.HERALD_CONCURRENCY = 5
    settings.HERALD_MAX_RUNNING = 2
    repo = make_repository()
    jobs = [queue(repo, str(i) * 40, branch=f"b{i}") for i in range(1, 4)]
    assert claim_next_job("host-1")[0].pk == jobs[0].pk
    assert claim_next_job("host-2")[0].pk == jobs[1].pk
    assert claim_next_job("host-3") == (None, "installation-full")
    Job.objects.get(pk=jobs[0].pk).finish("success", exit_code=0)
    assert claim_next_job("host-3")[0].pk == jobs[2].pk


def test_a_repositorys_limit_keeps_its_jobs_queued_in_order(make_repository, settings):
    settings.HERALD_CONCURRENCY = 10
    busy = make_repository("acme/busy", max_concurrency=1)
    calm = make_repository("acme/calm")
    b1, b2, b3 = (queue(busy, str(i) * 40, branch=f"b{i}") for i in range(1, 4))
    c1 = queue(calm, "c" * 40)
    assert claim_next_job("w")[0].pk == b1.pk
    # busy is at its limit: its next jobs wait, calm's job goes ahead.
    assert claim_next_job("w")[0].pk == c1.pk
    assert claim_next_job("w") == (None, "nothing-eligible")
    Job.objects.get(pk=b1.pk).finish("success", exit_code=0)
    assert claim_next_job("w")[0].pk == b2.pk
    Job.objects.get(pk=b2.pk).finish("failed", exit_code=1)
    assert claim_next_job("w")[0].pk == b3.pk


def test_a_job_twin_delivered_moments_later_is_not_created_twice(make_repository):
    repo = make_repository()
    with transaction.atomic():
        first, created = create_job(repo, event="push", commit="a" * 40, ref="refs/heads/main", branch="main")
    with transaction.atomic():
        again, created_again = create_job(repo, event="push", commit="a" * 40, ref="refs/heads/main", branch="main")
    assert created and not created_again and again.pk == first.pk


# --- management commands -----------------------------------------------------------------


def test_createtoken_prints_a_token_the_api_accepts(make_repository, client):
    get_user_model().objects.create_user("grace")
    out = io.StringIO()
    call_command("createtoken", "grace", "--name", "ci script", stdout=out)
    token = out.getvalue().strip()
    assert token.startswith("hci_")
    row = ApiToken.objects.get(user__username="grace")
    assert row.name == "ci script" and token not in (row.digest, row.prefix)
    repo = make_repository(private=True)
    Membership.objects.create(user=row.user, repository=repo, permission=Membership.PULL)
    job = queue(repo, "a" * 40)
    assert client.get(f"/api/jobs/{job.pk}/").status_code == 404  # private, anonymous
    assert client.get(f"/api/jobs/{job.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("createtoken", "nobody")


def test_setsecret_reads_the_value_from_standard_input(make_repository, monkeypatch):
    repo = make_repository("acme/widgets")
    out = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cr3t-value\n"))
    call_command("setsecret", "acme/widgets", "DEPLOY_KEY", stdout=out)
    assert "Set secret DEPLOY_KEY on acme/widgets" in out.getvalue()
    secret = Secret.objects.get(repository=repo, name="DEPLOY_KEY")
    assert secret.value == "s3cr3t-value" and not secret.allow_forks

    monkeypatch.setattr("sys.stdin", io.StringIO("rotated"))
    call_command("setsecret", "ACME/Widgets", "DEPLOY_KEY", "--allow-forks", stdout=out)
    secret.refresh_from_db()
    assert secret.value == "rotated" and secret.allow_forks
    assert "s3cr3t" not in out.getvalue() and "rotated" not in out.getvalue()

    for args, stdin, message in [
        (("acme/nope", "X"), "v", "no repository 'acme/nope'"),
        (("acme/widgets", "1BAD"), "v", "a secret name is letters"),
        (("acme/widgets", "EMPTY"), "", "no value on standard input"),
    ]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        with pytest.raises(CommandError, match=message):
            call_command("setsecret", *args)


def test_log_chunks_of_a_cancelled_queued_job_are_none(make_repository):
    repo = make_repository()
    job = queue(repo, "a" * 40)
    assert job.request_cancel("Cancelled by test")
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finished_at
    assert claim_next_job("w") == (None, "nothing-eligible")
    assert not LogChunk.objects.filter(job=job).exists()


def test_a_blocked_job_is_never_claimed_nor_topped_up_and_can_be_cancelled(make_repository, monkeypatch):
    from builds import housekeeping

    repo = make_repository()
    blocked = queue(
        repo,
        "a" * 40,
        event="pull_request",
        branch="main",
        ref="refs/pull/3/head",
        pr_number=3,
        from_fork=True,
        source_repo="mallory/widgets",
    )
    assert blocked.status == "blocked"
    Job.objects.filter(pk=blocked.pk).update(created_at=blocked.created_at - timezone.timedelta(hours=1))
    assert claim_next_job("w") == (None, "nothing-eligible")
    # The reaper tops up build tokens for queued jobs only: nothing to wake a worker for.
    tokens = []
    monkeypatch.setattr(housekeeping, "enqueue_token", lambda *a: tokens.append(a))
    monkeypatch.setattr(housekeeping, "sweep_local", lambda: None)
    monkeypatch.setattr(housekeeping, "prune_build_cache", lambda: 0)
    housekeeping.reap()
    assert tokens == [] and Job.objects.get(pk=blocked.pk).status == "blocked"
    assert blocked.request_cancel("Cancelled by ada")
    assert Job.objects.get(pk=blocked.pk).status == "cancelled"
