"""The admin pages and the management commands an operator uses."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from repositories.models import ApiToken, Repository, Secret


@pytest.fixture
def staff_client(client, db):
    client.force_login(User.objects.create_superuser("admin", password="pw"))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/repositories/repository/",
        "/admin/repositories/repository/add/",
        "/admin/builds/job/",
        "/admin/builds/logchunk/",
        "/admin/builds/worker/",
        "/admin/webhooks/delivery/",
        "/admin/repositories/apitoken/",
        "/admin/repositories/membership/",
    ],
)
def test_admin_pages_open(staff_client, url):
    assert staff_client.get(url).status_code == 200


def test_adding_a_repository_in_the_admin_shows_its_secret_once(staff_client):
    r = staff_client.post(
        "/admin/repositories/repository/add/",
        {
            "provider": "github",
            "full_name": "acme/widgets",
            "clone_url": "https://github.com/acme/widgets.git",
            "default_branch": "main",
            "active": "on",
            "build_timeout": 60,
            "max_concurrency": 0,
            "secrets-TOTAL_FORMS": 0,
            "secrets-INITIAL_FORMS": 0,
            "memberships-TOTAL_FORMS": 0,
            "memberships-INITIAL_FORMS": 0,
        },
        follow=True,
    )
    repo = Repository.objects.get()
    assert repo.webhook_secret and repo.webhook_secret in r.content.decode()
    page = staff_client.get(f"/admin/repositories/repository/{repo.pk}/change/").content.decode()
    assert repo.webhook_secret not in page


def test_the_admin_refuses_a_dangerous_clone_url(staff_client, settings):
    settings.HERALD_ALLOW_LOCAL_CLONES = False
    r = staff_client.post(
        "/admin/repositories/repository/add/",
        {
            "provider": "github",
            "full_name": "acme/widgets",
            "clone_url": "ext::sh%20-c%20evil",
            "default_branch": "main",
            "build_timeout": 60,
            "max_concurrency": 0,
            "secrets-TOTAL_FORMS": 0,
            "secrets-INITIAL_FORMS": 0,
            "memberships-TOTAL_FORMS": 0,
            "memberships-INITIAL_FORMS": 0,
        },
    )
    assert r.status_code == 200 and "Remote-helper URLs" in r.content.decode()
    assert not Repository.objects.exists()


def test_addrepo_creates_then_updates_and_prints_url_and_secret(db, settings):
    out = io.StringIO()
    call_command("addrepo", "acme/widgets", "--clone-url", "https://github.com/acme/widgets.git", stdout=out)
    repo = Repository.objects.get()
    text = out.getvalue()
    assert f"{settings.HERALD_BASE_URL}/webhooks/github/" in text and repo.webhook_secret in text
    out = io.StringIO()
    call_command("addrepo", "acme/widgets", "--clone-url", "https://example.com/w.git", "--secret", "given", stdout=out)
    repo.refresh_from_db()
    assert Repository.objects.count() == 1
    assert (repo.clone_url, repo.webhook_secret) == ("https://example.com/w.git", "given")


def test_addrepo_refuses_bad_input(db, settings):
    settings.HERALD_ALLOW_LOCAL_CLONES = False
    with pytest.raises(CommandError, match="clone_url"):
        call_command("addrepo", "acme/widgets", "--clone-url", "/etc")
    with pytest.raises(CommandError, match="full_name"):
        call_command("addrepo", "not a name", "--clone-url", "https://example.com/x.git")


def test_the_webhook_secret_is_encrypted_at_rest(db):
    call_command(
        "addrepo",
        "acme/widgets",
        "--clone-url",
        "https://example.com/w.git",
        "--secret",
        "plain-secret",
        stdout=io.StringIO(),
    )
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT webhook_secret FROM repositories_repository")
        stored = c.fetchone()[0]
    assert "plain-secret" not in stored
    assert Repository.objects.get().webhook_secret == "plain-secret"


def test_createtoken_prints_a_working_token(client, db):
    User.objects.create_user("ada")
    out = io.StringIO()
    call_command("createtoken", "ada", stdout=out)
    token = out.getvalue().strip()
    assert ApiToken.objects.get().digest == ApiToken.hash(token)
    assert client.get("/api/jobs/1/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404
    with pytest.raises(CommandError):
        call_command("createtoken", "nobody")


def test_setsecret_reads_stdin(db, monkeypatch):
    call_command("addrepo", "acme/widgets", "--clone-url", "https://example.com/w.git", stdout=io.StringIO())
    monkeypatch.setattr("sys.stdin", io.StringIO("tok-123\n"))
    call_command("setsecret", "acme/widgets", "CODECOV_TOKEN", stdout=io.StringIO())
    assert Secret.objects.get().value == "tok-123"
    with pytest.raises(CommandError):
        call_command("setsecret", "acme/widgets", "1BAD")


def test_createtoken_can_make_an_expiring_read_only_token(client, db):
    from django.utils import timezone

    User.objects.create_user("ada")
    out, err = io.StringIO(), io.StringIO()
    call_command("createtoken", "ada", "--expires-days", "7", "--read-only", stdout=out, stderr=err)
    token = out.getvalue().strip()
    row = ApiToken.objects.get(digest=ApiToken.hash(token))
    assert row.read_only
    assert timezone.timedelta(days=6, hours=23) < row.expires_at - timezone.now() <= timezone.timedelta(days=7)
    assert "read-only" in err.getvalue() and "expires" in err.getvalue()
    assert token not in err.getvalue()
    r = client.post("/api/jobs/1/cancel", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 403
    with pytest.raises(CommandError, match="at least 1"):
        call_command("createtoken", "ada", "--expires-days", "0")


def test_ensureadmin_prints_the_password_once_and_keeps_no_copy(client, db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    out = io.StringIO()
    call_command("ensureadmin", stdout=out)
    text = out.getvalue()
    assert "changepassword admin" in text
    password = text.split("admin / ", 1)[1].split()[0]
    assert client.post("/login/", {"username": "admin", "password": password}).status_code == 302
    assert not any(password in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())

    again = io.StringIO()
    call_command("ensureadmin", stdout=again)
    assert password not in again.getvalue()


def test_ensureadmin_removes_the_password_file_older_versions_left(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    User.objects.create_superuser("admin", password="old-plain-pw")
    (tmp_path / "admin_password").write_text("old-plain-pw\n")
    out = io.StringIO()
    call_command("ensureadmin", stdout=out)
    assert not (tmp_path / "admin_password").exists()
    assert "Removed" in out.getvalue() and "old-plain-pw" not in out.getvalue()
    assert User.objects.get(username="admin").check_password("old-plain-pw")
