"""Dashboard, repository, badges, access and static files, in the browser."""

import re

import requests
from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def test_a_queued_job_says_what_it_waits_for_then_runs(page, herald):
    herald.repo("acme/queue", max_concurrency=1)
    first = herald.push("acme/queue", "echo first; sleep 8")
    herald.wait(first, "running")
    second = herald.push("acme/queue", "echo second-job-output", branch="other")
    page.goto(f"/jobs/{second}/")
    waiting = page.locator("#job-waiting")
    expect(waiting).to_contain_text("acme/queue runs at most 1 build at once and 1 is running")
    expect(page.locator("#job-status .status")).to_have_text("queued")
    expect(page.locator("#log-empty")).to_have_text("The log starts when the job does.")
    # When the first ends, this one starts, on the same page.
    expect(page.locator("#job-status .status")).to_have_text("success", timeout=60_000)
    expect(waiting).to_be_hidden()
    expect(page.locator(".log .ln .c", has_text=re.compile("^second-job-output$"))).to_be_visible()


def test_badges_show_each_branch_status_in_its_colour(page, herald):
    ok = herald.push("acme/badge", "echo fine")
    bad = herald.push("acme/badge", "echo broken; exit 3", branch="broken")
    assert herald.wait(ok)["status"] == "success" and herald.wait(bad)["status"] == "failed"
    for branch, colour, word in (
        ("main", "#2da44e", "success"),
        ("broken", "#cf222e", "failed"),
        ("never-built", "#8c959f", "unknown"),
    ):
        response = page.goto(f"/badges/acme/badge.svg?branch={branch}")
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert response.headers["cache-control"] == "public, max-age=30"
        assert page.locator("rect.status").get_attribute("fill") == colour
        assert page.locator("title").text_content() == f"build: {word}"
    page.goto("/repos/acme/badge/")
    badge = page.locator("img.badge")
    expect(badge).to_be_visible()
    assert badge.evaluate("img => img.complete && img.naturalWidth > 40")


def test_the_dashboard_and_repository_pages_show_builds(page, herald):
    job = herald.push("acme/pages", "echo dashboard-build", message="Teach the widget to spin")
    assert herald.wait(job)["status"] == "success"
    page.goto("/")
    card = page.locator('.repo-card[data-repo="acme/pages"]')
    expect(card).to_contain_text("Teach the widget to spin")
    expect(card.locator(".status")).to_have_text("success")
    expect(page.locator(".summary .worker.online")).to_contain_text(re.compile(r"\d/2 busy"))
    card.locator(".repo-name").click()
    expect(page).to_have_url(re.compile("/repos/acme/pages/$"))
    expect(page.locator(".duration-chart rect.bar")).to_have_count(1)
    expect(page.locator(".branch-list li")).to_contain_text("main")
    page.select_option('select[name="status"]', "failed")
    page.click("#job-filters button[type=submit]")
    expect(page.locator("table.jobs")).to_contain_text("No jobs match.")
    page.select_option('select[name="status"]', "success")
    page.click("#job-filters button[type=submit]")
    page.locator("table.jobs a", has_text="#1").click()
    expect(page.locator(".commit-message")).to_have_text("Teach the widget to spin")


def test_private_repositories_are_shown_only_to_their_members(page, herald):
    herald.repo("acme/private", private=True)
    herald.fake_job("acme/private", "top secret output\n")
    herald.user("dora", "dora-pw-1", grants=[("acme/private", "pull")])
    herald.user("eve", "eve-pw-1")
    page.goto("/")
    expect(page.locator(".repo-card").first).to_be_visible()
    expect(page.locator('.repo-card[data-repo="acme/private"]')).to_have_count(0)
    assert page.goto("/repos/acme/private/").status == 404
    sign_in(page, "eve", "eve-pw-1")
    assert page.goto("/repos/acme/private/").status == 404
    sign_in(page, "dora", "dora-pw-1")
    page.goto("/")
    expect(page.locator('.repo-card[data-repo="acme/private"]')).to_be_visible()
    page.goto("/repos/acme/private/")
    expect(page.locator("h1")).to_have_text("acme/private")


def test_static_files_have_hashed_names_and_long_cache_headers(page, herald):
    html = requests.get(herald.url + "/", timeout=10).text
    css = re.search(r'href="(/static/herald/herald\.[0-9a-f]{12}\.css)"', html)
    js = re.search(r'src="(/static/herald/herald\.[0-9a-f]{12}\.js)"', html)
    assert css and js, "static files are not under hashed names"
    r = requests.get(herald.url + css.group(1), headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    assert "max-age=315360000" in r.headers["Cache-Control"] and "immutable" in r.headers["Cache-Control"]
    page.goto("/")
    assert page.locator("header.top").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(36, 41, 47)"


def test_pages_fit_a_phone_screen(browser, herald):
    job = herald.push(
        "acme/phone",
        "echo a fairly long line of output that is wider than a phone screen, "
        "by quite a margin, so it must scroll inside the log and not the page",
    )
    herald.wait(job)
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        base_url=herald.url,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    page = context.new_page()
    try:
        for url in ("/", "/repos/acme/phone/", f"/jobs/{job}/"):
            page.goto(url)
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{url} is {width}px wide on a 390px screen"
        expect(page.locator(".log .ln .c", has_text=re.compile("^a fairly long line"))).to_be_visible()
    finally:
        context.close()
