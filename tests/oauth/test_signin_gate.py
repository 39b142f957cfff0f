"""Who may sign in with a forge: HERALD_OPEN, HERALD_ORGS, HERALD_ADMINS,
against the local fake GitHub, Gitea and GitLab."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

from repositories.models import ForgeAccount, ForgeEvent
from tests.forges.gitea.fake_server import FakeGitea
from tests.forges.gitlab.fake_server import FakeGitLab
from tests.forges.oauth_kit import sign_in


@pytest.fixture(autouse=True)
def closed(settings):
    settings.HERALD_OPEN = False
    settings.HERALD_ORGS = settings.HERALD_ADMINS = []


@pytest.fixture
def fake_gitea(settings):
    fake = FakeGitea().start()
    fake.configure(settings)
    yield fake
    fake.stop()


@pytest.fixture
def fake_gitlab(settings):
    fake = FakeGitLab().start()
    fake.configure(settings)
    yield fake
    fake.stop()


def assert_refused(response, *words):
    assert response.status_code == 403, response.content[:500]
    page = response.content.decode()
    assert "Sign-in refused" in page
    for word in words:
        assert word in page
    return page


def test_it_refuses_everyone_by_default_says_why_and_records_it(client, fake_github, db):
    page = assert_refused(sign_in(client, fake_github), "octocat", "person who runs this Herald")
    assert client.get("/").wsgi_request.user.is_anonymous
    assert not User.objects.filter(username="octocat").exists()
    assert not ForgeAccount.objects.exists()
    event = ForgeEvent.objects.get(kind="signin")
    assert not event.ok and event.provider == "github" and "octocat" in event.message
    assert "gho_" not in page and "gho_" not in event.message


def test_it_lets_anyone_in_when_open(client, fake_github, settings, db):
    settings.HERALD_OPEN = True
    response = sign_in(client, fake_github, login="stranger")
    assert response.status_code == 302
    user = User.objects.get(username="stranger")
    assert client.get("/").wsgi_request.user == user and not user.is_staff


def test_it_admits_members_of_a_listed_github_organisation(client, fake_github, settings, db):
    settings.HERALD_ORGS = [("github", "acme")]
    fake_github.add_member("other-org", "octocat")
    assert_refused(sign_in(client, fake_github), "not a member", "acme")
    assert "acme" in ForgeEvent.objects.get(kind="signin", ok=False).message
    assert fake_github.received("GET", "^/api/v3/user/orgs$")

    fake_github.add_member("Acme", "octocat")  # organisation names are case-insensitive
    response = sign_in(client, fake_github)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").wsgi_request.user.username == "octocat"


def test_it_refuses_a_returning_user_who_left_the_organisation(client, fake_github, settings, db):
    settings.HERALD_ORGS = [("github", "acme")]
    fake_github.add_member("acme", "octocat")
    assert sign_in(client, fake_github).status_code == 302
    client.logout()

    fake_github.memberships["octocat"].remove("acme")
    assert_refused(sign_in(client, fake_github), "not a member")
    assert client.get("/").wsgi_request.user.is_anonymous


def test_it_does_not_take_an_organisation_of_another_forge(client, fake_gitea, settings, db):
    settings.HERALD_ORGS = [("github", "acme")]
    fake_gitea.add_member("acme", "gitea-user")
    assert_refused(sign_in(client, fake_gitea, login="gitea-user", provider="gitea", status=303))


def test_it_admits_members_of_a_gitea_organisation(client, fake_gitea, settings, db):
    settings.HERALD_ORGS = [("gitea", "acme")]
    fake_gitea.add_member("acme", "gitea-user")
    response = sign_in(client, fake_gitea, login="gitea-user", provider="gitea", status=303)
    assert response.status_code == 302, response.content[:500]
    assert client.get("/").wsgi_request.user.username == "gitea-user"


def test_it_admits_members_of_a_gitlab_group_by_full_path(client, fake_gitlab, settings, db):
    settings.HERALD_ORGS = [("gitlab", "acme/platform")]
    fake_gitlab.add_member("acme", "john_smith")
    assert_refused(sign_in(client, fake_gitlab, login="john_smith", provider="gitlab"), "GitLab group")

    fake_gitlab.add_member("acme/platform", "john_smith")
    assert sign_in(client, fake_gitlab, login="john_smith", provider="gitlab").status_code == 302
    assert client.get("/").wsgi_request.user.username == "john_smith"
    assert fake_gitlab.received("GET", "^/api/v4/groups$")[-1].query["min_access_level"] == "10"


def test_it_says_so_when_the_forge_cannot_list_organisations(client, fake_github, settings, db):
    settings.HERALD_ORGS = [("github", "acme")]
    fake_github.fail("GET", "/user/orgs$", 502, body={"message": "Server Error"})
    response = sign_in(client, fake_github)
    assert response.status_code == 503
    assert "try again later" in response.content.decode()
    assert not ForgeEvent.objects.get(kind="signin").ok


def test_it_makes_listed_admins_staff_even_when_closed(client, fake_github, settings, db):
    settings.HERALD_ADMINS = [("github", "octocat")]
    assert sign_in(client, fake_github).status_code == 302
    user = User.objects.get(username="octocat")
    assert user.is_staff and user.is_superuser
    assert client.get("/admin/").status_code == 200


def test_it_makes_a_returning_user_staff_once_listed(client, fake_github, settings, db):
    settings.HERALD_OPEN = True
    sign_in(client, fake_github)
    assert not User.objects.get(username="octocat").is_staff
    client.logout()
    settings.HERALD_ADMINS = [("github", "octocat")]
    sign_in(client, fake_github)
    assert User.objects.get(username="octocat").is_staff


def test_it_does_not_take_an_admin_login_from_another_forge(client, fake_gitea, settings, db):
    settings.HERALD_ADMINS = [("github", "octocat")]
    assert_refused(sign_in(client, fake_gitea, login="octocat", provider="gitea", status=303))
    assert not User.objects.filter(is_staff=True).exists()


def test_local_accounts_keep_signing_in_with_a_password(client, fake_github, db):
    User.objects.create_user("alice", password="correct horse battery")
    response = client.post("/login/", {"username": "alice", "password": "correct horse battery"})
    assert response.status_code == 302
    assert client.get("/").wsgi_request.user.username == "alice"


def test_the_refusal_page_names_the_admins_to_ask(client, fake_github, settings, db):
    settings.HERALD_ADMINS = [("github", "hubot")]
    assert_refused(sign_in(client, fake_github), "hubot")


def test_settings_read_forge_qualified_names_and_refuse_ambiguous_ones(monkeypatch):
    from ciproject import settings as herald_settings

    monkeypatch.setattr(herald_settings, "HERALD_GITHUB_CLIENT_ID", "id")
    monkeypatch.setattr(herald_settings, "HERALD_GITLAB_CLIENT_ID", "")
    monkeypatch.setenv("HERALD_ORGS", "Acme, gitlab:acme/Platform")
    assert herald_settings._forge_names("HERALD_ORGS") == [("github", "acme"), ("gitlab", "acme/platform")]

    monkeypatch.setattr(herald_settings, "HERALD_GITLAB_CLIENT_ID", "id")
    with pytest.raises(ImproperlyConfigured, match="write github:Acme"):
        herald_settings._forge_names("HERALD_ORGS")
    monkeypatch.setenv("HERALD_ORGS", "bitbucket:acme")
    with pytest.raises(ImproperlyConfigured, match="not a forge"):
        herald_settings._forge_names("HERALD_ORGS")
