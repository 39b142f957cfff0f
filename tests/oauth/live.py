"""Helpers for tests that drive a real Herald (LiveHerald) and a fake forge."""

import json
import time

import requests


def sign_in(herald, provider="github"):
    """Sign in through the fake forge with a plain HTTP session (as a browser would)."""
    s = requests.Session()
    s.get(herald.url + "/login/", timeout=10).raise_for_status()
    r = s.post(
        herald.url + f"/accounts/{provider}/login/",
        timeout=30,
        data={"process": "login", "csrfmiddlewaretoken": s.cookies["csrftoken"]},
        headers={"Referer": herald.url + "/login/"},
    )
    assert r.status_code == 200 and r.url == herald.url + "/", (r.status_code, r.url, r.text[:2000])
    return s


def enable(herald, session, full_name, provider="github"):
    r = session.post(
        herald.url + f"/account/repositories/{provider}/enable",
        timeout=30,
        data={"full_name": full_name, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": herald.url + "/account/repositories/"},
    )
    assert r.status_code == 200 and f"{full_name} is enabled" in r.text, r.text[:3000]
    return r


def wait_for(condition, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def commit_statuses(herald, job_id):
    out = herald.manage(
        "shell",
        "-c",
        (
            "import json; from repositories.models import CommitStatus as S; "
            f"print(json.dumps(list(S.objects.filter(job_id={int(job_id)}).order_by('id')"
            ".values('job_status', 'state', 'outcome', 'attempts', 'last_error'))))"
        ),
    )
    return json.loads(out.strip().splitlines()[-1])
