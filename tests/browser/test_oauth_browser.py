"""A person signs in with (the fake) GitHub in Chromium, enables a repository
in one click, pushes, and GitHub receives pending then success statuses
linking to the job."""

import json
import os

import pytest

from tests.forges.github.fake_server import FakeGitHub
from tests.oauth.live import wait_for
from tests.support import github_headers, github_push, herald_yml

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.docker]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: apt-get install chromium (make test installs it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def fake():
    server = FakeGitHub().start()
    yield server
    server.stop()


def test_sign_in_enable_push_and_see_statuses_on_github(live_herald, git_repo, fake, browser):
    src = git_repo()
    sha = src.commit({".herald.yml": herald_yml("echo built-by-herald")}, "first")
    fake.add_repo("octocat/widgets", permission="admin", clone_url=src.url)
    fake.add_repo("octocat/docs", permission="push")
    herald = live_herald(**fake.env(), HERALD_OPEN="1")

    page = browser.new_page()
    page.goto(herald.url + "/login/")
    page.get_by_role("button", name="Sign in with GitHub").click()
    page.wait_for_url(herald.url + "/")
    assert "octocat" in page.locator("header").inner_text()
    authorize = fake.received("GET", "^/login/oauth/authorize$")[0]
    assert authorize.query["client_id"] == fake.client_id and authorize.query["state"]

    page.get_by_role("link", name="Your repositories").click()
    row = page.locator("tr", has_text="octocat/widgets")
    assert row.locator(".permission").inner_text() == "admin"
    assert page.locator("tr", has_text="octocat/docs").locator(".permission").inner_text() == "push"
    row.get_by_role("button", name="Enable").click()
    page.wait_for_load_state()
    assert "octocat/widgets is enabled" in page.locator(".messages").inner_text()
    assert page.locator("tr", has_text="octocat/widgets").locator(".state").inner_text() == "enabled"

    hook = fake.hooks_of("octocat/widgets")[0]
    assert hook["events"] == ["push", "pull_request"] and hook["config"]["url"] == herald.url + "/webhooks/github/"
    body = json.dumps(github_push("octocat/widgets", sha, message="first")).encode()
    r = herald.post("/webhooks/github/", body, github_headers(fake.hook_secret("octocat/widgets"), body))
    assert r.status_code == 202, r.text
    job_id = r.json()["jobs"][0]
    job = herald.wait_job(job_id)
    assert job["status"] == "success", herald.log_text(job_id)
    assert "built-by-herald" in herald.log_text(job_id)

    statuses = wait_for(
        lambda: (lambda s: s if s and s[-1]["state"] == "success" else None)(fake.statuses("octocat/widgets")),
        timeout=60,
        what="the success status",
    )
    states = [s["state"] for s in statuses]
    assert states[0] == "pending" and states[-1] == "success" and set(states) == {"pending", "success"}
    descriptions = [s["description"] for s in statuses]
    # Each state is its own task: "queued" may find "running" already on
    # the forge, and then is never sent (an older state never overwrites a
    # newer one), so the forge shows them in order, "queued" at most first.
    expected = [f"Build #{job['number']} is queued", f"Build #{job['number']} is running"]
    distinct = list(dict.fromkeys(descriptions))  # the newest may be posted twice
    assert distinct[:-1] in (expected, expected[1:]), descriptions
    assert all(s["target_url"] == f"{herald.url}/jobs/{job_id}/" for s in statuses)
    assert statuses[-1]["description"].startswith(f"Build #{job['number']} passed in ")
    assert all(r.path.endswith(f"/statuses/{sha}") for r in fake.received("POST", "/statuses/"))

    page.goto(statuses[-1]["target_url"])
    assert "success" in page.locator("main").inner_text()
