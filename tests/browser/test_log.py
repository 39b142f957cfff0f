"""What a person sees of a build's log in the browser."""

import re

from playwright.sync_api import expect


def row(page, text):
    """The log row whose output is exactly `text` (a regex: matching)."""
    pattern = text if isinstance(text, re.Pattern) else re.compile("^" + re.escape(text) + "$")
    return page.locator(".log .ln").filter(has=page.locator(".c", has_text=pattern))


def test_the_log_grows_while_the_build_runs_with_colours_and_no_markup(page, herald):
    job = herald.push(
        "acme/live",
        r"printf '\033[1;31mred and bold\033[0m then plain\n'",
        "echo '<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">'",
        r"printf 'progress 10%%\rprogress 50%%\rprogress 100%%\n'",
        "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 1; done",
    )
    page.goto(f"/jobs/{job}/")
    page.evaluate("window.__sameDocument = true")
    expect(row(page, "tick-1")).to_be_visible(timeout=60_000)
    # It appeared while the build still had five seconds to go.
    assert row(page, "tick-6").count() == 0
    expect(page.locator("#job-status .status")).to_have_text("running")
    expect(row(page, "tick-6")).to_be_visible(timeout=30_000)
    expect(page.locator("#job-status .status")).to_have_text("success", timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened

    red = row(page, "red and bold then plain").locator(".c span")
    expect(red).to_have_css("color", "rgb(255, 123, 114)")
    expect(red).to_have_css("font-weight", "700")
    expect(red).to_have_text("red and bold")

    markup = row(page, '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">')
    expect(markup).to_have_count(1)
    assert markup.locator("script, img").count() == 0
    assert page.evaluate("window.pwned") is None

    expect(row(page, "progress 100%")).to_have_count(1)
    expect(row(page, re.compile("^progress (10|50)%"))).to_have_count(0)
    assert page.locator("#line-count").inner_text().endswith("lines")


def test_a_permalink_scrolls_to_its_line_and_ranges_highlight(page, herald):
    job = herald.push("acme/permalinks", "seq 1 3000 | sed 's/^/number /'")
    assert herald.wait(job)["status"] == "success"
    page.goto(f"/jobs/{job}/")
    expect(row(page, "number 3000")).to_be_visible()  # a finished job opens at its end

    # Line numbers count Herald's own lines too: find where "number 1200" is.
    data = page.request.get(f"/api/jobs/{job}/log/search?q=number 1200").json()
    line = data["matches"][0]
    page.goto(f"/jobs/{job}/#L{line}")
    target = page.locator(f'.log .ln[data-l="{line}"]')
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile(r"\bsel\b"))
    expect(target.locator(".c")).to_have_text("number 1200")
    assert page.locator(".log .ln.sel").count() == 1

    page.goto(f"/jobs/{job}/#L{line}-L{line + 10}")
    page.reload()
    expect(page.locator(".log .ln.sel")).to_have_count(11)
    expect(page.locator(f'.log .ln[data-l="{line + 10}"]')).to_be_in_viewport()

    # Clicking line numbers makes new permalinks; shift-click a range.
    page.locator(f'.log .ln[data-l="{line + 2}"] a.n').click()
    assert page.evaluate("location.hash") == f"#L{line + 2}"
    page.locator(f'.log .ln[data-l="{line + 5}"] a.n').click(modifiers=["Shift"])
    assert page.evaluate("location.hash") == f"#L{line + 2}-L{line + 5}"
    expect(page.locator(".log .ln.sel")).to_have_count(4)


def test_search_timestamps_follow_and_download(page, herald):
    job = herald.push(
        "acme/tools", "seq 1 2000 | sed 's/^/item /'", "printf 'NEE%sDLE-IN-THE-HAYSTACK\\n' ''", "seq 1 500"
    )
    assert herald.wait(job)["status"] == "success"
    page.goto(f"/jobs/{job}/")
    expect(page.locator("#follow")).to_be_checked()

    page.fill("#log-q", "needle")
    page.press("#log-q", "Enter")
    expect(page.locator("#search-count")).to_have_text("1 of 1")
    current = page.locator(".log .ln.cur")
    expect(current).to_be_in_viewport()
    assert current.locator(".c").inner_text() == "NEEDLE-IN-THE-HAYSTACK"
    assert current.locator("mark").inner_text() == "NEEDLE"
    expect(page.locator("#follow")).not_to_be_checked()

    page.fill("#log-q", "item 19")  # 19, 190-199, 1900-1999
    page.press("#log-q", "Enter")
    expect(page.locator("#search-count")).to_have_text("1 of 111")
    expect(page.locator(".log .ln.cur .c")).to_have_text("item 19")
    page.click("#search-next")
    expect(page.locator("#search-count")).to_have_text("2 of 111")
    expect(page.locator(".log .ln.cur .c")).to_have_text("item 190")
    page.click("#search-prev")
    page.click("#search-prev")
    expect(page.locator(".log .ln.cur .c")).to_have_text("item 1999")

    assert not page.locator(".log .ln .ts").first.is_visible()
    page.check("#timestamps")
    expect(page.locator(".log .ln .ts").first).to_be_visible()
    assert re.fullmatch(r"\d+:\d\d", page.locator(".log .ln .ts").first.inner_text())

    page.check("#follow")
    expect(row(page, re.compile(r"^500$"))).to_be_in_viewport()

    with page.expect_download() as download:
        page.click("#download-log")
    text = open(download.value.path()).read()
    assert "\nNEEDLE-IN-THE-HAYSTACK\n" in text and "\nitem 2000\n" in text


def test_cancel_stops_a_running_build(page, herald):
    herald.repo("acme/cancel")
    herald.user("carol", "carol-pw-1", grants=[("acme/cancel", "push")])
    job = herald.push("acme/cancel", "echo started-long-build", "sleep 300", "echo never-printed")
    page.goto(f"/jobs/{job}/")
    expect(page.locator("#cancel")).to_have_count(0)  # not signed in: no buttons

    from tests.browser.conftest import sign_in

    sign_in(page, "carol", "carol-pw-1")
    page.goto(f"/jobs/{job}/")
    expect(row(page, "started-long-build")).to_be_visible(timeout=60_000)
    page.click("#cancel")
    page.click("#confirm-yes")  # data-confirm: it asks first (tests/browser/test_live.py)
    expect(page.locator(".messages")).to_contain_text(re.compile("Cancell(ing|ed)"))
    expect(page.locator("#job-status .status")).to_have_text("cancelled", timeout=30_000)
    expect(page.locator(".messages")).to_have_text(f"Cancelled #{herald.live.job(job)['number']}.")
    expect(page.locator("#cancel")).to_be_hidden()
    assert herald.live.job(job)["status"] == "cancelled"
    assert "never-printed" not in herald.live.log_text(job)

    page.click("#rebuild")
    expect(page.locator(".messages")).to_contain_text("Rebuilding")
    assert page.url != f"{herald.url}/jobs/{job}/"
    new = int(page.url.rstrip("/").split("/")[-1])
    assert herald.live.job(new)["status"] in ("queued", "running")
    page.click("#cancel")
    page.click("#confirm-yes")
    expect(page.locator("#job-status .status")).to_have_text("cancelled", timeout=30_000)


def test_steps_fold_and_show_their_durations(page, herald):
    setup = "".join(f"clone {i}\n" for i in range(5))
    build = "".join(f"\x1b[32mcompile {i}\x1b[0m\n" for i in range(300))
    test = "".join(f"test {i} ok\n" for i in range(200))
    text = setup + build + test
    job = herald.fake_job(
        "acme/steps",
        text,
        steps=[
            ("build", "success", 75, len(setup)),
            ("test", "failed", 12, len(setup) + len(build)),
        ],
    )
    page.goto(f"/jobs/{job}/")
    steps = page.locator("#steps li")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("build")
    expect(steps.nth(0)).to_contain_text("1 min 15 s")
    expect(steps.nth(1)).to_contain_text("12 s")

    page.locator("#steps .step-link", has_text="build").click()
    header = page.locator('.log .sec[data-seg="s1"]')
    expect(header).to_be_in_viewport()
    expect(header).to_contain_text("300 lines")
    expect(row(page, "compile 0")).to_be_visible()
    header.click()
    expect(row(page, "compile 0")).to_have_count(0)
    expect(page.locator('.log .sec[data-seg="s2"]')).to_be_in_viewport()
    header.click()
    expect(row(page, "compile 0")).to_be_visible()


def test_a_large_log_opens_at_its_end_and_loads_earlier_parts_on_demand(page, herald):
    lines = 200_000
    job = herald.fake_job("acme/big", "".join(f"line {i} of the big log\n" for i in range(1, lines + 1)))
    page.goto(f"/jobs/{job}/")
    expect(row(page, f"line {lines} of the big log")).to_be_in_viewport()
    expect(page.locator("#line-count")).to_have_text("200,000 lines")
    assert page.locator(".log .ln").count() < 200  # only what is in view is drawn

    page.locator("#log").evaluate("el => el.scrollTop = 0")
    expect(row(page, "line 1 of the big log")).to_be_in_viewport()
    page.evaluate("location.hash = '#L123456'")
    expect(page.locator('.log .ln[data-l="123456"] .c')).to_have_text("line 123456 of the big log")
    expect(page.locator('.log .ln[data-l="123456"]')).to_be_in_viewport()
    assert page.locator(".log .ln").count() < 200


def test_a_dropped_connection_resumes_without_duplicating_or_losing_lines(browser, herald):
    context = browser.new_context(viewport={"width": 1280, "height": 1600}, base_url=herald.url)
    page = context.new_page()
    try:
        job = herald.push("acme/offline", "for i in $(seq 1 16); do echo beat-$i; sleep 0.5; done")
        page.goto(f"/jobs/{job}/")
        expect(row(page, "beat-2")).to_be_visible(timeout=60_000)
        context.set_offline(True)
        expect(page.locator("#log-conn")).to_be_visible()
        page.wait_for_timeout(3000)  # the build goes on printing meanwhile
        context.set_offline(False)
        expect(page.locator("#job-status .status")).to_have_text("success", timeout=60_000)
        expect(page.locator("#log-conn")).to_be_hidden()
        shown = page.locator(".log .ln .c").all_inner_texts()
        raw = re.sub(r"\x1b\[[0-9;]*m", "", herald.live.log_text(job)).splitlines()
        assert shown == raw
        assert [s for s in shown if s.startswith("beat-")] == [f"beat-{i}" for i in range(1, 17)]
    finally:
        context.close()
