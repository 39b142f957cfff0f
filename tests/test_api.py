"""The JSON API: job detail, incremental log, repository job list, access."""

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from builds.lifecycle import create_job
from builds.models import LogChunk
from repositories.models import ApiToken, Membership


@pytest.fixture
def job(make_repository):
    repo = make_repository("acme/widgets")
    with transaction.atomic():
        job, _ = create_job(
            repo,
            event="push",
            commit="a" * 40,
            ref="refs/heads/main",
            branch="main",
            message="Add feature",
            author="Ada",
        )
    return job


def test_it_shows_a_job(client, job):
    data = client.get(f"/api/jobs/{job.pk}/").json()
    for key in (
        "id",
        "number",
        "repository",
        "status",
        "reason",
        "event",
        "ref",
        "branch",
        "commit",
        "message",
        "author",
        "created_at",
        "started_at",
        "finished_at",
        "exit_code",
        "url",
    ):
        assert key in data
    assert (data["repository"], data["status"], data["number"]) == ("acme/widgets", "queued", 1)
    assert data["url"].endswith(f"/jobs/{job.pk}/")


def test_the_log_comes_in_order_after_a_sequence(client, job):
    for seq in range(1, 6):
        LogChunk.objects.create(job=job, seq=seq, text=f"chunk {seq}\n")
    data = client.get(f"/api/jobs/{job.pk}/log").json()
    assert [c["seq"] for c in data["chunks"]] == [1, 2, 3, 4, 5]
    assert data["status"] == "queued" and data["complete"] is False
    data = client.get(f"/api/jobs/{job.pk}/log?after=3").json()
    assert [c["text"] for c in data["chunks"]] == ["chunk 4\n", "chunk 5\n"]


def test_the_log_is_complete_once_the_job_is_final_and_read_to_the_end(client, job):
    LogChunk.objects.create(job=job, seq=1, text="x")
    job.claim("w")
    job.finish("success", exit_code=0)
    assert client.get(f"/api/jobs/{job.pk}/log").json()["complete"] is True
    assert client.get(f"/api/jobs/{job.pk}/log?after=1").json() == {
        "chunks": [],
        "status": "success",
        "complete": True,
        "last": 1,
    }


def test_bad_parameters_are_answered_not_crashed(client, job):
    assert client.get(f"/api/jobs/{job.pk}/log?after=abc").status_code == 404
    assert client.get("/api/jobs/999999/").status_code == 404


def test_the_raw_log_is_streamed_whole(client, job):
    for seq in range(1, 301):
        LogChunk.objects.create(job=job, seq=seq, text=f"{seq}\n")
    r = client.get(f"/jobs/{job.pk}/log.txt")
    assert r.streaming and r["Content-Type"].startswith("text/plain")
    assert b"".join(r.streaming_content).decode() == "".join(f"{i}\n" for i in range(1, 301))


def test_it_lists_a_repositorys_jobs_newest_first_paginated(client, job):
    repo = job.repository
    for i in range(30):
        with transaction.atomic():
            create_job(repo, event="push", commit=f"{i + 1:040x}", ref="refs/heads/b", branch="b")
    data = client.get("/api/repos/acme/widgets/jobs/").json()
    assert data["count"] == 31 and data["pages"] == 2
    assert [j["number"] for j in data["jobs"]][:3] == [31, 30, 29]
    page2 = client.get("/api/repos/acme/widgets/jobs/?page=2").json()
    assert [j["number"] for j in page2["jobs"]] == list(range(6, 0, -1))
    assert client.get("/api/repos/acme/widgets/jobs/?branch=main").json()["count"] == 1
    assert client.get("/api/repos/acme/widgets/jobs/?page=9").status_code == 404


def test_private_repositories_are_hidden_from_strangers(client, job):
    repo = job.repository
    repo.private = True
    repo.save()
    assert client.get(f"/api/jobs/{job.pk}/").status_code == 404
    assert client.get("/api/repos/acme/widgets/jobs/").status_code == 404
    member = User.objects.create_user("member", password="pw")
    Membership.objects.create(user=member, repository=repo, permission="pull")
    token = ApiToken.issue(member)
    r = client.get(f"/api/jobs/{job.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 200


def test_a_bad_token_is_refused(client, job):
    r = client.get(f"/api/jobs/{job.pk}/", HTTP_AUTHORIZATION="Bearer nope")
    assert r.status_code == 401 and "token" in r.json()["reason"]


def test_cancel_and_restart_need_push_access(client, job):
    assert client.post(f"/api/jobs/{job.pk}/cancel").status_code == 401
    reader = User.objects.create_user("reader")
    Membership.objects.create(user=reader, repository=job.repository, permission="pull")
    token = ApiToken.issue(reader)
    assert client.post(f"/api/jobs/{job.pk}/cancel", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    writer = User.objects.create_user("writer")
    Membership.objects.create(user=writer, repository=job.repository, permission="push")
    token = ApiToken.issue(writer)
    r = client.post(f"/api/jobs/{job.pk}/cancel", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    r = client.post(f"/api/jobs/{job.pk}/restart", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 201 and r.json()["number"] == 2 and r.json()["commit"] == job.commit
    assert client.post(f"/api/jobs/{job.pk}/cancel", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 409


def test_session_posts_need_csrf(job):
    from django.test import Client

    staff = User.objects.create_superuser("boss", password="pw")
    c = Client(enforce_csrf_checks=True)
    c.force_login(staff)
    assert c.post(f"/api/jobs/{job.pk}/cancel").status_code == 403


def test_numbers_continue_past_jobs_numbered_some_other_way(job):
    # An import or a restored backup can hold numbers the counter never gave.
    from builds.models import Job

    Job.objects.create(repository=job.repository, number=41, commit="b" * 40, event="push")
    with transaction.atomic():
        after, _ = create_job(job.repository, event="push", commit="c" * 40, ref="refs/heads/x", branch="x")
        again, _ = create_job(job.repository, event="push", commit="d" * 40, ref="refs/heads/y", branch="y")
    assert (after.number, again.number) == (42, 43)


# --- API tokens: expiry, read-only scope, throttling --------------------------


def _bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def writer(job):
    user = User.objects.create_user("writer")
    Membership.set(user, job.repository, Membership.PUSH)
    return user


def test_an_expired_token_is_refused_with_the_reason(client, job, writer):
    from django.utils import timezone

    token = ApiToken.issue(writer)
    ApiToken.objects.update(expires_at=timezone.now() - timezone.timedelta(minutes=1))
    r = client.get(f"/api/jobs/{job.pk}/", **_bearer(token))
    assert r.status_code == 401 and "expired" in r.json()["reason"]
    ApiToken.objects.update(expires_at=timezone.now() + timezone.timedelta(days=1))
    assert client.get(f"/api/jobs/{job.pk}/", **_bearer(token)).status_code == 200


def test_a_read_only_token_reads_but_does_not_act(client, job, writer):
    token = ApiToken.issue(writer)
    ApiToken.objects.update(read_only=True)
    assert client.get(f"/api/jobs/{job.pk}/", **_bearer(token)).status_code == 200
    assert client.get(f"/api/jobs/{job.pk}/log", **_bearer(token)).status_code == 200
    for action in ("cancel", "restart", "approve", "decline"):
        r = client.post(f"/api/jobs/{job.pk}/{action}", **_bearer(token))
        assert r.status_code == 403 and "read-only" in r.json()["reason"], action
    r = client.post(
        "/api/repos/acme/widgets/builds", {"branch": "main"}, content_type="application/json", **_bearer(token)
    )
    assert r.status_code == 403 and "read-only" in r.json()["reason"]
    job.refresh_from_db()
    assert job.status == "queued"


def test_bad_tokens_from_one_address_are_locked_out_with_429(client, job, writer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    good = ApiToken.issue(writer)
    for _ in range(3):
        assert client.get(f"/api/jobs/{job.pk}/", **_bearer("hci_guess")).status_code == 401
    r = client.get(f"/api/jobs/{job.pk}/", **_bearer("hci_guess"))
    assert r.status_code == 429 and "too many" in r.json()["reason"]
    # Even a good token waits out the lock-out: the address is what is locked.
    assert client.get(f"/api/jobs/{job.pk}/", **_bearer(good)).status_code == 429
    other = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get(f"/api/jobs/{job.pk}/", **_bearer(good), **other).status_code == 200


# --- "No such job" tells nothing about private repositories ------------------


def test_a_private_job_and_a_missing_job_get_the_same_answer(client, make_repository, job):
    private = make_repository("acme/secret", private=True)
    with transaction.atomic():
        hidden, _ = create_job(private, event="push", commit="b" * 40, ref="refs/heads/main", branch="main")
    missing = hidden.pk + 1000
    client.force_login(User.objects.create_user("stranger"))
    for path in ("/api/jobs/{}/", "/api/jobs/{}/log", "/api/jobs/{}/log/lines", "/api/jobs/{}/log/search?q=x"):
        a, b = client.get(path.format(hidden.pk)), client.get(path.format(missing))
        assert (a.status_code, a.json()) == (b.status_code, b.json()) == (404, {"reason": "No such job"}), path
    for path in ("/api/jobs/{}/cancel", "/api/jobs/{}/restart"):
        a, b = client.post(path.format(hidden.pk)), client.post(path.format(missing))
        assert (a.status_code, a.content) == (b.status_code, b.content), path
        assert a.status_code == 404
    for path in ("/jobs/{}/", "/jobs/{}/log.txt"):
        a, b = client.get(path.format(hidden.pk)), client.get(path.format(missing))
        assert a.status_code == b.status_code == 404 and a.content == b.content, path
    a, b = client.get("/badges/acme/secret.svg"), client.get("/badges/acme/nothing.svg")
    assert a.status_code == b.status_code == 404 and a.content == b.content
    client.logout()
    a, b = client.get(f"/api/jobs/{hidden.pk}/"), client.get(f"/api/jobs/{missing}/")
    assert (a.status_code, a.json()) == (b.status_code, b.json())
