"""Pages that stay true while open, in Chromium: relative times that move
and show the reader's own zone, the tab's title and icon following a
build, the ETA and step timeline, the log's news for screen readers, the
job page by keyboard alone, and "are you sure?" before a cancel.

The jobs here are rows driven through the ORM (as a worker would write
them) rather than real builds: each state is then reached exactly when the
test says, which a real build's timing would not allow."""

import re
import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.browser.conftest import sign_in

SETUP = """
from datetime import timedelta
from django.db import transaction
from django.utils import timezone
from builds.models import Job, JobStep, LogChunk
from repositories.models import Repository
now = timezone.now()
"""


def running_job(herald, full_name, *, history=(), log=""):
    """A job running for 20 s (step "build" for 15 s) on a worker that is
    not there, after successful builds of main that took `history` seconds."""
    herald.repo(full_name)
    out = herald.shell(
        SETUP
        + textwrap.dedent(f"""
        repo = Repository.objects.get(full_name={full_name!r})
        @transaction.atomic
        def make(**kw):
            return Job.objects.create(repository=repo, number=repo.next_job_number(), commit="e" * 40,
                                      branch="main", message="watched", **kw)
        for secs in {list(history)!r}:
            make(status="success", started_at=now - timedelta(seconds=secs + 60), finished_at=now - timedelta(seconds=60))
        # No heartbeat: the reaper leaves it alone; no worker: nothing else moves it.
        job = make(status="running", started_at=now - timedelta(seconds=20), worker="elsewhere")
        JobStep.objects.create(job=job, number=1, name="build", status="running",
                               started_at=now - timedelta(seconds=15), first_seq=1)
        if {log!r}:
            LogChunk.objects.create(job=job, seq=1, text={log!r}, created=now)
        print(job.pk, job.number)
    """)
    )
    pk, number = out.strip().splitlines()[-1].split()
    return int(pk), int(number)


def finish(herald, job, status):
    herald.shell(
        SETUP
        + f"JobStep.objects.filter(job_id={job}).update(status={status!r}, finished_at=now)\n"
        + f"Job.objects.filter(pk={job}).update(status={status!r}, finished_at=now, exit_code=1)\n"
    )


def test_a_running_build_is_watched_live_from_the_tab_in_the_readers_time_zone(browser, herald):
    job, number = running_job(herald, "acme/watched", history=(50, 60, 70), log="old-1\nold-2\n")
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, base_url=herald.url, timezone_id="Asia/Tokyo", locale="en-US"
    )
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"/jobs/{job}/")
        expect(page).to_have_title(f"running · acme/watched #{number} · Herald CI")
        favicon = page.locator("link#favicon")
        expect(favicon).to_have_attribute("href", re.compile(r"favicon-running\b"))

        # About 60 s expected, 20 s gone: the bar and the words agree.
        expect(page.locator("#eta-text")).to_have_text(re.compile(r"^about (35|40) s left$"))
        assert 0.3 < page.locator("#eta-bar").evaluate("p => p.value") < 0.45
        step = page.locator('#timeline rect[data-step="1"]')
        expect(step).to_have_class("tl tl-running")
        assert 200 < float(step.get_attribute("x")) < 300  # started 5 s into 20

        # The exact time on hover is Tokyo's; the words move on by themselves.
        created = page.locator(".facts time[data-ago]").first
        at = datetime.fromisoformat(created.get_attribute("datetime")).astimezone(ZoneInfo("Asia/Tokyo"))
        expect(created).to_have_attribute("title", re.compile(re.escape(at.strftime("%-I:%M:%S")) + r".*GMT\+9"))
        before = created.inner_text()
        expect(created).not_to_have_text(before, timeout=5000)
        expect(created).to_have_text(re.compile(r"^\d+ seconds? ago$"))

        # New output is told politely, and only it: not the lines already there.
        expect(page.locator(".log .ln .c", has_text="old-2")).to_be_visible()
        assert page.locator("#log").get_attribute("aria-live") is None
        assert page.locator("#log").get_attribute("role") != "log"
        herald.shell(SETUP + f"LogChunk.objects.create(job_id={job}, seq=2, text='news-1\\nnews-2\\n', created=now)")
        news = page.locator("#log-news p")
        expect(news).to_have_count(1)
        assert news.evaluate("p => p.textContent") == "news-1\nnews-2"
        assert page.locator("#log-news").get_attribute("aria-live") == "polite"

        finish(herald, job, "failed")
        expect(page).to_have_title(f"failed · acme/watched #{number} · Herald CI")
        expect(favicon).to_have_attribute("href", re.compile(r"favicon-failed\b"))
        expect(page.locator("#job-eta")).to_be_hidden()
        expect(step).to_have_class("tl tl-failed")
        assert page.request.get(favicon.get_attribute("href")).headers["content-type"].startswith("image/svg")
        icon = page.request.get("/favicon.ico")
        assert icon.ok and icon.headers["content-type"].startswith("image/svg")
    finally:
        context.close()
    assert not errors, errors


def test_the_job_page_by_keyboard_alone(page, herald):
    text = "".join(f"line {i}{' needle' if i in (100, 200, 300) else ''}\n" for i in range(1, 400))
    job = herald.fake_job("acme/keys", text)
    requests = []
    page.goto(f"/jobs/{job}/")
    expect(page.locator(".log .ln .c", has_text="line 399")).to_be_visible()
    page.wait_for_load_state("networkidle")
    # A finished job's page asks nothing more of the server while idle.
    page.on("request", lambda r: requests.append(r.url))
    page.wait_for_timeout(2500)
    assert requests == []

    # Tab reaches the log box, and its focus shows.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "log":
            break
    assert page.evaluate("document.activeElement.id") == "log"
    outline = page.locator("#log").evaluate(
        "el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth]"
    )
    assert outline[0] != "none" and outline[1] != "0px", outline

    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "log-q"
    page.keyboard.type("needle")
    page.keyboard.press("Enter")
    count = page.locator("#search-count")
    expect(count).to_have_text("1 of 3")
    page.keyboard.press("n")  # typing: a letter, not a shortcut
    assert page.input_value("#log-q") == "needlen"
    expect(count).to_have_text("1 of 3")
    page.keyboard.press("Backspace")
    page.keyboard.press("Tab")  # out of the field, onto the Find button
    page.keyboard.press("n")
    expect(count).to_have_text("2 of 3")
    expect(page.locator('.log .ln[data-l="200"]')).to_be_in_viewport()
    page.keyboard.press("Shift+N")
    expect(count).to_have_text("1 of 3")
    follow = page.locator("#follow")
    expect(follow).not_to_be_checked()
    page.keyboard.press("f")
    expect(follow).to_be_checked()

    dialog = page.locator("dialog#shortcuts")
    expect(dialog).to_be_hidden()
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("next · previous match")
    page.keyboard.press("f")  # shortcuts sleep under a dialog
    expect(follow).to_be_checked()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_cancel_asks_first_and_the_message_agrees_with_the_badge(page, herald):
    job, number = running_job(herald, "acme/asked")
    herald.user("lena", "lena-pw-1", grants=[("acme/asked", "push")])
    sign_in(page, "lena", "lena-pw-1")
    page.goto(f"/jobs/{job}/")
    badge = page.locator("#job-status .status")
    expect(badge).to_have_text("running")

    # The pulse is motion: gone for those who asked for less.
    pulse = "el => getComputedStyle(el, '::before').animationName"
    page.emulate_media(reduced_motion="no-preference")
    assert badge.evaluate(pulse) == "pulse"
    page.emulate_media(reduced_motion="reduce")
    assert badge.evaluate(pulse) == "none"

    page.click("#cancel")
    question = page.locator("#confirm-dialog")
    expect(question).to_be_visible()
    expect(question).to_contain_text(f"Cancel #{number}? A running build is stopped where it is.")
    page.keyboard.press("Enter")  # the default answer is No
    expect(question).to_be_hidden()
    expect(page.locator(".messages")).to_have_count(0)
    assert herald.live.job(job)["status"] == "running"

    page.click("#cancel")
    page.click("#confirm-yes")
    message = page.locator(".messages li")
    expect(message).to_have_text(f"Cancelling #{number}: its worker stops it.")
    expect(badge).to_have_text("running")
    finish(herald, job, "cancelled")  # what its worker does once it stopped the container
    expect(badge).to_have_text("cancelled")
    expect(message).to_have_text(f"Cancelled #{number}.")
    expect(page).to_have_title(re.compile("^cancelled · "))
