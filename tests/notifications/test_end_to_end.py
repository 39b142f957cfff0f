"""A whole Herald (gunicorn + a real django-q2 cluster + Docker) as a user
runs it: notifications added through the API, a pushed build that fails,
an email through a real SMTP server and a signed webhook to a receiver that
fails once and gets it on the cluster's retry; the next build, green, is
reported fixed."""

import hashlib
import hmac
import json
import time

import pytest
import requests

from tests.support import herald_yml

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

SIGNING = "e2e-signing-secret-0123456789"


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"no {what} within {timeout} s")


def test_a_failing_build_is_emailed_and_posted_and_its_fix_too(live_herald, git_repo, smtp, receiver):
    herald = live_herald(
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp.port),
        DEFAULT_FROM_EMAIL="Herald CI <herald@ci.example>",
        HERALD_NOTIFY_RETRY_SECONDS="1",
    )
    src = git_repo()
    sha = src.commit({".herald.yml": herald_yml("echo building", "exit 3")}, "Break the build")
    herald.add_repo("acme/widgets", src.url)
    herald.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; from repositories.models import Membership, Repository; "
        "Membership.objects.create(user=User.objects.create_user('ada'), repository=Repository.objects.get(), "
        "permission='push')",
    )
    token = herald.manage("createtoken", "ada").strip()
    auth = {"Authorization": f"Bearer {token}"}
    api = herald.url + "/api/repos/acme/widgets/notifications"
    r = requests.post(api, json={"kind": "email", "target": "team@widgets.test"}, headers=auth, timeout=10)
    assert r.status_code == 201, r.text
    r = requests.post(
        api,
        json={"kind": "webhook", "target": receiver.url + "/ci", "secret": SIGNING, "when": "always"},
        headers=auth,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    receiver.answer(500, b"busy")  # the first attempt; the retry gets 200

    r = herald.push_github("acme/widgets", sha, message="Break the build")
    assert r.status_code == 202, r.text
    job_id = r.json()["jobs"][0]
    assert herald.wait_job(job_id)["status"] == "failed"

    message = wait_for(lambda: smtp.messages and smtp.messages[0], 60, "email")
    assert message["Subject"] == f"[acme/widgets] #1 failed on main ({sha[:7]})"
    assert f"{herald.url}/jobs/{job_id}/" in message.get_content()
    # The cluster's scheduler runs the retry (it looks every 30 s).
    wait_for(lambda: len(receiver.requests) >= 2, 90, "retried webhook")
    got = receiver.requests[1]
    expected = "sha256=" + hmac.new(SIGNING.encode(), got["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, got["headers"]["X-Herald-Signature-256"])
    data = json.loads(got["body"])
    assert (data["status"], data["number"], data["commit"], data["url"]) == (
        "failed",
        1,
        sha,
        f"{herald.url}/jobs/{job_id}/",
    )

    fixed = src.commit({".herald.yml": herald_yml("echo fixed")}, "Fix the build")
    r = herald.push_github("acme/widgets", fixed, message="Fix the build")
    assert herald.wait_job(r.json()["jobs"][0])["status"] == "success"
    wait_for(lambda: len(smtp.messages) >= 2, 60, "second email")
    assert smtp.messages[1]["Subject"] == f"[acme/widgets] #2 is fixed on main ({fixed[:7]})"
    wait_for(lambda: len(receiver.requests) >= 3, 60, "second webhook")
    assert (receiver.json(2)["status"], receiver.json(2)["previous_status"]) == ("success", "failed")
