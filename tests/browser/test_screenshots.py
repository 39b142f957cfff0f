"""Screenshots of the dashboard, a repository, a job and its deliveries for
the README, light and dark, taken from a real Herald running real builds
(docs/screenshots/)."""

import os
import re
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.support import ROOT, herald_yml

# `make screenshots` refreshes the README's pictures; a plain test run writes
# its own beside its data, so running the suite leaves the checkout clean.
SHOTS = Path(
    os.environ.get("HERALD_SCREENSHOTS_DIR") or Path(os.environ.get("HERALD_DATA_DIR", ROOT / "data")) / "screenshots"
)

CI_SCRIPT = r"""
b() { printf '\033[1;34m==>\033[0;1m %s\033[0m\n' "$1"; }
b "Installing dependencies"
for p in click-8.1.7 jinja2-3.1.4 pyyaml-6.0.2 requests-2.32.3; do echo "  Collecting $p"; done
printf 'Downloading wheels [#####               ] 25%%\rDownloading wheels [##########          ] 50%%\rDownloading wheels [####################] 100%%\n'
b "Linting"
echo "  ruff check .: All checks passed!"
b "Running tests"
for t in test_parser test_lexer test_codegen test_optimizer test_runtime test_cli; do
  printf '  tests/%s.py \033[32mPASSED\033[0m\n' "$t"
done
printf '  tests/test_network.py \033[33mSKIPPED\033[0m (no network in CI)\n'
sleep "${SLEEP:-0}"
printf '\033[32m==== 6 passed\033[0m, \033[33m1 skipped\033[0m in 0.42s ====\n'
"""

FAILING = r"""
printf '\033[1;34m==>\033[0;1m Running tests\033[0m\n'
printf '  tests/test_parser.py \033[32mPASSED\033[0m\n'
printf '  tests/test_io.py \033[1;31mFAILED\033[0m\n\n'
printf '\033[31mE   AssertionError: expected 3 widgets, got 2\033[0m\n'
exit 1
"""


def push(herald, src, full_name, commands, branch, message, files=None, secret="s3cret"):
    if branch != src.branch:
        try:
            src.checkout(branch, create=True)
        except Exception:
            src.checkout(branch)
        src.branch = branch
    sha = src.commit({".herald.yml": herald_yml(*commands), **(files or {})}, message)
    r = herald.push_github(full_name, sha, branch=branch, message=message, secret=secret)
    assert r.status_code == 202, r.text
    return r.json()["jobs"][0]


def test_screenshots(browser, live_herald, git_repo):
    herald = live_herald(HERALD_CONCURRENCY="1", DEBUG="0")
    widgets, gadgets, docs = git_repo("widgets"), git_repo("gadgets"), git_repo("docs")
    for src, name in ((widgets, "acme/widgets"), (gadgets, "acme/gadgets"), (docs, "acme/docs")):
        src.commit({"README": name}, "initial")
        herald.add_repo(name, src.url)
    ci = {"ci.sh": CI_SCRIPT}
    runs = [
        (widgets, "acme/widgets", ["sh ci.sh"], "main", "Add the widget parser", ci),
        (widgets, "acme/widgets", ["SLEEP=2 sh ci.sh"], "feature/spin", "Teach widgets to spin", ci),
        (widgets, "acme/widgets", ['sh -c "$(cat fail.sh)"'], "fix/io", "Read widgets from disk", {"fail.sh": FAILING}),
        (widgets, "acme/widgets", ["SLEEP=1 sh ci.sh"], "main", "Speed up the optimizer", ci),
        (widgets, "acme/widgets", ["SLEEP=3 sh ci.sh"], "main", "Document the CLI", ci),
        (gadgets, "acme/gadgets", ['sh -c "$(cat fail.sh)"'], "main", "Refactor gadget IO", {"fail.sh": FAILING}),
        (widgets, "acme/widgets", ["SLEEP=1 sh ci.sh"], "main", "Release 1.4.0", ci),
    ]
    jobs = []
    for src, name, commands, branch, message, files in runs:
        jobs.append(push(herald, src, name, commands, branch, message, files))
        herald.wait_job(jobs[-1])
    # One running and one waiting, for the dashboard.
    running = push(herald, docs, "acme/docs", ["sh ci.sh", "sleep 120"], "main", "Rewrite the tutorial", ci)
    herald.wait_job(running, ("running",))
    queued = push(herald, gadgets, "acme/gadgets", ["sh ci.sh"], "main", "Add gadget search", ci)

    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=herald.url, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto("/")
        expect(page.locator("#running-count")).to_contain_text("1 running")
        expect(page.locator("#queued-count")).to_contain_text("1 queued")
        page.screenshot(path=SHOTS / "dashboard.png", full_page=True)

        page.goto("/repos/acme/widgets/")
        expect(page.locator(".duration-chart rect.bar")).to_have_count(6)
        page.screenshot(path=SHOTS / "repository.png", full_page=True)

        page.goto(f"/jobs/{jobs[-1]}/")
        expect(page.locator(".log .ln .c", has_text=re.compile(r"^==== 6 passed"))).to_be_visible()
        page.check("#timestamps")
        page.screenshot(path=SHOTS / "job.png")

        page.goto(f"/jobs/{queued}/")
        expect(page.locator("#job-waiting")).to_contain_text("All build slots are busy")
        page.screenshot(path=SHOTS / "job-queued.png")

        dark = browser.new_context(
            viewport={"width": 1280, "height": 860}, base_url=herald.url, device_scale_factor=1, color_scheme="dark"
        )
        d = dark.new_page()
        d.goto("/")
        expect(d.locator("#running-count")).to_contain_text("1 running")
        d.screenshot(path=SHOTS / "dashboard-dark.png", full_page=True)
        d.goto(f"/jobs/{jobs[2]}/")
        expect(d.locator(".log .ln .c", has_text=re.compile("^E   AssertionError"))).to_be_visible()
        d.screenshot(path=SHOTS / "job-dark.png")
        dark.close()

        herald.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User\n"
            "User.objects.create_user('octo', password='screenshots', is_staff=True, is_superuser=True)",
        )
        admin = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=herald.url, device_scale_factor=1)
        a = admin.new_page()
        sign_in(a, "octo", "screenshots")
        a.goto("/repos/acme/widgets/deliveries/")
        a.locator(".delivery summary").first.click()
        expect(a.locator(".delivery[open] .payload")).to_contain_text('"ref": "refs/heads/main"')
        a.screenshot(path=SHOTS / "deliveries.png")
        admin.close()

        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, base_url=herald.url, is_mobile=True, device_scale_factor=2
        )
        p = phone.new_page()
        p.goto(f"/jobs/{jobs[2]}/")
        expect(p.locator(".log .ln .c", has_text=re.compile("^E   AssertionError"))).to_be_visible()
        p.screenshot(path=SHOTS / "job-phone.png")
        phone.close()
    finally:
        context.close()
        herald.manage(
            "shell",
            "-c",
            "from builds.models import Job\n"
            "for j in Job.objects.filter(status__in=['queued', 'running']): j.request_cancel('screenshots taken')",
        )
        herald.wait_job(running, ("cancelled",))
    for name in (
        "dashboard",
        "repository",
        "job",
        "job-queued",
        "job-phone",
        "deliveries",
        "dashboard-dark",
        "job-dark",
    ):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000
