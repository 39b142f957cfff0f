"""What the job page says of a build's progress and state, without a
browser: the ETA from the branch's history, the step timeline, the
relative times, the tab's icon, /favicon.ico, and the cancel message
beside the badge (tests/browser/test_live.py drives the same in Chromium)."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from builds.durations import estimate, left_text
from builds.eta import RECENT, eta, etas
from builds.models import Job, JobStep
from builds.templatetags.live import ago, timeline

pytestmark = pytest.mark.django_db


def test_the_estimate_is_the_median_and_counts_down():
    assert estimate([], 10) is None
    assert estimate([None, 0], 10) is None  # nothing usable is no history
    assert estimate([40, 50, 300], 10) == {"expected": 50, "left": 40, "fraction": 0.2}
    assert estimate([40, 60], 30)["expected"] == 50
    assert estimate([40], 55) == {"expected": 40, "left": 0, "fraction": 1}
    assert left_text(estimate([60], 22.5)) == "about 40 s left"  # 37.5 s, to the next 5
    assert left_text(estimate([60], 53)) == "about 7 s left"
    assert left_text(estimate([60], 90)) == "taking longer than usual (about 1 min)"
    assert left_text(None) == ""


def test_the_eta_comes_from_the_branchs_recent_successful_builds(client, make_repository, make_job):
    repo = make_repository()
    now = timezone.now()

    def past(seconds, **kw):
        return make_job(
            repo, started_at=now - timedelta(seconds=seconds + 5), finished_at=now - timedelta(seconds=5), **kw
        )

    running = make_job(repo, status="running", started_at=now - timedelta(seconds=20))
    assert eta(running) is None  # no history: the page says nothing
    html = client.get(f"/jobs/{running.pk}/").content.decode()
    assert re.search(r'<span class="eta" id="job-eta" hidden>', html) and "left" not in html

    for seconds in (50, 60, 70):
        past(seconds, status="success")
    past(900, status="failed")  # failures, other branches and matrix combinations do not count
    past(900, status="success", branch="slow")
    past(900, status="success", matrix={"python": "3.9"})
    assert eta(running)["expected"] == 60
    assert 30 <= eta(running)["left"] <= 40  # 20 s gone (and the time this test took since)

    lines = client.get(f"/api/jobs/{running.pk}/log/lines", {"count": 0}).json()
    assert lines["eta"]["expected"] == 60
    assert client.get(f"/api/jobs/{running.pk}/").json()["eta"]["expected"] == 60
    html = client.get(f"/jobs/{running.pk}/").content.decode()
    assert '<span class="eta" id="job-eta">' in html and re.search(r"about (40|35) s left", html)
    assert 'data-expected="60' in html

    # The dashboard says it too, for every running job in one query.
    other = make_job(make_repository("acme/other"), status="running", started_at=now - timedelta(seconds=5))
    alone = eta(running)
    with CaptureQueriesContext(connection) as ctx:
        got = etas([running, other, None])
    assert len(ctx.captured_queries) == 1
    assert list(got) == [running.pk]  # `other` has no history
    # The same estimate, but for the time that passed between the two calls.
    assert got[running.pk]["expected"] == alone["expected"] and abs(got[running.pk]["left"] - alone["left"]) <= 1
    queued = Job(repository=repo, status="queued")
    with CaptureQueriesContext(connection) as ctx:
        assert etas([queued, None]) == {} and etas([]) == {}
    assert ctx.captured_queries == []  # nothing running: no query
    html = client.get("/").content.decode()
    row = re.search(rf'<tr class="job-row" data-job="{running.pk}".*?</tr>', html, re.S).group(0)
    assert re.search(r"about (40|35) s left", row) and html.count(" left<") == 1  # `other` says nothing

    for _ in range(RECENT):
        past(10, status="failed")
    assert eta(running) is None  # its successes are now older than the branch's last RECENT builds

    running.status = "success"
    running.finished_at = now
    running.save()
    assert eta(running) is None  # a finished job has nothing left
    assert client.get(f"/api/jobs/{running.pk}/log/lines", {"count": 0}).json()["eta"] is None


def test_the_timeline_places_each_step_on_one_bar(make_repository, make_job):
    now = timezone.now()
    start = now - timedelta(seconds=100)
    job = make_job(make_repository(), status="success", started_at=start, finished_at=now)
    a = JobStep(
        job=job, number=1, name="a", status="success", started_at=start, finished_at=start + timedelta(seconds=25)
    )
    b = JobStep(
        job=job,
        number=2,
        name="b",
        status="failed",
        started_at=start + timedelta(seconds=25),
        finished_at=start + timedelta(seconds=100),
    )
    c = JobStep(job=job, number=3, name="never ran", status="skipped")
    bars = timeline(job.started_at, job.finished_at, [a, b, c])
    assert [(bar["step"].name, bar["x"], bar["w"]) for bar in bars] == [("a", 0, 250), ("b", 250, 750)]
    blip = JobStep(job=job, number=4, name="blip", status="success", started_at=now, finished_at=now)
    assert timeline(start, now, [blip])[0]["w"] == 2  # too short to see still shows
    assert timeline(None, None, [a]) == []  # not started


def test_times_are_time_elements_the_browser_keeps_current(client, make_repository, make_job):
    when = timezone.now() - timedelta(minutes=3)
    html = str(ago(when))
    stamp = when.astimezone(timezone.get_fixed_timezone(0)).strftime("%Y-%m-%dT%H:%M:%S")
    assert html.startswith(f'<time datetime="{stamp}+00:00" data-ago title="') and "3\xa0minutes ago" in html
    assert ago(None) == ""
    repo = make_repository()
    job = make_job(repo, status="success", started_at=when, finished_at=when + timedelta(seconds=5))
    for path in ("/", f"/repos/{repo.full_name}/", f"/jobs/{job.pk}/"):
        page = client.get(path).content.decode()
        if path != f"/jobs/{job.pk}/":  # which shows when it was created: now
            assert f'<time datetime="{stamp}+00:00" data-ago' in page, path
        assert "<time" in page and not re.search(r"<time(?![^>]*data-ago)", page), path


def test_the_tab_shows_the_jobs_state_and_favicon_ico_answers(client, make_repository, make_job):
    job = make_job(make_repository(), status="failed", **{"started_at": timezone.now(), "finished_at": timezone.now()})
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f"<title>failed · acme/widgets #{job.number} · Herald CI</title>" in html
    assert re.search(r'<link rel="icon" id="favicon" href="/static/herald/favicon-failed\.svg"', html)
    assert "favicon-running.svg" in html  # the table job.js switches from
    r = client.get("/favicon.ico")  # the browser test fetches what it leads to
    assert r.status_code == 302 and r["Location"] == "/static/herald/favicon.svg"


def test_the_cancel_message_agrees_with_the_badge(client, users, member, make_repository, make_job):
    repo = make_repository()
    member(users.pusher, repo, "push")
    client.force_login(users.pusher)
    queued = make_job(repo, status="queued")
    page = client.post(f"/jobs/{queued.pk}/cancel", follow=True).content.decode()
    assert f"Cancelled #{queued.number}." in page and "Cancelling" not in page
    assert 'data-status="cancelled"' in page

    running = make_job(repo, status="running", started_at=timezone.now())
    page = client.post(f"/jobs/{running.pk}/cancel", follow=True).content.decode()
    # Still running until its worker stops it; job.js rewrites the message then.
    assert re.search(rf'<li class="cancelling info">Cancelling #{running.number}: its worker stops it\.</li>', page)
    assert 'data-confirm="Cancel #' in page
