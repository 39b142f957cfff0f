"""`addrepo --provider git` prints the commands that install the hook; the
path they use is the bare repository's, as far as the clone URL tells."""

import io

import pytest
from django.core.management import call_command

from forges.git.hook import HOOK, SOMEWHERE, bare_repository_path
from repositories.models import Repository


@pytest.mark.parametrize(
    "url, path",
    [
        ("/srv/git/widgets.git", "/srv/git/widgets.git"),
        ("file:///srv/git/my%20widgets.git", "/srv/git/my widgets.git"),
        ("ssh://git@git.example.com:2222/srv/git/widgets.git", "/srv/git/widgets.git"),
        ("git@git.example.com:acme/widgets.git", "acme/widgets.git"),
        ("https://git.example.com/acme/widgets.git", SOMEWHERE),
        ("git://git.example.com/acme/widgets.git", SOMEWHERE),
    ],
)
def test_the_bare_repository_is_where_the_clone_url_points(url, path):
    assert bare_repository_path(url) == path


def test_it_prints_the_install_commands_with_the_secret_quoted(db, settings):
    settings.HERALD_ALLOW_LOCAL_CLONES = True
    out = io.StringIO()
    call_command(
        "addrepo", "acme/widgets", provider="git", clone_url="/srv/git/w.git", secret="it's secret", stdout=out
    )
    text = out.getvalue()
    repo = Repository.objects.get(provider="git")
    assert repo.webhook_secret == "it's secret"
    assert f"    cp {HOOK} /srv/git/w.git/hooks/post-receive\n" in text
    assert "    chmod +x /srv/git/w.git/hooks/post-receive\n" in text
    assert f"    git -C /srv/git/w.git config herald.url {settings.HERALD_BASE_URL}/webhooks/git/\n" in text
    assert "    git -C /srv/git/w.git config herald.repository acme/widgets\n" in text
    assert "    git -C /srv/git/w.git config herald.secret 'it'\"'\"'s secret'\n" in text
    assert "sh, git, openssl and curl" in text


def test_a_remote_repository_is_named_by_a_placeholder_to_replace(db):
    out = io.StringIO()
    call_command("addrepo", "acme/widgets", provider="git", clone_url="https://git.example.com/w.git", stdout=out)
    assert f"replace {SOMEWHERE} with its path" in out.getvalue()


def test_other_forges_get_no_hook_commands(db):
    out = io.StringIO()
    call_command("addrepo", "acme/widgets", clone_url="https://github.com/acme/widgets.git", stdout=out)
    assert "post-receive" not in out.getvalue()
