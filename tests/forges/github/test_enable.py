"""Your repositories page with GitHub: list from the forge, Enable, Disable."""

from django.contrib.auth.models import User
from django.contrib.messages import get_messages

from repositories.models import ForgeEvent, Membership, Repository


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def enable(client, full_name):
    return client.post("/account/repositories/github/enable", {"full_name": full_name}, follow=True)


def test_it_lists_every_page_of_the_users_repositories_with_admin_rights_shown(signed_in, fake_github):
    for i in range(105):
        fake_github.add_repo(f"octocat/repo-{i:03}", permission="admin" if i % 2 else "push")
    fake_github.add_repo("acme-org/private-tool", permission="pull", private=True)
    response = signed_in.get("/account/repositories/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "octocat/repo-000" in page and "octocat/repo-104" in page and "acme-org/private-tool" in page
    rows = response.context["sections"][0]["rows"]
    assert len(rows) == 106
    by_name = {r["forge"].full_name: r["forge"] for r in rows}
    assert by_name["octocat/repo-001"].permission == "admin"
    assert by_name["octocat/repo-000"].permission == "push"
    assert by_name["acme-org/private-tool"].permission == "pull" and by_name["acme-org/private-tool"].private
    # Two pages of 100, following the Link header.
    pages = fake_github.received("GET", "^/api/v3/user/repos$")
    assert [r.query.get("page") for r in pages[-2:]] == [None, "2"]


def test_it_enables_a_repository_with_a_fresh_hook(signed_in, fake_github, settings):
    fake_github.add_repo("octocat/widgets", permission="admin", clone_url="https://github.example/octocat/widgets.git")
    response = enable(signed_in, "octocat/widgets")
    assert "octocat/widgets is enabled" in " ".join(messages_of(response))
    repo = Repository.objects.get(full_name="octocat/widgets")
    assert repo.active and repo.provider == "github"
    assert repo.clone_url == "https://github.example/octocat/widgets.git"
    hook = fake_github.hooks_of("octocat/widgets")[0]
    assert repo.hook_id == str(hook["id"])
    sent = fake_github.received("POST", "/repos/octocat/widgets/hooks$")[-1].json
    assert sent["events"] == ["push", "pull_request"]
    assert sent["config"]["content_type"] == "json"
    assert sent["config"]["url"] == f"{settings.HERALD_BASE_URL}/webhooks/github/"
    assert sent["config"]["secret"] == repo.webhook_secret and len(repo.webhook_secret) >= 32
    assert repo.enabled_by.login == "octocat"
    assert Membership.objects.get(repository=repo).permission == "admin"
    page = signed_in.get("/account/repositories/").content.decode()
    assert "Disable" in page


def test_it_refuses_to_enable_without_admin_rights(signed_in, fake_github):
    fake_github.add_repo("acme/app", permission="push")
    response = enable(signed_in, "acme/app")
    text = " ".join(messages_of(response))
    assert "You need admin rights on acme/app" in text and "push access" in text
    assert not Repository.objects.filter(full_name="acme/app").exists()
    assert not fake_github.received("POST", "/hooks$")


def test_it_reports_a_hook_the_forge_refuses(signed_in, fake_github):
    fake_github.add_repo("acme/app", permission="admin")
    fake_github.fail(
        "POST",
        "/repos/acme/app/hooks$",
        422,
        body={
            "message": "Validation Failed",
            "errors": [{"resource": "Hook", "code": "custom", "message": "Sorry, the URL is not reachable"}],
        },
    )
    text = " ".join(messages_of(enable(signed_in, "acme/app")))
    assert "GitHub refused to create the webhook" in text and "not reachable" in text
    assert not Repository.objects.filter(full_name="acme/app").exists()

    fake_github.clear_failures()
    fake_github.fail("POST", "/repos/acme/app/hooks$", 404, body={"message": "Not Found"})
    text = " ".join(messages_of(enable(signed_in, "acme/app")))
    assert "Could not enable acme/app" in text and "404" in text
    assert not Repository.objects.filter(full_name="acme/app").exists()


def test_it_reports_a_forge_that_is_down(signed_in, fake_github):
    fake_github.add_repo("acme/app", permission="admin")
    fake_github.fail("GET", "/repos/acme/app$", 502, body={"message": "Server Error"})
    text = " ".join(messages_of(enable(signed_in, "acme/app")))
    assert "HTTP 502" in text and "Nothing was changed" in text


def test_it_disables_and_keeps_the_history(signed_in, fake_github):
    from builds.models import Job

    fake_github.add_repo("octocat/widgets", permission="admin")
    enable(signed_in, "octocat/widgets")
    repo = Repository.objects.get()
    Job.objects.create(repository=repo, number=1, commit="a" * 40)
    response = signed_in.post("/account/repositories/github/disable", {"full_name": "octocat/widgets"}, follow=True)
    assert "disabled; its build history stays" in " ".join(messages_of(response))
    repo.refresh_from_db()
    assert not repo.active and repo.hook_id == ""
    assert fake_github.hooks_of("octocat/widgets") == []
    assert fake_github.received("DELETE", "/repos/octocat/widgets/hooks/")
    assert Job.objects.filter(repository=repo).count() == 1


def test_it_re_enables_after_the_hook_was_deleted_by_hand(signed_in, fake_github):
    fake_github.add_repo("octocat/widgets", permission="admin")
    enable(signed_in, "octocat/widgets")
    old = Repository.objects.get()
    fake_github.delete_hooks_by_hand("octocat/widgets")
    response = enable(signed_in, "octocat/widgets")
    assert "is enabled" in " ".join(messages_of(response))
    repo = Repository.objects.get()
    assert repo.pk == old.pk and repo.active
    hooks = fake_github.hooks_of("octocat/widgets")
    assert len(hooks) == 1 and repo.hook_id == str(hooks[0]["id"]) != old.hook_id
    assert repo.webhook_secret != old.webhook_secret


def test_it_replaces_a_leftover_hook_to_the_same_url(signed_in, fake_github):
    fake_github.add_repo("octocat/widgets", permission="admin")
    enable(signed_in, "octocat/widgets")
    Repository.objects.update(hook_id="")  # Herald forgot the hook; it is still on the forge
    response = enable(signed_in, "octocat/widgets")
    assert "is enabled" in " ".join(messages_of(response))
    hooks = fake_github.hooks_of("octocat/widgets")
    assert len(hooks) == 1 and Repository.objects.get().hook_id == str(hooks[0]["id"])


def test_it_takes_over_a_repository_added_by_hand(signed_in, fake_github, make_repository):
    manual = make_repository("octocat/widgets", active=False)
    fake_github.add_repo("octocat/widgets", permission="admin", private=True)
    enable(signed_in, "octocat/widgets")
    repo = Repository.objects.get()
    assert repo.pk == manual.pk and repo.active and repo.private and repo.enabled_by is not None


def test_disable_needs_admin_rights_in_herald(signed_in, fake_github, make_repository):
    repo = make_repository("octocat/widgets", hook_id="77")
    fake_github.add_repo("octocat/widgets", permission="push")
    Membership.objects.create(user=User.objects.get(username="octocat"), repository=repo, permission="push")
    response = signed_in.post("/account/repositories/github/disable", {"full_name": "octocat/widgets"})
    assert response.status_code == 403
    assert Repository.objects.get().active


def test_the_page_needs_a_signed_in_user(client, db):
    response = client.get("/account/repositories/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post("/account/repositories/github/enable", {"full_name": "a/b"}).status_code == 302


def test_enabling_records_an_event_for_the_admin(signed_in, fake_github):
    fake_github.add_repo("octocat/widgets", permission="admin")
    enable(signed_in, "octocat/widgets")
    assert ForgeEvent.objects.filter(kind="hook", ok=True, message__contains="octocat/widgets enabled").exists()
