"""Sending, against real receivers on loopback: an SMTP server (aiosmtpd)
and an HTTP server that checks the webhook's signature as the documented
receiver does. Retries go through django-q2's own scheduler; no receiver,
however broken, changes how a build ends."""

import hashlib
import hmac
import json

import pytest
from django.utils import timezone
from django_q.models import Schedule

from builds import constants as C
from builds.models import Job
from repositories.models import Secret
from repositories.notifications.models import Notification, NotificationDelivery
from repositories.notifications.tasks import deliver
from tests.notifications.conftest import run_due_retries
from tests.support import free_port

SIGNING = "whsec-5b1f0c9e7d2a4e31a8f6"


def verify(secret, body, header):
    """The receiver's check, as docs/operations.md shows it."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


@pytest.fixture
def repo(make_repository):
    return make_repository(default_branch="main")


def webhook(repo, receiver, path="/hook", **kw):
    return Notification.objects.create(
        repository=repo, kind="webhook", target=receiver.url + path, secret=SIGNING, **kw
    )


def slack(repo, receiver, **kw):
    n = Notification(repository=repo, kind="slack", **kw)
    n.set_slack_url(receiver.url + "/hooks/T0001/B0002/xoxb-slack-url-part")
    n.save()
    return n


def delivery():
    return NotificationDelivery.objects.get()


def test_a_failure_is_emailed_through_a_real_smtp_server(repo, make_job, end_job, smtp, sync_queue, settings):
    Notification.objects.create(repository=repo, kind="email", target="team@widgets.test")
    job = make_job(repo, commit="abc1234" + "0" * 33, message="Speed up the frobnicator\n\nDetails follow.")
    end_job(job, C.FAILED)
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert msg["Subject"] == f"[acme/widgets] #{job.number} failed on main (abc1234)"
    assert msg["To"] == "team@widgets.test" and msg["From"] == "Herald CI <herald@ci.example>"
    assert smtp.envelopes[0].rcpt_tos == ["team@widgets.test"]
    body = msg.get_content()
    assert f"{settings.HERALD_BASE_URL}/jobs/{job.pk}/" in body
    assert "Speed up the frobnicator" in body and "Ada Tester" in body and "Status:   failed" in body
    row = delivery()
    assert (row.outcome, row.attempts, row.response_code, row.status) == ("sent", 1, 250, "failed")


def test_a_refused_address_is_recorded_as_failed_not_retried(repo, make_job, end_job, smtp, sync_queue):
    smtp.refuse = "550 5.1.1 No such user"
    Notification.objects.create(repository=repo, kind="email", target="nobody@widgets.test")
    end_job(make_job(repo), C.FAILED)
    row = delivery()
    assert row.outcome == "failed" and row.response_code == 550
    assert "refused nobody@widgets.test: 550" in row.last_error
    assert not Schedule.objects.exists()


def test_an_unreachable_smtp_server_is_retried(repo, make_job, end_job, sync_queue, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens
    Notification.objects.create(repository=repo, kind="email", target="team@widgets.test")
    job = end_job(make_job(repo), C.FAILED)
    assert job.status == C.FAILED
    row = delivery()
    assert row.outcome == "retrying" and f"could not send through 127.0.0.1:{settings.EMAIL_PORT}" in row.last_error
    assert Schedule.objects.filter(func="repositories.notifications.tasks.deliver").count() == 1


def test_the_webhook_is_signed_and_carries_the_build(repo, make_job, end_job, receiver, sync_queue, settings):
    webhook(repo, receiver)
    make_job(repo, **{"status": C.SUCCESS, "finished_at": timezone.now()})
    job = make_job(repo, message="Break it", author="Grace Hopper")
    end_job(job, C.FAILED)
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert got["path"] == "/hook"
    assert got["headers"]["X-Herald-Event"] == "build"
    assert got["headers"]["Content-Type"] == "application/json"
    assert verify(SIGNING, got["body"], got["headers"]["X-Herald-Signature-256"])
    assert not verify("another secret", got["body"], got["headers"]["X-Herald-Signature-256"])
    data = json.loads(got["body"])
    assert data["event"] == "push" and data["repository"] == "acme/widgets"
    assert data["number"] == job.number and data["id"] == job.pk
    assert (data["status"], data["previous_status"]) == ("failed", "success")
    assert (data["branch"], data["commit"], data["message"], data["author"]) == (
        "main",
        job.commit,
        "Break it",
        "Grace Hopper",
    )
    assert data["url"] == f"{settings.HERALD_BASE_URL}/jobs/{job.pk}/"
    assert data["started_at"] == job.started_at.isoformat() and data["finished_at"] == job.finished_at.isoformat()
    assert data["jobs"] == [{"id": job.pk, "number": job.number, "status": "failed", "matrix": {}, "url": data["url"]}]
    assert SIGNING not in got["body"].decode()


def test_a_receiver_that_fails_once_gets_it_on_the_retry(repo, make_job, end_job, receiver, sync_queue, settings):
    settings.HERALD_NOTIFY_RETRY_SECONDS = 30
    webhook(repo, receiver)
    receiver.answer(500, b"Internal Server Error")
    job = end_job(make_job(repo), C.FAILED)
    assert job.status == C.FAILED
    row = delivery()
    assert (row.outcome, row.attempts, row.response_code) == ("retrying", 1, 500)
    assert row.last_error == "HTTP 500 Internal Server Error; retrying in 30 s"
    retry = Schedule.objects.get(func="repositories.notifications.tasks.deliver")
    assert retry.args == f"({row.pk},)" and 25 <= (retry.next_run - timezone.now()).total_seconds() <= 31
    run_due_retries()
    row.refresh_from_db()
    assert (row.outcome, row.attempts, row.response_code, row.last_error) == ("sent", 2, 200, "")
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first["body"] == second["body"]
    assert verify(SIGNING, second["body"], second["headers"]["X-Herald-Signature-256"])
    assert deliver(row.pk) == "nothing to do"  # a redelivered task sends nothing
    assert len(receiver.requests) == 2


def test_backoff_doubles_and_honours_retry_after(repo, make_job, end_job, receiver, sync_queue, settings):
    settings.HERALD_NOTIFY_RETRY_SECONDS = 10
    webhook(repo, receiver)
    receiver.answer(503)
    receiver.answer(429, b"slow down", {"Retry-After": "600"})
    end_job(make_job(repo), C.FAILED)
    row = delivery()
    assert row.last_error.endswith("retrying in 10 s")
    run_due_retries()
    row.refresh_from_db()
    assert (row.outcome, row.response_code) == ("retrying", 429)
    assert row.last_error == "HTTP 429 slow down; retrying in 600 s"
    retry = Schedule.objects.get(func="repositories.notifications.tasks.deliver")
    assert 590 <= (retry.next_run - timezone.now()).total_seconds() <= 601


def test_a_4xx_is_failed_and_not_retried(repo, make_job, end_job, receiver, sync_queue):
    webhook(repo, receiver)
    receiver.answer(404, b"no such hook")
    end_job(make_job(repo), C.FAILED)
    row = delivery()
    assert (row.outcome, row.attempts, row.response_code, row.last_error) == ("failed", 1, 404, "HTTP 404 no such hook")
    assert not Schedule.objects.exists() and len(receiver.requests) == 1


def test_it_gives_up_after_the_last_attempt(repo, make_job, end_job, receiver, sync_queue, settings):
    settings.HERALD_NOTIFY_ATTEMPTS = 2
    webhook(repo, receiver)
    receiver.answer(502)
    receiver.answer(502)
    end_job(make_job(repo), C.FAILED)
    run_due_retries()
    row = delivery()
    assert (row.outcome, row.attempts) == ("failed", 2)
    assert row.last_error == "gave up after 2 attempts: HTTP 502"
    assert not Schedule.objects.exists()


def test_a_receiver_that_does_not_answer_in_time_is_retried(repo, make_job, end_job, receiver, sync_queue, settings):
    settings.HERALD_NOTIFY_TIMEOUT = 1
    webhook(repo, receiver)
    receiver.answer(200, hang=True)
    job = end_job(make_job(repo), C.FAILED)
    receiver.release.set()
    assert job.status == C.FAILED
    row = delivery()
    assert row.outcome == "retrying" and row.last_error.startswith("no answer within 1 s")


def test_redirects_are_not_followed(repo, make_job, end_job, receiver, sync_queue):
    webhook(repo, receiver)
    receiver.answer(302, headers={"Location": receiver.url + "/elsewhere"})
    end_job(make_job(repo), C.FAILED)
    row = delivery()
    assert row.outcome == "failed" and row.response_code == 302
    assert "redirects are not followed" in row.last_error
    assert [r["path"] for r in receiver.requests] == ["/hook"]


def test_nothing_listening_is_retried_and_never_fails_the_build(repo, make_job, end_job, sync_queue):
    Notification.objects.create(
        repository=repo, kind="webhook", target=f"http://127.0.0.1:{free_port()}/", secret=SIGNING
    )
    job = end_job(make_job(repo), C.SUCCESS)
    assert not NotificationDelivery.objects.exists()  # a first success is no news
    job = end_job(make_job(repo), C.FAILED)
    assert Job.objects.get(pk=job.pk).status == C.FAILED
    row = delivery()
    assert row.outcome == "retrying" and "could not reach the receiver: ConnectionError" in row.last_error


def test_a_queue_that_is_down_never_fails_the_build(repo, make_job, end_job, receiver, monkeypatch):
    webhook(repo, receiver)

    def down(*args, **kwargs):
        raise ConnectionError("the broker is down")

    monkeypatch.setattr("repositories.notifications.async_task", down)
    job = end_job(make_job(repo), C.FAILED)
    assert Job.objects.get(pk=job.pk).status == C.FAILED and not NotificationDelivery.objects.exists()


def test_slack_gets_one_linked_line(repo, make_job, end_job, receiver, sync_queue, settings):
    n = slack(repo, receiver)
    assert n.target == receiver.url + "/…" and "xoxb" not in n.target
    job = end_job(make_job(repo, commit="def5678" + "0" * 33, message="Tidy <things> & stuff\nmore"), C.FAILED)
    got = receiver.requests[0]
    assert got["path"] == "/hooks/T0001/B0002/xoxb-slack-url-part"
    assert json.loads(got["body"]) == {
        "text": f"<{settings.HERALD_BASE_URL}/jobs/{job.pk}/|acme/widgets #{job.number} failed on main (def5678)>:"
        " Tidy &lt;things&gt; &amp; stuff — Ada Tester"
    }
    assert "X-Herald-Signature-256" not in got["headers"]


def test_secrets_never_appear_in_notifications(repo, make_job, end_job, receiver, smtp, sync_queue):
    Secret.objects.create(repository=repo, name="DEPLOY_TOKEN", value="tok-3f9a7c21")
    Notification.objects.create(repository=repo, kind="email", target="team@widgets.test")
    webhook(repo, receiver, path="/signed")
    slack(repo, receiver)
    message = f"Rotate tok-3f9a7c21, {SIGNING} and xoxb-slack-url-part"
    end_job(make_job(repo, message=message, author="tok-3f9a7c21"), C.ERRORED, reason="clone said tok-3f9a7c21")
    texts = [smtp.envelopes[0].content.decode()] + [r["body"].decode() for r in receiver.requests]
    assert len(texts) == 3
    for text in texts:
        assert "tok-3f9a7c21" not in text and SIGNING not in text and "xoxb-slack-url-part" not in text
        assert "Rotate ****, **** and ****" in text
    signed = next(r for r in receiver.requests if r["path"] == "/signed")
    assert json.loads(signed["body"])["reason"] == "clone said ****"
    assert smtp.messages[0]["Subject"].endswith(
        "errored on main (" + make_job.__name__[:0] + Job.objects.get().commit[:7] + ")"
    )


def test_pushers_see_what_became_of_the_last_one_sent(
    repo, make_job, end_job, receiver, sync_queue, users, member, client
):
    webhook(repo, receiver)
    receiver.answer(404, b"no such hook")
    job = end_job(make_job(repo), C.FAILED)
    member(users.pusher, repo, "push")
    client.force_login(users.pusher)
    html = client.get("/repos/acme/widgets/").content.decode()
    assert f"#{job.number}</a> failed: <strong>failed</strong>" in html and "HTTP 404 no such hook" in html


def test_herald_s_own_secrets_are_masked_too(repo, make_job, end_job, receiver, sync_queue, settings):
    settings.EMAIL_HOST_PASSWORD = "smtp-password-77"
    webhook(repo, receiver)
    end_job(make_job(repo, message=f"leak {settings.SECRET_KEY} and smtp-password-77"), C.FAILED)
    assert receiver.json()["message"] == "leak **** and ****"


def test_a_send_whose_worker_died_is_sent_again_by_housekeeping(repo, make_job, end_job, receiver, sync_queue):
    """A worker killed mid-send leaves its row "sending", and a broker that
    lost the task leaves it "queued": housekeeping sends both again once
    they are stale, and leaves a send in progress alone."""
    from datetime import timedelta

    from builds import housekeeping

    webhook(repo, receiver)
    job = end_job(make_job(repo), C.FAILED)
    row = delivery()
    assert row.outcome == "sent" and len(receiver.requests) == 1
    long_ago = timezone.now() - timedelta(minutes=11)
    NotificationDelivery.objects.filter(pk=row.pk).update(outcome="sending", attempts=1, updated=timezone.now())
    housekeeping.reap()
    assert delivery().outcome == "sending" and len(receiver.requests) == 1  # maybe still sending: left alone
    NotificationDelivery.objects.filter(pk=row.pk).update(updated=long_ago)
    housekeeping.reap()
    row = delivery()
    assert (row.outcome, row.attempts, row.response_code) == ("sent", 2, 200)
    assert len(receiver.requests) == 2 and receiver.json()["number"] == job.number
    NotificationDelivery.objects.filter(pk=row.pk).update(outcome="queued", attempts=0, updated=long_ago)
    housekeeping.reap()
    assert delivery().outcome == "sent" and len(receiver.requests) == 3
