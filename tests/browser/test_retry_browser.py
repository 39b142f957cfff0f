"""Retry from a step in the browser, against a real Herald (gunicorn, a
django-q2 worker, Docker): the failed job's "Retry from here" buttons, the
retry's page and log."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.builds.test_retry import FLAKY


def test_retry_from_here_runs_the_failed_step_again_in_the_kept_workspace(page, herald):
    herald.repo("acme/retry")
    herald.user("remy", "remy-pw-1", grants=[("acme/retry", "push")])
    job_id = herald.push("acme/retry", files={".herald.yml": FLAKY})
    assert herald.wait(job_id)["status"] == "failed"
    sign_in(page, "remy", "remy-pw-1")

    page.goto(f"/jobs/{job_id}/")
    buttons = page.locator("#steps .retry-step")
    expect(buttons).to_have_count(2)  # the failed step and the one before it; none after
    expect(buttons.nth(1)).to_have_attribute("title", re.compile(r"from flaky on again.*kept until"))
    buttons.nth(1).click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))
    retry_id = int(re.search(r"/jobs/(\d+)/", page.url).group(1))
    assert retry_id != job_id
    expect(page.locator(".messages")).to_contain_text("from step 2 as #2")
    expect(page.locator("#job-status")).to_contain_text("success", timeout=60_000)
    page.reload()  # the steps list is the server's, made once the steps are known
    expect(page.locator("#steps li").nth(0)).to_contain_text("skipped")
    expect(page.locator("#steps .retry-step")).to_have_count(0)  # it succeeded: nothing to retry
    text = herald.live.log_text(retry_id)
    assert "Step 1 carried over from #1: build" in text and "step 1 ran 1 time(s)" in text

    # The failed build's workspace went to the retry: asked again, the page says so.
    page.goto(f"/jobs/{job_id}/")
    expect(page.locator("#steps .retry-step")).to_have_count(0)
    expect(page.locator("#retry-gone")).to_contain_text("The workspace of #1 is gone (taken over by another retry")
    page.locator("#rebuild-from-start").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))
    assert herald.wait(int(re.search(r"/jobs/(\d+)/", page.url).group(1)))["status"] == "failed"
