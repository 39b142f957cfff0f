"""Who may sign in with a forge: HERALD_OPEN, HERALD_ORGS, HERALD_ADMINS,
against the local fake of every forge with sign-in (`oauth_forge`: the
registry's forges, each through the OAUTH of tests/forges/<id>/kit.py)."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

from repositories.models import ForgeAccount, ForgeEvent
from tests.forges.gitea.fake_server import FakeGitea
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


def assert_refused(response, *words):
    assert response.status_code == 403, response.content[:500]
    page = response.content.decode()
    assert "Sign-in refused" in page
    for word in words:
        assert word in page
    return page


def test_it_refuses_everyone_by_default_says_why_and_records_it(client, oauth_forge, db):
    login = oauth_forge.kit.login
    page = assert_refused(oauth_forge.sign_in(client), login, "person who runs this Herald")
    assert client.get("/").wsgi_request.user.is_anonymous
    assert not User.objects.filter(username=login).exists()
    assert not ForgeAccount.objects.exists()
    event = ForgeEvent.objects.get(kind="signin")
    assert not event.ok and event.provider == oauth_forge.id and login in event.message
    # The token the forge gave Herald is shown nowhere.
    tokens = list(oauth_forge.fake.tokens)
    assert tokens and not any(token in page or token in event.message for token in tokens)


def test_it_lets_anyone_in_when_open(client, oauth_forge, settings, db):
    settings.HERALD_OPEN = True
    response = oauth_forge.sign_in(client, login="stranger")
    assert response.status_code == 302
    user = User.objects.get(username="stranger")
    assert client.get("/").wsgi_request.user == user and not user.is_staff


def test_it_admits_members_of_a_listed_organisation(client, oauth_forge, settings, db):
    fake, org, login = oauth_forge.fake, oauth_forge.kit.org, oauth_forge.kit.login
    settings.HERALD_ORGS = [(oauth_forge.id, org)]
    fake.add_member("other-org", login)
    assert_refused(oauth_forge.sign_in(client), "not a member", org)
    assert org in ForgeEvent.objects.get(kind="signin", ok=False).message
    assert fake.received("GET", oauth_forge.kit.orgs_path)

    fake.add_member(org.capitalize(), login)  # organisation names are case-insensitive
    response = oauth_forge.sign_in(client)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").wsgi_request.user.username == login


def test_it_refuses_a_returning_user_who_left_the_organisation(client, oauth_forge, settings, db):
    fake, org, login = oauth_forge.fake, oauth_forge.kit.org, oauth_forge.kit.login
    settings.HERALD_ORGS = [(oauth_forge.id, org)]
    fake.add_member(org, login)
    assert oauth_forge.sign_in(client).status_code == 302
    client.logout()

    fake.memberships[login].remove(org)
    assert_refused(oauth_forge.sign_in(client), "not a member")
    assert client.get("/").wsgi_request.user.is_anonymous


def test_it_does_not_take_an_organisation_of_another_forge(client, fake_gitea, settings, db):
    settings.HERALD_ORGS = [("github", "acme")]
    fake_gitea.add_member("acme", "gitea-user")
    assert_refused(sign_in(client, fake_gitea, login="gitea-user", provider="gitea", status=303))


def test_it_says_so_when_the_forge_cannot_list_organisations(client, oauth_forge, settings, db):
    settings.HERALD_ORGS = [(oauth_forge.id, oauth_forge.kit.org)]
    oauth_forge.fake.fail("GET", oauth_forge.kit.orgs_path, 502, body={"message": "Server Error"})
    response = oauth_forge.sign_in(client)
    assert response.status_code == 503
    assert "try again later" in response.content.decode()
    assert not ForgeEvent.objects.get(kind="signin").ok


def test_it_makes_listed_admins_staff_even_when_closed(client, oauth_forge, settings, db):
    login = oauth_forge.kit.login
    settings.HERALD_ADMINS = [(oauth_forge.id, login)]
    assert oauth_forge.sign_in(client).status_code == 302
    user = User.objects.get(username=login)
    assert user.is_staff and user.is_superuser
    assert client.get("/admin/").status_code == 200


def test_it_makes_a_returning_user_staff_once_listed(client, oauth_forge, settings, db):
    login = oauth_forge.kit.login
    settings.HERALD_OPEN = True
    oauth_forge.sign_in(client)
    assert not User.objects.get(username=login).is_staff
    client.logout()
    settings.HERALD_ADMINS = [(oauth_forge.id, login)]
    oauth_forge.sign_in(client)
    assert User.objects.get(username=login).is_staff


def test_it_does_not_take_an_admin_login_from_another_forge(client, fake_gitea, settings, db):
    settings.HERALD_ADMINS = [("github", "octocat")]
    assert_refused(sign_in(client, fake_gitea, login="octocat", provider="gitea", status=303))
    assert not User.objects.filter(is_staff=True).exists()


def test_local_accounts_keep_signing_in_with_a_password(client, fake_github, db):
    User.objects.create_user("alice", password="correct horse battery")
    response = client.post("/login/", {"username": "alice", "password": "correct horse battery"})
    assert response.status_code == 302
    assert client.get("/").wsgi_request.user.username == "alice"


def test_the_refusal_page_names_the_admins_to_ask(client, oauth_forge, settings, db):
    settings.HERALD_ADMINS = [(oauth_forge.id, "hubot")]
    assert_refused(oauth_forge.sign_in(client), "hubot")


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
