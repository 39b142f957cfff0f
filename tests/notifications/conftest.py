"""Real receivers on loopback for the notification tests: an SMTP server
(aiosmtpd) and an HTTP server (http.server in a thread) that records what it
got and answers as a test tells it to."""

import email
import email.policy
import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from builds import constants as C
from tests.support import free_port


class Smtp:
    def __init__(self):
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            pytest.fail("aiosmtpd is missing: `make setup-test` installs requirements-dev.lock")
        self.messages, self.envelopes = [], []
        self.refuse = None  # "550 No such user" to refuse every recipient
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted"


@pytest.fixture
def smtp(settings):
    server = Smtp()
    server.controller.start()
    # pytest-django swaps in the locmem backend: this test wants the real one.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "Herald CI <herald@ci.example>"
    yield server
    server.controller.stop()


class Receiver:
    """Records every request; answers with the next planned answer (status,
    body, headers, delay in seconds), 200 once none is left."""

    def __init__(self):
        self.requests = []
        self.answers = queue.Queue()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                try:
                    status, text, headers, hang = receiver.answers.get_nowait()
                except queue.Empty:
                    status, text, headers, hang = 200, b"ok", {}, False
                if hang:
                    receiver.release.wait(30)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, status, body=b"", headers=None, hang=False):
        self.answers.put((status, body, headers or {}, hang))

    def json(self, i=-1):
        return json.loads(self.requests[i]["body"])


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.release.set()
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def sync_queue(monkeypatch):
    """django-q2 runs each task at once, in this process (its sync mode);
    scheduled retries wait in Schedule rows for `run_due_retries`."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    # A job's end also wakes a worker for the next queued job: in sync mode
    # that would run a build in this process. Counted instead.
    woken = []
    monkeypatch.setattr("builds.models.enqueue_token", lambda *a, **kw: woken.append(1))
    # django-q2 announces its sync worker as a spawned one: the worker's
    # housekeeping thread must not start in the test process.
    monkeypatch.setattr("builds.apps._started", True)
    return woken


def run_due_retries():
    """What the cluster's scheduler does when a retry's time has come: here
    at once (its time moved to now), through django-q2's own scheduler."""
    from django.utils import timezone
    from django_q.models import Schedule
    from django_q.scheduler import scheduler

    Schedule.objects.update(next_run=timezone.now() - timezone.timedelta(seconds=1))
    scheduler()


@pytest.fixture
def end_job(django_capture_on_commit_callbacks):
    """Claim and finish a job as a worker does, running what its commit
    triggers (the notifications' tasks, in sync mode)."""

    def end(job, status=C.FAILED, reason=""):
        with django_capture_on_commit_callbacks(execute=True):
            assert job.claim("worker-1")
        with django_capture_on_commit_callbacks(execute=True):
            assert job.finish(status, exit_code=1 if status == C.FAILED else None, reason=reason)
        job.refresh_from_db()
        return job

    return end
