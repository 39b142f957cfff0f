"""The deliveries page on a phone, the dark scheme and keyboard focus, in
the browser (herald.css and templates/webhooks/deliveries.html)."""

import json
import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_csp import COLLECT, violations
from tests.support import fixture, github_headers
from tests.test_contrast import AA, ratio

SECRET = "s3cret"  # the repository's webhook secret (LiveHerald.add_repo)

# The computed colours of an element and of the first ancestor that paints
# a background: what the reader sees the text on.
COLOURS = """e => {
  let bg = e;
  while (bg && getComputedStyle(bg).backgroundColor === "rgba(0, 0, 0, 0)") bg = bg.parentElement;
  return [getComputedStyle(e).color, bg ? getComputedStyle(bg).backgroundColor : "rgb(255, 255, 255)"];
}"""


def contrast(locator):
    fg, bg = locator.evaluate(COLOURS)
    return ratio(fg, bg)


def test_deliveries_fit_a_phone_and_open_on_what_was_received_and_answered(browser, herald):
    job = herald.push("acme/deliveries", "echo delivered")
    herald.wait(job)
    # A sender that puts the secret in the body (as Gitea before 1.14 did).
    star = {**fixture("github", "star__created"), "secret": SECRET}
    star["repository"]["full_name"] = "acme/deliveries"
    body = json.dumps(star).encode()
    assert herald.live.post("/webhooks/github/", body, github_headers(SECRET, body, event="star")).status_code == 200
    herald.user("deliveries-admin", "deliveries-pw", staff=True)

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, base_url=herald.url, is_mobile=True, device_scale_factor=2
    )
    page = phone.new_page()
    page.add_init_script(COLLECT)
    try:
        sign_in(page, "deliveries-admin", "deliveries-pw")
        page.goto("/repos/acme/deliveries/deliveries/")
        rows = page.locator(".delivery")
        expect(rows).to_have_count(2)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert SECRET not in page.content()

        ignored, accepted = rows.nth(0), rows.nth(1)
        expect(ignored.locator("summary")).to_contain_text(re.compile(r"ignored\s+star\s+200"))
        expect(ignored.locator(".payload")).to_be_hidden()
        ignored.locator("summary").click()
        expect(ignored.locator(".payload")).to_contain_text('"secret": "[masked by Herald]"')

        accepted.locator("summary").click()
        expect(accepted.locator(".headers")).to_contain_text("X-GitHub-Event")
        expect(accepted.locator(".headers")).to_contain_text("X-Hub-Signature-256")
        # Pretty-printed: one field a line, indented.
        assert '\n  "ref": "refs/heads/main",\n' in accepted.locator(".payload").inner_text()
        expect(accepted.locator(".response")).to_contain_text("202")
        expect(accepted.locator(".response .status")).to_have_text("success")
        expect(accepted.locator(".response button.replay")).to_be_visible()
        # Opened, long lines scroll inside their box, not the page.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert violations(page) == []  # no inline style or script (the CSP)
        accepted.locator(f'.response a[href="/jobs/{job}/"]').click()
        expect(page).to_have_url(re.compile(f"/jobs/{job}/$"))
    finally:
        phone.close()


def test_the_dark_scheme_is_dark_and_readable_and_focus_shows(browser, herald):
    job = herald.push("acme/dark", "echo dark; exit 1", message="Break it in the dark")
    herald.wait(job)
    dark = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=herald.url, color_scheme="dark")
    page = dark.new_page()
    try:
        page.goto("/")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert ratio(background, "#000") < 1.5, f"the dark page's background is {background}"
        card = page.locator('.repo-card[data-repo="acme/dark"]')
        expect(card.locator(".status")).to_have_text("failed")
        for element in (card.locator(".status"), card.locator(".repo-name"), page.locator("a").first):
            assert contrast(element) >= AA, element
        page.goto("/repos/acme/dark/")
        for status in page.locator("table.jobs .status").all() + page.locator("table.jobs a").all()[:3]:
            assert contrast(status) >= AA, status

        # Keyboard focus: Tab lands on the first link, drawn with a ring.
        page.goto("/")
        page.keyboard.press("Tab")
        ring = page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; })()"
        )
        assert ring == ["A", "solid", "2px"], ring
    finally:
        dark.close()
