"""Gitea (and Forgejo) end to end against the local fake Gitea: sign-in,
"Your repositories", Enable/Disable, commit statuses, revoked tokens and
permissions, as a user of Herald sees them."""

import base64
import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from builds import constants as C
from builds.models import Job
from repositories.models import CommitStatus, ForgeAccount, ForgeEvent, Membership, Repository
from repositories.tasks import post_commit_status
from tests.forges import oauth_kit as oauth
from tests.forges.gitea.fake_server import FakeGitea
from tests.forges.oauth_kit import SHA, build_to_success, new_job

LOGIN = "gordon"


@pytest.fixture
def fake_gitea(settings):
    fake = FakeGitea().start()
    fake.configure(settings)
    fake.login_as = LOGIN
    fake.add_user(LOGIN)
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def start_sign_in(client):
    return oauth.start_sign_in(client, provider="gitea")


def follow_gitea(url):
    return oauth.follow_forge(url, status=303)  # Gitea redirects with 303


def sign_in(client, fake, login=LOGIN):
    return oauth.sign_in(client, fake, login, provider="gitea", status=303)


@pytest.fixture
def signed_in(client, fake_gitea, db):
    response = sign_in(client, fake_gitea)
    assert response.status_code == 302 and response["Location"] == "/", response.content[:1000]
    return client


def messages_of(response):
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def enable(client, full_name):
    return client.post("/account/repositories/gitea/enable", {"full_name": full_name}, follow=True)


def disable(client, full_name, **kw):
    return client.post("/account/repositories/gitea/disable", {"full_name": full_name}, **kw)


def permission_cells(page):
    """{full_name: text of the "Your access" cell} from the rendered page."""
    rows = re.findall(r'<tr data-repo="([^"]+)">(.*?)</tr>', page, re.S)
    return {name: re.search(r'<td class="permission">([^<]*)</td>', row).group(1) for name, row in rows}


# --- Sign in with Gitea ------------------------------------------------------


def test_the_gitea_button_shows_only_when_gitea_is_configured(client, settings, db):
    settings.HERALD_GITEA_URL = settings.HERALD_GITEA_API_URL = ""
    settings.HERALD_GITEA_CLIENT_ID = settings.HERALD_GITEA_CLIENT_SECRET = ""
    assert "Sign in with Gitea" not in client.get("/login/").content.decode()
    assert client.post("/accounts/gitea/login/", {"process": "login"}).status_code == 404

    # A client id without the server's URL is not enough (there is no gitea.com default)…
    settings.HERALD_GITEA_CLIENT_ID, settings.HERALD_GITEA_CLIENT_SECRET = "id", "secret"
    assert "Sign in with Gitea" not in client.get("/login/").content.decode()
    # …nor the URL without a client.
    settings.HERALD_GITEA_URL = "https://gitea.example"
    settings.HERALD_GITEA_CLIENT_ID = ""
    assert "Sign in with Gitea" not in client.get("/login/").content.decode()

    settings.HERALD_GITEA_CLIENT_ID = "id"
    assert "Sign in with Gitea" in client.get("/login/").content.decode()


def test_it_sends_the_browser_to_the_configured_gitea(client, fake_gitea, db):
    authorize = urlsplit(start_sign_in(client))
    assert f"{authorize.scheme}://{authorize.netloc}" == fake_gitea.url
    assert authorize.path == "/login/oauth/authorize"
    query = parse_qs(authorize.query)
    assert query["client_id"] == [fake_gitea.client_id]
    assert query["redirect_uri"] == ["http://testserver/accounts/gitea/login/callback/"]
    assert query["response_type"] == ["code"]
    # Gitea ≥ 1.22 limits the token to the scopes asked for: these cover
    # reading the user, listing repositories, hooks and commit statuses.
    assert set(query["scope"][0].split()) == {"read:user", "write:repository"}
    assert len(query["state"][0]) >= 12


def test_signing_in_creates_the_account_and_keeps_the_token_encrypted(client, fake_gitea, db):
    response = sign_in(client, fake_gitea)
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username=LOGIN)
    assert client.get("/").context["user"] == user
    account = ForgeAccount.objects.get(user=user)
    assert account.provider == "gitea" and account.login == LOGIN
    assert account.uid == str(fake_gitea.users[LOGIN])
    assert fake_gitea.tokens[account.token] == LOGIN
    # Gitea's access tokens expire (an hour by default); Herald keeps when,
    # and the refresh token it was given.
    assert account.token_expires_at is not None
    left = (account.token_expires_at - timezone.now()).total_seconds()
    assert 3500 <= left <= 3600
    assert account.refresh_token in fake_gitea.refresh_tokens
    with connection.cursor() as c:
        c.execute("SELECT token FROM repositories_forgeaccount WHERE id = %s", [account.pk])
        raw = c.fetchone()[0]
    assert account.token not in raw
    exchange = fake_gitea.received("POST", "^/login/oauth/access_token$")[-1].body
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["client_secret"] == fake_gitea.client_secret
    profile = fake_gitea.received("GET", "^/api/v1/user$")[0]
    assert profile.headers["Authorization"].split(" ", 1)[1] == account.token


def test_a_second_sign_in_finds_the_same_user(client, fake_gitea, db):
    sign_in(client, fake_gitea)
    first = ForgeAccount.objects.get().token
    client.logout()
    sign_in(client, fake_gitea)
    assert User.objects.filter(username=LOGIN).count() == 1
    account = ForgeAccount.objects.get()
    assert account.token != first and account.revoked_at is None


def test_a_state_that_does_not_match_is_refused_with_a_clear_page(client, fake_gitea, db):
    callback = follow_gitea(start_sign_in(client))
    response = client.get(callback.replace("state=", "state=x"))
    assert response.status_code == 401
    assert "did not match" in response.content.decode()
    assert not User.objects.filter(username=LOGIN).exists() and not ForgeAccount.objects.exists()
    event = ForgeEvent.objects.get(kind="signin")
    assert event.provider == "gitea" and not event.ok and "state" in event.message


def test_pressing_cancel_on_gitea_says_the_sign_in_was_cancelled(client, fake_gitea, db):
    fake_gitea.authorize_error = "access_denied"
    response = client.get(follow_gitea(start_sign_in(client)), follow=True)
    assert response.status_code == 200
    assert "Sign-in cancelled" in response.content.decode()
    assert not User.objects.filter(username=LOGIN).exists()


def test_a_code_gitea_no_longer_accepts_fails_cleanly(client, fake_gitea, db):
    callback = follow_gitea(start_sign_in(client))
    fake_gitea.codes.clear()  # expired or already used at Gitea
    response = client.get(callback)
    assert response.status_code == 401
    page = response.content.decode()
    assert "did not complete" in page or "not authorized" in page
    assert not ForgeAccount.objects.exists()
    assert ForgeEvent.objects.filter(kind="signin", ok=False, provider="gitea").exists()


# --- Your repositories --------------------------------------------------------


def test_your_repositories_lists_every_page_with_the_right_access(signed_in, fake_gitea):
    for i in range(57):  # more than Gitea's 50 per page
        fake_gitea.add_repo(f"{LOGIN}/repo-{i:02}", permission="admin" if i % 2 else "push")
    fake_gitea.add_repo("acme-org/private-tool", permission="pull", private=True)
    response = signed_in.get("/account/repositories/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"{LOGIN} on Gitea / Forgejo" in page
    cells = permission_cells(page)
    assert len(cells) == 58
    assert cells[f"{LOGIN}/repo-01"] == "admin" and cells[f"{LOGIN}/repo-00"] == "push"
    assert cells["acme-org/private-tool"] == "pull"
    assert re.search(r'<tr data-repo="acme-org/private-tool">\s*<td>[^<]*</td>\s*<td>private</td>', page)
    # Two requests of `limit=50`, the second one from Gitea's Link header.
    asked = fake_gitea.received("GET", "^/api/v1/user/repos$")
    assert [(r.query.get("limit"), r.query.get("page")) for r in asked[-2:]] == [("50", None), ("50", "2")]


def test_an_empty_gitea_account_says_so(signed_in, fake_gitea):
    page = signed_in.get("/account/repositories/").content.decode()
    assert f"Gitea / Forgejo shows no repository to {LOGIN}" in page


# --- Enable / Disable ---------------------------------------------------------


def test_enable_creates_the_hook_gitea_needs(signed_in, fake_gitea, settings):
    fake_gitea.add_repo(
        f"{LOGIN}/widgets",
        permission="admin",
        private=True,
        clone_url="https://gitea.example/gordon/widgets.git",
        default_branch="trunk",
    )
    response = enable(signed_in, f"{LOGIN}/widgets")
    assert f"{LOGIN}/widgets is enabled" in messages_of(response)
    repo = Repository.objects.get(full_name=f"{LOGIN}/widgets")
    assert repo.provider == "gitea" and repo.active and repo.private
    assert repo.clone_url == "https://gitea.example/gordon/widgets.git" and repo.default_branch == "trunk"
    assert repo.html_url == f"{fake_gitea.url}/{LOGIN}/widgets"
    hooks = fake_gitea.hooks_of(f"{LOGIN}/widgets")
    assert len(hooks) == 1 and repo.hook_id == str(hooks[0]["id"])
    sent = fake_gitea.received("POST", f"^/api/v1/repos/{LOGIN}/widgets/hooks$")[-1].json
    assert sent["type"] == "gitea" and sent["active"] is True
    assert sent["events"] == ["push", "pull_request"]
    assert sent["config"]["url"] == f"{settings.HERALD_BASE_URL}/webhooks/gitea/"
    assert sent["config"]["content_type"] == "json"
    assert sent["config"]["secret"] == repo.webhook_secret and len(repo.webhook_secret) >= 32
    assert repo.enabled_by.provider == "gitea" and repo.enabled_by.login == LOGIN
    assert Membership.objects.get(repository=repo).permission == "admin"
    page = signed_in.get("/account/repositories/").content.decode()
    assert re.search(rf'<tr data-repo="{LOGIN}/widgets">.*?class="state">enabled<.*?Disable', page, re.S)


def test_disable_deletes_the_hook_and_keeps_the_history(signed_in, fake_gitea):
    fake_gitea.add_repo(f"{LOGIN}/widgets", permission="admin")
    enable(signed_in, f"{LOGIN}/widgets")
    repo = Repository.objects.get()
    hook_id = repo.hook_id
    Job.objects.create(repository=repo, number=1, commit="a" * 40)
    response = disable(signed_in, f"{LOGIN}/widgets", follow=True)
    assert f"{LOGIN}/widgets is disabled; its build history stays" in messages_of(response)
    repo.refresh_from_db()
    assert not repo.active and repo.hook_id == ""
    assert fake_gitea.hooks_of(f"{LOGIN}/widgets") == []
    assert fake_gitea.received("DELETE", f"^/api/v1/repos/{LOGIN}/widgets/hooks/{hook_id}$")
    assert Job.objects.filter(repository=repo).count() == 1
    page = signed_in.get("/account/repositories/").content.decode()
    assert re.search(rf'<tr data-repo="{LOGIN}/widgets">.*?class="state">disabled<.*?Enable', page, re.S)


def test_enabling_without_admin_rights_is_refused_clearly(signed_in, fake_gitea):
    fake_gitea.add_repo("acme/app", permission="push")
    text = messages_of(enable(signed_in, "acme/app"))
    assert "You need admin rights on acme/app" in text and "push access" in text
    assert not Repository.objects.filter(full_name="acme/app").exists()
    assert not fake_gitea.received("POST", "/hooks$")


def test_gitea_refusing_the_hook_is_reported_with_its_reason(signed_in, fake_gitea):
    fake_gitea.add_repo("acme/app", permission="admin")
    # Rights changed on Gitea between the check and the hook: its 403 body.
    fake_gitea.fail("POST", "^/api/v1/repos/acme/app/hooks$", 403, body=fake_gitea.error("error-not-admin"))
    text = messages_of(enable(signed_in, "acme/app"))
    assert "Could not enable acme/app" in text and "refused to create the webhook" in text
    assert "user should be an owner or a collaborator with admin write" in text
    assert not Repository.objects.filter(full_name="acme/app").exists()

    fake_gitea.clear_failures()
    fake_gitea.fail("POST", "^/api/v1/repos/acme/app/hooks$", 422, body=fake_gitea.error("error-validation"))
    text = messages_of(enable(signed_in, "acme/app"))
    assert "HTTP 422" in text and "Missing config option: url" in text
    assert not Repository.objects.filter(full_name="acme/app").exists()


def test_an_unknown_repository_is_reported(signed_in, fake_gitea):
    text = messages_of(enable(signed_in, "acme/nothing"))
    assert "Could not enable acme/nothing" in text and "does not show it to gordon" in text
    assert "The target couldn't be found." in text


def test_re_enabling_leaves_exactly_one_hook(signed_in, fake_gitea):
    fake_gitea.add_repo(f"{LOGIN}/widgets", permission="admin")
    enable(signed_in, f"{LOGIN}/widgets")
    first = Repository.objects.get()
    enable(signed_in, f"{LOGIN}/widgets")
    hooks = fake_gitea.hooks_of(f"{LOGIN}/widgets")
    repo = Repository.objects.get()
    assert len(hooks) == 1 and repo.hook_id == str(hooks[0]["id"]) != first.hook_id
    assert repo.webhook_secret != first.webhook_secret
    assert fake_gitea.hook_secrets[hooks[0]["id"]] == repo.webhook_secret


def test_a_hook_herald_lost_track_of_is_replaced_not_duplicated(signed_in, fake_gitea):
    # Gitea, unlike GitHub, accepts a second hook to the same URL: without
    # care every push would be delivered twice, once with a stale secret.
    fake_gitea.add_repo(f"{LOGIN}/widgets", permission="admin")
    enable(signed_in, f"{LOGIN}/widgets")
    Repository.objects.update(hook_id="")  # Herald forgot the hook; it is still on Gitea
    assert "is enabled" in messages_of(enable(signed_in, f"{LOGIN}/widgets"))
    hooks = fake_gitea.hooks_of(f"{LOGIN}/widgets")
    repo = Repository.objects.get()
    assert len(hooks) == 1 and repo.hook_id == str(hooks[0]["id"])
    assert fake_gitea.hook_secrets[hooks[0]["id"]] == repo.webhook_secret


def test_disable_needs_admin_rights(signed_in, fake_gitea, make_repository):
    repo = make_repository("acme/widgets", provider="gitea", hook_id="77", forge_id="9")
    fake_gitea.add_repo("acme/widgets", permission="push")
    Membership.objects.create(user=User.objects.get(username=LOGIN), repository=repo, permission="push")
    assert disable(signed_in, "acme/widgets").status_code == 403
    assert Repository.objects.get().active


# --- Commit statuses ----------------------------------------------------------


@pytest.fixture
def enabled(signed_in, fake_gitea):
    fake_gitea.add_repo(f"{LOGIN}/widgets", permission="admin")
    enable(signed_in, f"{LOGIN}/widgets")
    return Repository.objects.get(full_name=f"{LOGIN}/widgets")


def test_a_build_posts_its_statuses_to_gitea(enabled, fake_gitea, settings, django_capture_on_commit_callbacks):
    job = new_job(enabled, django_capture_on_commit_callbacks)
    build_to_success(job, django_capture_on_commit_callbacks)
    rows = list(CommitStatus.objects.order_by("id"))
    assert [r.job_status for r in rows] == ["queued", "running", "success"]
    for row in rows:
        assert post_commit_status(row.pk) == CommitStatus.SENT
    posted = fake_gitea.statuses(f"{LOGIN}/widgets")
    assert [p["state"] for p in posted] == ["pending", "pending", "success"]
    assert posted[-1]["description"] == f"Build #{job.number} passed in 41 s"
    assert all(p["target_url"] == f"{settings.HERALD_BASE_URL}/jobs/{job.pk}/" for p in posted)
    assert all(p["context"] == "herald/push" for p in posted)
    requests_made = fake_gitea.received("POST", f"^/api/v1/repos/{LOGIN}/widgets/statuses/{SHA}$")
    assert len(requests_made) == 3
    assert requests_made[0].headers["Authorization"] == f"Bearer {ForgeAccount.objects.get().token}"


@pytest.mark.parametrize(
    "status,state", [(C.FAILED, "failure"), (C.ERRORED, "error"), (C.CANCELLED, "error"), (C.TIMED_OUT, "failure")]
)
def test_unsuccessful_builds_use_gitea_states(status, state, enabled, fake_gitea, django_capture_on_commit_callbacks):
    job = new_job(enabled, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        job.claim("w")
        job.finish(status, exit_code=2)
    last = CommitStatus.objects.order_by("-id").first()
    assert post_commit_status(last.pk) == CommitStatus.SENT
    assert [p["state"] for p in fake_gitea.statuses()] == [state]


def test_a_status_gitea_refuses_is_recorded_not_retried(enabled, fake_gitea, django_capture_on_commit_callbacks):
    new_job(enabled, django_capture_on_commit_callbacks)
    row = CommitStatus.objects.get()
    fake_gitea.fail("POST", "/statuses/", 403, body=fake_gitea.error("error-not-writer"))
    assert post_commit_status(row.pk) == CommitStatus.FAILED
    row.refresh_from_db()
    assert row.response_code == 403 and "permission to write to a repo" in row.last_error


# --- Revoked or expired tokens ------------------------------------------------


def test_a_revoked_token_asks_the_user_to_sign_in_again(signed_in, fake_gitea):
    fake_gitea.revoke()
    response = signed_in.get("/account/repositories/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    page = html.unescape(signed_in.get(response["Location"]).content.decode())
    assert "Gitea / Forgejo no longer accepts Herald's access for gordon" in page
    assert "Sign in with Gitea" in page
    account = ForgeAccount.objects.get()
    assert account.revoked_at is not None
    assert ForgeEvent.objects.filter(kind="token", ok=False, provider="gitea").exists()
    sign_in(signed_in, fake_gitea)
    assert signed_in.get("/account/repositories/").status_code == 200
    assert ForgeAccount.objects.get().revoked_at is None


def test_a_revoked_token_fails_the_status_post_and_marks_the_account(
    enabled, fake_gitea, django_capture_on_commit_callbacks
):
    new_job(enabled, django_capture_on_commit_callbacks)
    fake_gitea.revoke()
    row = CommitStatus.objects.get()
    assert post_commit_status(row.pk) == CommitStatus.FAILED
    row.refresh_from_db()
    assert row.response_code == 401
    assert ForgeAccount.objects.get().revoked_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        Job.objects.get().claim("w")
    assert post_commit_status(CommitStatus.objects.order_by("-id").first().pk) == CommitStatus.SKIPPED


def test_enabling_with_a_revoked_token_asks_to_sign_in_again(signed_in, fake_gitea):
    fake_gitea.add_repo(f"{LOGIN}/widgets", permission="admin")
    fake_gitea.revoke()
    response = enable(signed_in, f"{LOGIN}/widgets")
    assert "sign in with Gitea / Forgejo again" in response.content.decode()
    assert not Repository.objects.exists() and not fake_gitea.received("POST", "/hooks$")


# --- Permissions follow Gitea -------------------------------------------------


@pytest.fixture
def private_repo(db):
    repo = Repository.objects.create(
        provider="gitea",
        full_name="acme/secret",
        private=True,
        clone_url="https://gitea.example/acme/secret.git",
        forge_id="4242",
        job_counter=1,
    )
    Job.objects.create(repository=repo, number=1, commit="a" * 40, status="failed")
    return repo


def test_pull_access_on_gitea_may_read_but_not_restart(client, fake_gitea, private_repo):
    fake_gitea.add_repo("acme/secret", permission="pull", private=True)
    assert client.get("/repos/acme/secret/").status_code == 404
    sign_in(client, fake_gitea)
    assert Membership.objects.get(repository=private_repo).permission == "pull"
    assert client.get("/repos/acme/secret/").status_code == 200
    assert client.post(f"/api/jobs/{private_repo.jobs.get().pk}/restart").status_code == 403


def test_push_access_on_gitea_may_restart(client, fake_gitea, private_repo):
    fake_gitea.add_repo("acme/secret", permission="push", private=True)
    sign_in(client, fake_gitea)
    assert Membership.objects.get(repository=private_repo).permission == "push"
    assert client.post(f"/api/jobs/{private_repo.jobs.get().pk}/restart").status_code in (200, 201, 202)


def test_a_change_on_gitea_is_picked_up_after_the_cache_period(client, fake_gitea, private_repo, settings):
    settings.HERALD_FORGE_PERMISSION_TTL = 300
    fake_gitea.add_repo("acme/secret", permission="pull", private=True)
    sign_in(client, fake_gitea)
    fake_gitea.repos["acme/secret"].permissions[LOGIN] = "admin"
    Membership.objects.update(refreshed_at="2000-01-01T00:00:00Z")
    cache.clear()
    client.get("/repos/acme/secret/")
    assert Membership.objects.get().permission == "admin"
    asked = len(fake_gitea.received("GET", "^/api/v1/repos/acme/secret$"))
    client.get("/repos/acme/secret/")
    assert len(fake_gitea.received("GET", "^/api/v1/repos/acme/secret$")) == asked  # cached

    # Removed as a collaborator on Gitea: its 404 removes the access in Herald.
    del fake_gitea.repos["acme/secret"].permissions[LOGIN]
    Membership.objects.update(refreshed_at="2000-01-01T00:00:00Z")
    cache.clear()
    assert client.get("/repos/acme/secret/").status_code == 404
    assert not Membership.objects.exists()


def test_a_gitea_that_is_down_keeps_the_last_answer(client, fake_gitea, private_repo):
    fake_gitea.add_repo("acme/secret", permission="pull", private=True)
    sign_in(client, fake_gitea)
    fake_gitea.fail("GET", "^/api/v1/repos/acme/secret$", 503, body=b"Service Unavailable")
    Membership.objects.update(refreshed_at="2000-01-01T00:00:00Z")
    cache.clear()
    assert client.get("/repos/acme/secret/").status_code == 200


# --- Cloning private repositories ---------------------------------------------


def test_git_authenticates_to_gitea_with_the_login_and_token(fake_gitea, django_user_model, tmp_path):
    from builds.errors import CloneError
    from builds.git import fetch_commit
    from tests.oauth.test_clone_auth import GitServer, Log

    server = GitServer()
    try:
        user = django_user_model.objects.create(username=LOGIN)
        token = fake_gitea.issue_token(LOGIN)
        account = ForgeAccount.objects.create(user=user, provider="gitea", uid="7", login=LOGIN, token=token)
        repo = Repository.objects.create(
            provider="gitea",
            full_name="acme/secret",
            private=True,
            clone_url=f"{server.url}/acme/secret.git",
            enabled_by=account,
        )
        log = Log()
        with pytest.raises(CloneError):
            fetch_commit(repo.clone_url, "a" * 40, tmp_path / "ws", log=log, timeout=30, env=repo.clone_env())
        expected = "Basic " + base64.b64encode(f"{LOGIN}:{token}".encode()).decode()
        assert server.seen and all(auth == expected for _, auth in server.seen)
        assert token not in log.text
    finally:
        server.stop()


# --- Expiring tokens ------------------------------------------------------------


def test_an_expired_gitea_token_is_renewed_and_statuses_keep_flowing(
    enabled, fake_gitea, django_capture_on_commit_callbacks
):
    """Gitea's access tokens last an hour: Herald renews the token with the
    refresh token the sign-in gave it, so a build an hour later still shows
    on the commit and nobody is asked to sign in again."""
    before = ForgeAccount.objects.get()
    fake_gitea.revoke(before.token)  # what Gitea does once the hour is over
    ForgeAccount.objects.update(token_expires_at=timezone.now() - timezone.timedelta(minutes=1))
    new_job(enabled, django_capture_on_commit_callbacks)
    assert post_commit_status(CommitStatus.objects.get().pk) == CommitStatus.SENT
    renewal = fake_gitea.received("POST", "^/login/oauth/access_token$")[-1]
    assert renewal.body["grant_type"] == "refresh_token" and "Authorization" not in renewal.headers
    account = ForgeAccount.objects.get()
    assert account.revoked_at is None and account.token != before.token
    assert 3500 < (account.token_expires_at - timezone.now()).total_seconds() <= 3600
    sent = fake_gitea.received("POST", f"^/api/v1/repos/{LOGIN}/widgets/statuses/{SHA}$")[-1]
    assert sent.headers["Authorization"] == f"Bearer {account.token}"


def test_a_used_refresh_token_asks_to_sign_in_again(signed_in, fake_gitea):
    """Gitea takes a refresh token once; when it refuses one, the user is
    asked to sign in again, clearly, and nothing answers 500."""
    account = ForgeAccount.objects.get()
    fake_gitea.revoke(account.token)
    fake_gitea.refresh_tokens.clear()
    ForgeAccount.objects.update(token_expires_at=timezone.now() - timezone.timedelta(minutes=1))
    response = signed_in.get("/account/repositories/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    assert ForgeAccount.objects.get().revoked_at is not None
    assert ForgeEvent.objects.filter(
        provider="gitea", kind="token", ok=False, message__contains="refused to renew"
    ).exists()
