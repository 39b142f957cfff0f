"""The Content-Security-Policy holds on the main pages: the browser reports
no violation (no inline script, style or handler left in a template, and
the log's colours applied without style attributes)."""

from playwright.sync_api import expect

from tests.browser.conftest import sign_in

# Registered before any page script runs (Playwright injects it outside the
# page's policy), so even a violation during parsing is caught.
COLLECT = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
                              " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


def violations(page):
    return page.evaluate("window.__cspViolations")


def test_the_main_pages_report_no_csp_violation(page, herald):
    page.add_init_script(COLLECT)
    console = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    # 256-colour and true-colour text: the server sends those as inline styles.
    job = herald.fake_job("acme/csp", "plain\n\x1b[38;5;202morange\x1b[0m \x1b[48;2;10;20;30mdeep\x1b[0m\n")
    herald.user("csp-admin", "csp-admin-pw", staff=True)

    response = page.goto("/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe-inline" not in policy
    assert violations(page) == []
    sign_in(page, "csp-admin", "csp-admin-pw")

    for path in ("/", "/repos/acme/csp/", f"/jobs/{job}/", "/account/repositories/", "/admin/", "/admin/builds/job/"):
        response = page.goto(path)
        assert response.status == 200, path
        assert "content-security-policy" in response.headers, path
        page.wait_for_load_state("networkidle")
        assert violations(page) == [], path

    page.goto(f"/jobs/{job}/")
    orange = page.locator(".log .c span", has_text="orange")
    expect(orange).to_have_css("color", "rgb(255, 95, 0)")
    expect(page.locator(".log .c span", has_text="deep")).to_have_css("background-color", "rgb(10, 20, 30)")
    assert violations(page) == []
    assert console == []
