"""GitLab (gitlab.com or self-managed) end to end against the local fake
GitLab (tests/forges/gitlab/fake_server.py): sign-in, "Your repositories",
Enable/Disable, commit statuses, revoked tokens and permissions, as a user
sees them."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.utils import timezone

from builds import constants as C
from builds.models import Job
from forges.gitlab.client import GitLabClient
from repositories.models import CommitStatus, ForgeAccount, ForgeEvent, Membership, Repository
from repositories.tasks import post_commit_status
from tests.forges import oauth_kit as oauth
from tests.forges.forge_kit import aim_push, post
from tests.forges.gitlab.fake_server import DEVELOPER, GUEST, MAINTAINER, OWNER, REPORTER, FakeGitLab
from tests.forges.oauth_kit import SHA, build_to_success, follow_forge, new_job


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def fake_gitlab(settings):
    fake = FakeGitLab().start()
    fake.configure(settings)
    yield fake
    fake.stop()


def start_sign_in(client):
    return oauth.start_sign_in(client, provider="gitlab")


def sign_in(client, fake, username="john_smith"):
    return oauth.sign_in(client, fake, username, provider="gitlab")


@pytest.fixture
def signed_in(client, fake_gitlab, db):
    response = sign_in(client, fake_gitlab)
    assert response.status_code == 302, response.content[:1000]
    return client


def messages_of(response):
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def enable(client, path):
    return client.post("/account/repositories/gitlab/enable", {"full_name": path}, follow=True)


def encoded(path):
    return FakeGitLab.encoded(path)


# --- sign-in -------------------------------------------------------------------


def test_the_gitlab_button_shows_only_when_configured(client, fake_gitlab, settings, db):
    settings.HERALD_GITHUB_CLIENT_ID = ""
    page = client.get("/login/").content.decode()
    assert "Sign in with GitLab" in page and "Sign in with GitHub" not in page

    settings.HERALD_GITLAB_CLIENT_SECRET = ""
    assert "Sign in with GitLab" not in client.get("/login/").content.decode()
    assert client.post("/accounts/gitlab/login/", {"process": "login"}).status_code == 404


def test_it_admits_members_of_a_gitlab_group_by_full_path(client, fake_gitlab, settings, db):
    # The sign-in gate every forge has is tested in tests/oauth/test_signin_gate.py;
    # on GitLab an organisation is a group, named by its full path.
    settings.HERALD_OPEN = False
    settings.HERALD_ORGS = [("gitlab", "acme/platform")]
    fake_gitlab.add_member("acme", "john_smith")
    refused = sign_in(client, fake_gitlab)
    assert refused.status_code == 403 and "GitLab group" in refused.content.decode()

    fake_gitlab.add_member("acme/platform", "john_smith")
    assert sign_in(client, fake_gitlab).status_code == 302
    assert client.get("/").wsgi_request.user.username == "john_smith"
    assert fake_gitlab.received("GET", "^/api/v4/groups$")[-1].query["min_access_level"] == "10"


def test_it_sends_the_browser_to_the_configured_gitlab_with_a_state(client, fake_gitlab, db):
    authorize = urlsplit(start_sign_in(client))
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{fake_gitlab.url}/oauth/authorize"
    query = parse_qs(authorize.query)
    assert query["client_id"] == [fake_gitlab.client_id]
    assert query["redirect_uri"] == ["http://testserver/accounts/gitlab/login/callback/"]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["api"]  # hooks and commit statuses need the api scope
    assert len(query["state"][0]) >= 12


def test_signing_in_creates_the_account_and_keeps_the_token(client, fake_gitlab, db):
    fake_gitlab.add_project("acme/widgets", access_level=MAINTAINER)
    response = sign_in(client, fake_gitlab)
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="john_smith")
    assert client.get("/").context["user"] == user
    account = ForgeAccount.objects.get(user=user, provider="gitlab")
    assert account.login == "john_smith" and account.uid == str(fake_gitlab.users["john_smith"])
    record = fake_gitlab.tokens[account.token]
    assert record.username == "john_smith" and record.scopes == {"api"}
    # GitLab's OAuth tokens last two hours and come with a refresh token.
    assert account.refresh_token == record.refresh_token
    left = (account.token_expires_at - timezone.now()).total_seconds()
    assert 7000 < left <= 7200
    exchange = fake_gitlab.received("POST", "^/oauth/token$")[-1].body
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["redirect_uri"] == "http://testserver/accounts/gitlab/login/callback/"
    # The profile read sent the token in a header, never in the URL.
    profile = fake_gitlab.received("GET", "^/api/v4/user$")[-1]
    assert profile.headers["Authorization"] == f"Bearer {account.token}"
    assert "access_token" not in profile.query
    # Memberships were refreshed right away from the project list.
    assert fake_gitlab.received("GET", "^/api/v4/projects$")


def test_signing_in_again_keeps_one_user_with_the_new_token(client, fake_gitlab, db):
    sign_in(client, fake_gitlab)
    first = ForgeAccount.objects.get().token
    client.logout()
    sign_in(client, fake_gitlab)
    assert User.objects.filter(username="john_smith").count() == 1
    account = ForgeAccount.objects.get()
    assert account.token != first and account.revoked_at is None


def test_a_state_that_does_not_match_is_refused_clearly(client, fake_gitlab, db):
    callback = follow_forge(start_sign_in(client))
    response = client.get(callback.replace("state=", "state=x"))
    assert response.status_code == 401
    assert "did not match" in response.content.decode()
    assert not User.objects.filter(username="john_smith").exists()
    assert not ForgeAccount.objects.exists()
    assert not fake_gitlab.received("POST", "^/oauth/token$")  # the code was never exchanged
    event = ForgeEvent.objects.get(kind="signin")
    assert event.provider == "gitlab" and not event.ok and "state" in event.message


def test_denying_access_on_gitlab_says_sign_in_cancelled(client, fake_gitlab, db):
    fake_gitlab.authorize_error = "access_denied"
    response = client.get(follow_forge(start_sign_in(client)), follow=True)
    assert response.status_code == 200
    assert "Sign-in cancelled" in response.content.decode()
    assert not User.objects.filter(username="john_smith").exists()


def test_an_application_registered_without_the_api_scope_is_explained(client, fake_gitlab, db):
    fake_gitlab.app_scopes = {"read_user"}  # the admin forgot to tick "api" on GitLab
    response = client.get(follow_forge(start_sign_in(client)))
    assert response.status_code == 401
    page = response.content.decode()
    assert "invalid_scope" in page and "The requested scope is invalid" in page
    assert ForgeEvent.objects.filter(
        provider="gitlab", kind="signin", ok=False, message__contains="invalid_scope"
    ).exists()
    assert not ForgeAccount.objects.exists()


def test_a_refused_code_exchange_fails_cleanly(client, fake_gitlab, db):
    callback = follow_forge(start_sign_in(client))
    fake_gitlab.codes.clear()  # the code expired on GitLab (it lives ten minutes)
    response = client.get(callback)
    assert response.status_code == 401
    page = response.content.decode()
    assert "did not complete" in page and "invalid_grant" in page, page
    assert not ForgeAccount.objects.exists()
    assert ForgeEvent.objects.filter(provider="gitlab", kind="signin", ok=False).exists()


# --- Your repositories ---------------------------------------------------------------


def test_it_lists_every_page_of_projects_with_the_access_gitlab_grants(signed_in, fake_gitlab):
    levels = [GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER]
    for i in range(105):
        fake_gitlab.add_project(f"john_smith/repo-{i:03}", access_level=levels[i % 5], visibility="public")
    fake_gitlab.add_project("acme-org/private-tool", access_level=REPORTER, via="group")
    fake_gitlab.add_project("acme-org/ops", access_level=OWNER, via="group")
    fake_gitlab.add_project("acme-org/secret-guest", access_level=GUEST)
    fake_gitlab.add_project("someone/else", access_level=None, visibility="public")  # not a member
    response = signed_in.get("/account/repositories/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "john_smith/repo-000" in page and "john_smith/repo-104" in page and "acme-org/private-tool" in page
    assert "someone/else" not in page  # only the user's memberships
    rows = {r["forge"].full_name: r["forge"] for r in response.context["sections"][0]["rows"]}
    assert len(rows) == 108
    assert [rows[f"john_smith/repo-00{i}"].permission for i in range(5)] == ["pull", "pull", "push", "admin", "admin"]
    assert rows["acme-org/private-tool"].permission == "pull" and rows["acme-org/private-tool"].private
    assert rows["acme-org/ops"].permission == "admin"  # Owner through the group
    assert rows["acme-org/secret-guest"].permission is None  # a Guest may not read private code
    assert not rows["john_smith/repo-000"].private
    # Two pages of 100, following GitLab's Link header.
    pages = fake_gitlab.received("GET", "^/api/v4/projects$")
    assert [(r.query.get("page"), r.query.get("membership")) for r in pages[-2:]] == [(None, "true"), ("2", "true")]


def test_it_enables_a_project_with_a_gitlab_hook(signed_in, fake_gitlab, settings):
    project = fake_gitlab.add_project(
        "acme/widgets", access_level=MAINTAINER, http_url_to_repo="https://gitlab.example/acme/widgets.git"
    )
    response = enable(signed_in, "acme/widgets")
    assert "acme/widgets is enabled" in messages_of(response)
    repo = Repository.objects.get(full_name="acme/widgets")
    assert repo.active and repo.provider == "gitlab" and repo.private
    assert repo.clone_url == "https://gitlab.example/acme/widgets.git"
    assert repo.html_url == f"{fake_gitlab.url}/acme/widgets" and repo.forge_id == str(project.id)
    [hook] = fake_gitlab.hooks_of("acme/widgets")
    assert repo.hook_id == str(hook["id"])
    assert hook["url"] == f"{settings.HERALD_BASE_URL}/webhooks/gitlab/"
    assert hook["push_events"] and hook["tag_push_events"] and hook["merge_requests_events"]
    assert not hook["issues_events"] and not hook["note_events"] and not hook["pipeline_events"]
    # GitLab sends the token back in X-Gitlab-Token with each delivery.
    assert fake_gitlab.hook_token("acme/widgets") == repo.webhook_secret and len(repo.webhook_secret) >= 32
    # The project was addressed by its URL-encoded path.
    assert fake_gitlab.received("POST", rf"^/api/v4/projects/{encoded('acme/widgets')}/hooks$")
    assert repo.enabled_by.login == "john_smith"
    assert Membership.objects.get(repository=repo).permission == "admin"
    assert "Disable" in signed_in.get("/account/repositories/").content.decode()
    assert ForgeEvent.objects.filter(
        provider="gitlab", kind="hook", ok=True, message__contains="acme/widgets enabled"
    ).exists()


def test_an_owner_through_a_group_enables_a_subgroup_project(signed_in, fake_gitlab):
    fake_gitlab.add_project("acme/platform/api", access_level=OWNER, via="group")
    assert "acme/platform/api is enabled" in messages_of(enable(signed_in, "acme/platform/api"))
    assert fake_gitlab.received("POST", r"^/api/v4/projects/acme%2Fplatform%2Fapi/hooks$")
    assert len(fake_gitlab.hooks_of("acme/platform/api")) == 1
    assert signed_in.get("/repos/acme/platform/api/").status_code == 200


def test_the_hook_gitlab_received_is_accepted_by_herald(signed_in, fake_gitlab, client):
    fake_gitlab.add_project("acme/widgets", access_level=MAINTAINER)
    enable(signed_in, "acme/widgets")
    token = fake_gitlab.hook_token("acme/widgets")
    payload = aim_push("gitlab", "push__several_commits", "acme/widgets", SHA, ref="refs/heads/main")
    # 404: a wrong token for a private repository is answered like an
    # unknown repository (issue 10, section 4), 401/403 for a public one.
    assert post(client, "gitlab", payload, "Push Hook", secret="not-the-token").status_code in (401, 403, 404)
    assert not Job.objects.exists()
    response = post(client, "gitlab", payload, "Push Hook", secret=token)
    assert response.status_code in (200, 201, 202), response.content
    job = Job.objects.get()
    assert job.repository.full_name == "acme/widgets" and job.commit == SHA


def test_a_developer_is_told_enabling_needs_maintainer_rights(signed_in, fake_gitlab):
    fake_gitlab.add_project("acme/app", access_level=DEVELOPER)
    text = messages_of(enable(signed_in, "acme/app"))
    assert "You need admin rights on acme/app" in text and "push access" in text
    assert not Repository.objects.filter(full_name="acme/app").exists()
    assert not fake_gitlab.received("POST", "/hooks$")


def test_a_project_gitlab_does_not_show_is_reported(signed_in, fake_gitlab):
    fake_gitlab.add_project("acme/hidden", access_level=None)  # private, not a member: 404 Project Not Found
    text = messages_of(enable(signed_in, "acme/hidden"))
    assert "Could not enable acme/hidden" in text and "404 Project Not Found" in text
    assert not Repository.objects.exists()


def test_a_webhook_url_gitlab_refuses_is_explained(signed_in, fake_gitlab):
    fake_gitlab.allow_local_network = False  # gitlab.com and a default self-managed GitLab
    fake_gitlab.add_project("acme/app", access_level=MAINTAINER)
    text = messages_of(enable(signed_in, "acme/app"))
    assert "GitLab refused to create the webhook" in text and "Invalid url given" in text
    assert "Outbound requests" in text and "HERALD_BASE_URL" in text
    assert not Repository.objects.filter(full_name="acme/app").exists()


def test_disable_deletes_the_hook_and_keeps_the_history(signed_in, fake_gitlab):
    fake_gitlab.add_project("acme/widgets", access_level=MAINTAINER)
    enable(signed_in, "acme/widgets")
    repo = Repository.objects.get()
    Job.objects.create(repository=repo, number=1, commit="a" * 40)
    response = signed_in.post("/account/repositories/gitlab/disable", {"full_name": "acme/widgets"}, follow=True)
    assert "acme/widgets is disabled; its build history stays" in messages_of(response)
    repo.refresh_from_db()
    assert not repo.active and repo.hook_id == ""
    assert fake_gitlab.hooks_of("acme/widgets") == []
    assert fake_gitlab.received("DELETE", r"^/api/v4/projects/acme%2Fwidgets/hooks/\d+$")
    assert Job.objects.filter(repository=repo).count() == 1


def test_re_enabling_replaces_the_old_hook(signed_in, fake_gitlab):
    fake_gitlab.add_project("acme/widgets", access_level=MAINTAINER)
    enable(signed_in, "acme/widgets")
    old = Repository.objects.get()
    assert "is enabled" in messages_of(enable(signed_in, "acme/widgets"))
    repo = Repository.objects.get()
    [hook] = fake_gitlab.hooks_of("acme/widgets")
    assert repo.pk == old.pk and repo.hook_id == str(hook["id"]) != old.hook_id
    assert fake_gitlab.hook_token("acme/widgets") == repo.webhook_secret != old.webhook_secret


# --- commit statuses -------------------------------------------------------------------


@pytest.fixture
def enabled(signed_in, fake_gitlab):
    fake_gitlab.add_project("acme/widgets", access_level=MAINTAINER)
    enable(signed_in, "acme/widgets")
    return Repository.objects.get(full_name="acme/widgets")


def post_all():
    return [post_commit_status(row.pk) for row in CommitStatus.objects.order_by("id")]


def test_a_build_posts_pending_running_success_with_gitlab_names(
    enabled, fake_gitlab, settings, django_capture_on_commit_callbacks
):
    job = new_job(enabled, django_capture_on_commit_callbacks)
    build_to_success(job, django_capture_on_commit_callbacks)
    assert post_all() == [CommitStatus.SENT] * 3
    posted = fake_gitlab.statuses("acme/widgets")
    assert [p["state"] for p in posted] == ["pending", "running", "success"]
    assert posted[-1]["description"] == f"Build #{job.number} passed in 41 s"
    assert all(p["target_url"] == f"{settings.HERALD_BASE_URL}/jobs/{job.pk}/" for p in posted)
    assert all(p["name"] == "herald/push" for p in posted)
    request = fake_gitlab.received("POST", rf"^/api/v4/projects/acme%2Fwidgets/statuses/{SHA}$")[0]
    assert request.headers["Authorization"] == f"Bearer {ForgeAccount.objects.get().token}"


@pytest.mark.parametrize(
    "status,state",
    [
        (C.FAILED, "failed"),
        (C.TIMED_OUT, "failed"),
        (C.ERRORED, "failed"),
        (C.CANCELLED, "canceled"),
    ],
)
def test_finished_builds_use_gitlabs_state_names(
    enabled, fake_gitlab, status, state, django_capture_on_commit_callbacks
):
    job = new_job(enabled, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        job.claim("w")
        job.finish(status, exit_code=2 if status == C.FAILED else None, reason="stopped")
    assert post_all() == [CommitStatus.SENT] * 3
    assert [p["state"] for p in fake_gitlab.statuses("acme/widgets")] == ["pending", "running", state]


def test_a_cancelled_queued_build_shows_canceled(enabled, fake_gitlab, django_capture_on_commit_callbacks):
    job = new_job(enabled, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert job.request_cancel()
    assert post_all() == [CommitStatus.SENT] * 2
    assert [p["state"] for p in fake_gitlab.statuses("acme/widgets")] == ["pending", "canceled"]


def test_a_status_gitlab_already_shows_is_not_a_failure(enabled, fake_gitlab, django_capture_on_commit_callbacks):
    """A post whose answer was lost reached GitLab; the retry is refused with
    "Cannot transition status via :enqueue from :pending"."""
    new_job(enabled, django_capture_on_commit_callbacks)
    row = CommitStatus.objects.get()
    GitLabClient(ForgeAccount.objects.get().token).post_status(
        "acme/widgets", SHA, row.state, row.description, row.target_url, row.context
    )
    assert post_commit_status(row.pk) == CommitStatus.SENT
    row.refresh_from_db()
    assert row.outcome == CommitStatus.SENT and row.last_error == ""
    retry = fake_gitlab.received("POST", "/statuses/")[-1]
    assert retry.answered == 400  # what GitLab said; Herald knows it means "already so"


def test_a_real_refusal_still_fails_the_post(enabled, fake_gitlab, django_capture_on_commit_callbacks):
    new_job(enabled, django_capture_on_commit_callbacks)
    fake_gitlab.fail("POST", "/statuses/", 404, body={"message": "404 References for commit Not Found"})
    assert post_commit_status(CommitStatus.objects.get().pk) == CommitStatus.FAILED
    assert "References for commit" in CommitStatus.objects.get().last_error


def test_a_developer_token_may_post_but_a_reporter_token_may_not(fake_gitlab, db):
    fake_gitlab.add_project("acme/widgets", access_level=DEVELOPER, username="dev")
    fake_gitlab.add_project("acme/widgets", access_level=REPORTER, username="reporter")
    GitLabClient(fake_gitlab.issue_token("dev")).post_status("acme/widgets", SHA, "success", "ok", "http://x/", "c")
    from forges.client import Refused

    with pytest.raises(Refused) as e:
        GitLabClient(fake_gitlab.issue_token("reporter")).post_status(
            "acme/widgets", SHA, "success", "ok", "http://x/", "c"
        )
    assert e.value.status == 403 and "403 Forbidden" in e.value.message


# --- revoked and expired tokens ---------------------------------------------------------


def test_a_revoked_token_fails_the_status_and_asks_to_sign_in_again(
    enabled, fake_gitlab, signed_in, django_capture_on_commit_callbacks
):
    new_job(enabled, django_capture_on_commit_callbacks)
    fake_gitlab.revoke()  # revoked in GitLab: Preferences > Applications
    assert post_commit_status(CommitStatus.objects.get().pk) == CommitStatus.FAILED
    row = CommitStatus.objects.get()
    assert row.response_code == 401 and "Token was revoked" in row.last_error
    account = ForgeAccount.objects.get()
    assert account.revoked_at is not None
    assert ForgeEvent.objects.filter(provider="gitlab", kind="token", ok=False).exists()
    # Later statuses are skipped rather than sent with a dead token.
    with django_capture_on_commit_callbacks(execute=True):
        Job.objects.get().claim("w")
    assert post_commit_status(CommitStatus.objects.order_by("-id").first().pk) == CommitStatus.SKIPPED
    # The user is asked, in words, to sign in with GitLab again; doing so restores access.
    page = signed_in.get("/account/repositories/").content.decode()
    assert "GitLab no longer accepts Herald" in page and "sign in again" in page and "Sign in with GitLab" in page
    sign_in(signed_in, fake_gitlab)
    assert ForgeAccount.objects.get().revoked_at is None
    assert signed_in.get("/account/repositories/").status_code == 200


def test_a_token_revoked_before_a_page_load_redirects_to_sign_in(signed_in, fake_gitlab):
    fake_gitlab.revoke()
    response = signed_in.get("/account/repositories/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    page = signed_in.get(response["Location"]).content.decode()
    assert "sign in with GitLab again" in page and "Sign in with GitLab" in page
    assert ForgeAccount.objects.get().revoked_at is not None


def expire_now(fake):
    """Two hours later: GitLab refuses the token, and Herald knows its expiry has come."""
    fake.expire()
    ForgeAccount.objects.update(token_expires_at=timezone.now() - timezone.timedelta(minutes=1))


def test_an_expired_token_is_renewed_and_enabling_just_works(signed_in, fake_gitlab):
    """GitLab's OAuth tokens expire after two hours: Herald renews the token
    with the refresh token the sign-in gave it, instead of sending the user
    to sign in again."""
    fake_gitlab.add_project("acme/app", access_level=MAINTAINER)
    before = ForgeAccount.objects.get()
    expire_now(fake_gitlab)
    response = enable(signed_in, "acme/app")
    assert Repository.objects.get(full_name="acme/app").hook_id, messages_of(response)
    renewal = fake_gitlab.received("POST", r"^/oauth/token$")[-1]
    assert renewal.body["grant_type"] == "refresh_token" and renewal.body["refresh_token"] == before.refresh_token
    account = ForgeAccount.objects.get()
    assert account.revoked_at is None
    assert account.token != before.token and account.refresh_token != before.refresh_token
    assert 7000 < (account.token_expires_at - timezone.now()).total_seconds() <= 7200
    hook = fake_gitlab.received("POST", r"^/api/v4/projects/acme%2Fapp/hooks$")[-1]
    assert hook.headers["Authorization"] == f"Bearer {account.token}"


def test_commit_statuses_keep_flowing_after_the_token_expires(enabled, fake_gitlab, django_capture_on_commit_callbacks):
    expire_now(fake_gitlab)
    new_job(enabled, django_capture_on_commit_callbacks)
    assert post_commit_status(CommitStatus.objects.get().pk) == CommitStatus.SENT
    assert [p["state"] for p in fake_gitlab.statuses("acme/widgets")] == ["pending"]
    assert ForgeAccount.objects.get().revoked_at is None


def test_a_token_gitlab_calls_expired_early_is_renewed_too(signed_in, fake_gitlab):
    """Herald's clock says the token has an hour left, GitLab says it has
    expired (clocks apart, or a shorter expiry configured on GitLab): the
    401 makes Herald renew once and retry, and the user sees no difference."""
    fake_gitlab.add_project("acme/app", access_level=MAINTAINER)
    before = ForgeAccount.objects.get()
    assert (before.token_expires_at - timezone.now()).total_seconds() > 3600
    fake_gitlab.expire()
    response = enable(signed_in, "acme/app")
    assert Repository.objects.get(full_name="acme/app").hook_id, messages_of(response)
    assert len(fake_gitlab.received("POST", r"^/oauth/token$")) == 2  # the sign-in, then one renewal
    account = ForgeAccount.objects.get()
    assert account.revoked_at is None and account.token != before.token


def test_a_refused_renewal_asks_to_sign_in_again(signed_in, fake_gitlab):
    """The refresh token was revoked too (the user removed Herald in GitLab's
    Preferences > Applications): sign in again, clearly, no 500."""
    fake_gitlab.add_project("acme/app", access_level=MAINTAINER)
    fake_gitlab.revoke()
    ForgeAccount.objects.update(token_expires_at=timezone.now() - timezone.timedelta(minutes=1))
    response = enable(signed_in, "acme/app")
    assert response.redirect_chain[-1][0].startswith("/login/?next=")
    assert "sign in with GitLab again" in messages_of(response)
    assert not Repository.objects.exists()
    assert ForgeAccount.objects.get().revoked_at is not None
    assert ForgeEvent.objects.filter(
        provider="gitlab", kind="token", ok=False, message__contains="refused to renew"
    ).exists()


# --- permissions --------------------------------------------------------------------------


@pytest.fixture
def private_repo(db):
    repo = Repository.objects.create(
        full_name="acme/secret",
        provider="gitlab",
        private=True,
        forge_id="4242",
        clone_url="https://gitlab.example/acme/secret.git",
        job_counter=1,
    )
    Job.objects.create(repository=repo, number=1, commit="a" * 40, status="failed")
    return repo


@pytest.mark.parametrize(
    "level,permission,can_read,can_restart",
    [
        (GUEST, None, False, False),
        (REPORTER, "pull", True, False),
        (DEVELOPER, "push", True, True),
        (MAINTAINER, "admin", True, True),
        (OWNER, "admin", True, True),
    ],
)
def test_access_follows_gitlab_access_levels(
    client, fake_gitlab, private_repo, level, permission, can_read, can_restart
):
    fake_gitlab.add_project("acme/secret", access_level=level)
    assert client.get("/repos/acme/secret/").status_code == 404
    sign_in(client, fake_gitlab)
    membership = Membership.objects.filter(repository=private_repo).first()
    assert (membership.permission if membership else None) == permission
    assert client.get("/repos/acme/secret/").status_code == (200 if can_read else 404)
    job = private_repo.jobs.get()
    restart = client.post(f"/api/jobs/{job.pk}/restart").status_code
    assert (restart in (200, 201, 202)) if can_restart else restart in (403, 404)


def test_a_role_change_on_gitlab_is_picked_up_after_the_cache_period(client, fake_gitlab, private_repo):
    project = fake_gitlab.add_project("acme/secret", access_level=REPORTER)
    sign_in(client, fake_gitlab)
    assert Membership.objects.get().permission == "pull"
    project.members["john_smith"] = (MAINTAINER, "project")
    Membership.objects.update(refreshed_at="2000-01-01T00:00:00Z")
    cache.clear()
    client.get("/repos/acme/secret/")
    assert Membership.objects.get().permission == "admin"
    assert fake_gitlab.received("GET", r"^/api/v4/projects/acme%2Fsecret$")


def test_removal_from_the_project_on_gitlab_removes_access(client, fake_gitlab, private_repo):
    project = fake_gitlab.add_project("acme/secret", access_level=DEVELOPER)
    sign_in(client, fake_gitlab)
    assert client.get("/repos/acme/secret/").status_code == 200
    del project.members["john_smith"]  # GitLab now answers 404 Project Not Found
    Membership.objects.update(refreshed_at="2000-01-01T00:00:00Z")
    cache.clear()
    assert client.get("/repos/acme/secret/").status_code == 404
    assert not Membership.objects.exists()


def test_private_projects_clone_with_the_oauth2_user(fake_gitlab, django_user_model):
    import base64

    user = django_user_model.objects.create(username="john_smith")
    account = ForgeAccount.objects.create(
        user=user, provider="gitlab", uid="1", login="john_smith", token="gitlab-oauth-token"
    )
    repo = Repository.objects.create(
        full_name="acme/secret",
        provider="gitlab",
        private=True,
        enabled_by=account,
        clone_url="https://gitlab.example/acme/secret.git",
    )
    env = repo.clone_env()
    assert env["GIT_CONFIG_KEY_0"] == "http.https://gitlab.example/.extraHeader"
    assert (
        env["GIT_CONFIG_VALUE_0"] == "Authorization: Basic " + base64.b64encode(b"oauth2:gitlab-oauth-token").decode()
    )
    assert "gitlab-oauth-token" not in repo.clone_url
