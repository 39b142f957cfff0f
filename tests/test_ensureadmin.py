"""manage.py ensureadmin: the first admin, from DJANGO_SUPERUSER_* (Docker
Compose) or with a generated password printed once (make run)."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command


@pytest.fixture
def run(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path

    def run():
        out = io.StringIO()
        call_command("ensureadmin", stdout=out)
        return out.getvalue()

    return run


def test_it_creates_the_admin_from_the_password_file_and_prints_no_password(run, client, monkeypatch, tmp_path):
    secret = tmp_path / "secrets" / "admin_password"
    secret.parent.mkdir()
    secret.write_text("correct-horse-battery\n")
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD_FILE", str(secret))
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)

    out = run()

    assert "'ops'" in out and "DJANGO_SUPERUSER_PASSWORD_FILE" in out
    assert "correct-horse-battery" not in out
    admin = User.objects.get(username="ops")
    assert admin.is_superuser and admin.is_staff and admin.email == "ops@example.com"
    assert client.post("/login/", {"username": "ops", "password": "correct-horse-battery"}).status_code == 302
    assert run() == ""  # a superuser exists: nothing more
    assert User.objects.count() == 1


def test_it_takes_the_password_from_the_environment(run, client, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root-ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "from-the-env-123")
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD_FILE", raising=False)
    out = run()
    assert "from-the-env-123" not in out and "from DJANGO_SUPERUSER_PASSWORD." in out
    assert client.post("/login/", {"username": "root-ops", "password": "from-the-env-123"}).status_code == 302


def test_without_a_password_it_generates_one_for_the_named_user(run, client, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ada")
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD_FILE", raising=False)
    out = run()
    password = out.split("ada / ", 1)[1].split()[0]
    assert client.post("/login/", {"username": "ada", "password": password}).status_code == 302


def test_an_unreadable_password_file_is_a_clear_error(run, monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_PASSWORD_FILE: cannot read"):
        run()
    assert not User.objects.exists()


def test_an_ordinary_account_of_that_name_is_not_promoted(run, monkeypatch):
    User.objects.create_user("ops", password="theirs")
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "ours-123456")
    with pytest.raises(CommandError, match="'ops' exists and is not a superuser"):
        run()
    ops = User.objects.get(username="ops")
    assert not ops.is_superuser and ops.check_password("theirs")
