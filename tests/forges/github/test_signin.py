"""Sign in with GitHub through django-allauth against the local fake GitHub."""

from urllib.parse import parse_qs, urlsplit

from django.contrib.auth.models import User
from django.db import connection

from repositories.models import ForgeAccount, ForgeEvent
from tests.forges.oauth_kit import follow_forge, sign_in, start_sign_in


def test_it_shows_a_button_per_configured_forge_and_hides_the_rest(client, fake_github, settings, db):
    settings.HERALD_GITLAB_CLIENT_ID = settings.HERALD_GITLAB_CLIENT_SECRET = ""
    page = client.get("/login/").content.decode()
    assert "Sign in with GitHub" in page
    assert "Sign in with GitLab" not in page and "Sign in with Gitea" not in page

    settings.HERALD_GITHUB_CLIENT_ID = ""
    page = client.get("/login/").content.decode()
    assert "Sign in with GitHub" not in page
    # An unconfigured forge's sign-in URL is a clear 404, not a crash.
    assert client.post("/accounts/github/login/", {"process": "login"}).status_code == 404


def test_it_redirects_to_the_configured_forge_with_a_state(client, fake_github, db):
    authorize = urlsplit(start_sign_in(client))
    assert f"{authorize.scheme}://{authorize.netloc}" == fake_github.url
    assert authorize.path == "/login/oauth/authorize"
    query = parse_qs(authorize.query)
    assert query["client_id"] == [fake_github.client_id]
    assert query["redirect_uri"] == ["http://testserver/accounts/github/login/callback/"]
    assert set(query["scope"][0].split()) == {"repo", "admin:repo_hook", "read:org"}
    assert len(query["state"][0]) >= 12


def test_it_signs_in_and_keeps_the_token_encrypted(client, fake_github, db):
    response = sign_in(client, fake_github)
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="octocat")
    assert client.get("/").context["user"] == user
    account = ForgeAccount.objects.get(user=user, provider="github")
    assert account.login == "octocat" and account.uid == "1"
    assert fake_github.tokens[account.token] == "octocat"
    with connection.cursor() as c:
        c.execute("SELECT token FROM repositories_forgeaccount WHERE id = %s", [account.pk])
        raw = c.fetchone()[0]
    assert account.token not in raw and raw.startswith("gAAAA")  # Fernet
    with connection.cursor() as c:
        c.execute("SELECT COUNT(*) FROM socialaccount_socialtoken")
        assert c.fetchone()[0] == 0  # allauth keeps no plain-text copy
    # The token exchange and profile read went to the fake server.
    assert fake_github.received("POST", "^/login/oauth/access_token$")
    assert fake_github.received("GET", "^/api/v3/user$")


def test_it_signs_in_the_same_user_again_with_a_new_token(client, fake_github, db):
    sign_in(client, fake_github)
    first = ForgeAccount.objects.get().token
    client.logout()
    sign_in(client, fake_github)
    assert User.objects.filter(username="octocat").count() == 1
    account = ForgeAccount.objects.get()
    assert account.token != first and account.revoked_at is None


def test_it_rejects_a_state_that_does_not_match_the_session(client, fake_github, db):
    callback = follow_forge(start_sign_in(client))
    forged = callback.replace("state=", "state=x")
    response = client.get(forged)
    assert response.status_code == 401
    page = response.content.decode()
    assert "did not match" in page
    assert not User.objects.filter(username="octocat").exists()
    assert not ForgeAccount.objects.exists()
    event = ForgeEvent.objects.get(kind="signin")
    assert not event.ok and "state" in event.message


def test_it_rejects_a_callback_from_another_browser(client, fake_github, db, django_user_model):
    from django.test import Client

    callback = follow_forge(start_sign_in(client))
    response = Client().get(callback)  # no session: the state is unknown
    assert response.status_code == 401
    assert not ForgeAccount.objects.exists()


def test_it_explains_an_error_the_forge_sent_back(client, fake_github, db):
    fake_github.authorize_error = "redirect_uri_mismatch"
    response = client.get(follow_forge(start_sign_in(client)))
    assert response.status_code == 401
    assert "redirect_uri_mismatch" in response.content.decode()
    assert ForgeEvent.objects.filter(kind="signin", ok=False, message__contains="redirect_uri_mismatch").exists()


def test_it_says_so_when_the_user_denies_access(client, fake_github, db):
    fake_github.authorize_error = "access_denied"
    response = client.get(follow_forge(start_sign_in(client)), follow=True)
    assert "Sign-in cancelled" in response.content.decode()
    assert not User.objects.filter(username="octocat").exists()


def test_it_fails_cleanly_when_the_code_exchange_is_refused(client, fake_github, db):
    callback = follow_forge(start_sign_in(client))
    fake_github.codes.clear()  # the code expired at the forge
    response = client.get(callback)
    assert response.status_code == 401
    assert "bad_verification_code" in response.content.decode() or "did not complete" in response.content.decode()
    assert not ForgeAccount.objects.exists()


def test_it_asks_to_sign_in_again_when_the_forge_revoked_the_token(signed_in, fake_github):
    fake_github.revoke()
    response = signed_in.get("/account/repositories/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    page = signed_in.get(response["Location"]).content.decode()
    assert "sign in with GitHub again" in page and "Sign in with GitHub" in page
    account = ForgeAccount.objects.get()
    assert account.revoked_at is not None
    assert ForgeEvent.objects.filter(kind="token", ok=False).exists()
    # Signing in again restores access.
    sign_in(signed_in, fake_github)
    assert signed_in.get("/account/repositories/").status_code == 200
    assert ForgeAccount.objects.get().revoked_at is None
