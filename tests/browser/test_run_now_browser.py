"""Run now in the browser: the repository page's form, against a real
Herald (gunicorn, a django-q2 worker, Docker) and a real git repository
that no forge ever told Herald about."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.support import TEST_IMAGE

PIPELINE = f"""\
image: {TEST_IMAGE}
parameters:
  - name: TARGET
    type: choice
    choices: [staging, production]
    description: Where to deploy
  - name: DRY_RUN
    type: boolean
    default: true
  - name: GREETING
    default: hello
steps:
  - name: show
    commands: ['echo "target=$TARGET dry=$DRY_RUN greeting=$GREETING"']
"""


def test_run_now_builds_the_branch_with_the_chosen_parameters(page, herald):
    src = herald.repo("acme/runnow")
    sha = src.commit({".herald.yml": PIPELINE}, "Add the pipeline")
    herald.user("rona", "rona-pw-1", grants=[("acme/runnow", "push")])
    sign_in(page, "rona", "rona-pw-1")

    page.goto("/repos/acme/runnow/")
    form = page.locator("#run-now-form")
    expect(form.locator('input[name="branch"]')).to_have_value("main")
    expect(form.locator('select[name="param-TARGET"]')).to_have_value("staging")
    expect(form.locator('input[name="param-DRY_RUN"]')).to_be_checked()
    expect(form).to_contain_text("Where to deploy")
    # A commit that is not on the branch: the form comes back saying so.
    form.locator('input[name="commit"]').fill("0123456789abcdef")
    form.locator("#run-now-button").click()
    expect(page.locator(".run-now-error")).to_have_text(
        "Commit 0123456789abcdef is not on main (its head or one of the 200 commits before it)"
    )

    form = page.locator("#run-now-form")
    form.locator('input[name="commit"]').fill("")
    form.locator('select[name="param-TARGET"]').select_option("production")
    form.locator('input[name="param-DRY_RUN"]').uncheck()
    form.locator('input[name="param-GREETING"]').fill("good morning")
    form.locator("#run-now-button").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))
    job_id = int(re.search(r"/jobs/(\d+)/", page.url).group(1))
    assert herald.wait(job_id)["status"] == "success"
    page.reload()
    expect(page.locator(".facts")).to_contain_text("manual · main · by rona")
    expect(page.locator("#job-params")).to_have_text("TARGET=production DRY_RUN=false GREETING=good morning")
    expect(page.locator("#commit-link, .facts code").first).to_contain_text(sha)
    expect(
        page.locator(".log .ln .c", has_text=re.compile("^target=production dry=false greeting=good morning$"))
    ).to_be_visible()
