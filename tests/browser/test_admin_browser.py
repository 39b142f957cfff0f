"""The admin as a new operator meets it: sign in, add a repository (the
README's first step), copy the webhook set-up, go to Herald's page and back."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def test_adding_a_repository_in_the_admin_then_its_page_and_back(page, herald):
    herald.user("olga", "olga-pw-1", staff=True)
    sign_in(page, "olga", "olga-pw-1")
    page.click("header.top >> text=Admin")

    # Herald's name and colours, the groups, the internals folded.
    expect(page).to_have_title("Administration | Herald CI admin")
    expect(page.locator("#site-name")).to_contain_text("Herald CI")
    assert page.locator("#header").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(36, 41, 47)"
    groups = page.locator("#content-main [data-group]")
    expect(groups.first).to_have_attribute("data-group", "Repositories and their secrets")
    internals = page.locator("details.herald-internals")
    expect(internals.get_by_role("link", name="Queued tasks")).to_be_hidden()
    internals.locator("summary").click()
    expect(internals.get_by_role("link", name="Queued tasks")).to_be_visible()

    # Add a repository: addrepo's questions, the clone URL from the forge.
    page.locator("#content-main .model-repository a.addlink").click()
    expect(page.locator("#id_private")).to_be_checked()
    expect(page.locator("#id_webhook_secret, #secrets-group")).to_have_count(0)
    page.select_option("#id_provider", "github")
    page.fill("#id_full_name", "acme/admin-added")
    page.click("input[name=_save]")

    setup = page.locator('section.herald-hook[data-repository="acme/admin-added"]')
    expect(setup).to_contain_text("Copy the secret now: Herald shows it this once.")
    expect(setup).to_contain_text("On GitHub: Settings → Webhooks → Add webhook")
    expect(setup.locator("code.webhook-url")).to_have_text(f"{herald.url}/webhooks/github/")
    secret = setup.locator("#webhook-secret").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)

    # View on site: Herald's page, which never shows the secret; and back.
    setup.get_by_role("link", name="View on site").click()
    expect(page).to_have_url(re.compile(r"/repos/acme/admin-added/\?provider=github$"))
    expect(page.locator("h1")).to_have_text("acme/admin-added")
    expect(page.locator(".hook-help")).to_contain_text("shown once when the repository was added")
    assert secret not in page.content()
    page.click("#edit-in-admin")
    expect(page.locator("#repository_form")).to_be_visible()
    expect(page.locator("#id_clone_url")).to_have_value("https://github.com/acme/admin-added.git")
    expect(page.locator(".field-webhook_secret_state")).to_contain_text("set (shown once")
    assert secret not in page.content()
    page.click("a.viewsitelink")
    expect(page).to_have_url(re.compile(r"/repos/acme/admin-added/\?provider=github$"))
