"""Private repositories are cloned with the enabling account's token, sent
as an HTTP header scoped to the forge's host: never in a URL or the log. On
every forge with sign-in, with the user name it expects (each kit's OAUTH)."""

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import forges
from builds.errors import CloneError
from builds.git import fetch_commit
from repositories.models import ForgeAccount, Repository
from tests.forges.forge_kit import OAUTH

SIGN_IN_FORGES = [forge.id for forge in forges.every() if forge.oauth_provider]


class GitServer:
    """Records what git sends; answers 404 (we only care about the request)."""

    def __init__(self):
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append((self.path, self.headers.get("Authorization")))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Log:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s


@pytest.fixture
def git_server():
    server = GitServer()
    yield server
    server.stop()


def make(db_user, private, clone_url, provider="github"):
    account = ForgeAccount.objects.create(
        user=db_user, provider=provider, uid="1", login="octocat", token="gho_secret_token_123"
    )
    return Repository.objects.create(
        full_name="acme/secret", clone_url=clone_url, private=private, enabled_by=account, provider=provider
    )


@pytest.mark.parametrize("forge", SIGN_IN_FORGES)
def test_git_sends_the_token_as_a_header_and_never_logs_it(git_server, django_user_model, tmp_path, forge):
    user = django_user_model.objects.create(username="octocat")
    repo = make(user, True, f"{git_server.url}/acme/secret.git", provider=forge)
    log = Log()
    with pytest.raises(CloneError) as e:
        fetch_commit(repo.clone_url, "a" * 40, tmp_path / "ws", log=log, timeout=30, env=repo.clone_env())
    # GitHub: x-access-token, Gitea: the login, GitLab: oauth2.
    user_name = OAUTH[forge].clone_user("octocat")
    expected = "Basic " + base64.b64encode(f"{user_name}:gho_secret_token_123".encode()).decode()
    assert git_server.seen and all(auth == expected for _, auth in git_server.seen)
    assert "gho_secret_token_123" not in log.text and "gho_secret_token_123" not in str(e.value)
    assert "gho_secret_token_123" not in repo.clone_url


def test_public_repositories_and_revoked_tokens_clone_anonymously(git_server, django_user_model, tmp_path):
    user = django_user_model.objects.create(username="octocat")
    repo = make(user, False, f"{git_server.url}/acme/secret.git")
    assert repo.clone_env() == {}
    repo.private = True
    repo.enabled_by.revoked_at = "2024-01-01T00:00:00Z"
    assert repo.clone_env() == {}


@pytest.mark.parametrize("forge", SIGN_IN_FORGES)
def test_the_header_is_scoped_to_the_forge_host(django_user_model, forge):
    user = django_user_model.objects.create(username="octocat")
    repo = make(user, True, "https://github.example:8443/acme/secret.git", provider=forge)
    env = repo.clone_env()
    assert env["GIT_CONFIG_COUNT"] == "1"
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.example:8443/.extraHeader"
