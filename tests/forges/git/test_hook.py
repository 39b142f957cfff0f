"""forges/git/post-receive as a git server runs it: installed with the
commands addrepo prints into a real bare repository, run by a real
`git push`, posting to a real server (pytest-django's live_server). What
the pusher reads is git's "remote:" lines; the push never fails because of
Herald."""

import shutil
import subprocess

import pytest

from builds.models import Job
from forges.git.hook import install_commands
from tests.support import GIT_ENV, free_port, git
from webhooks.models import Delivery

REPO = "acme/widgets"
SECRET = "a-distinctive-hook-secret"

pytestmark = pytest.mark.django_db(transaction=True)


def run(cwd, *args, input=None):
    """A git command as the pusher runs it: its output (stdout and stderr),
    and it must succeed."""
    env = {**GIT_ENV, "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "LC_ALL": "C.UTF-8"}
    done = subprocess.run(args, cwd=cwd, env=env, input=input, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


class Server:
    """A bare repository with the hook installed, and a clone to push from."""

    def __init__(self, tmp_path, url, secret=SECRET):
        for tool in ("git", "openssl", "curl"):
            if not shutil.which(tool):
                pytest.fail(f"the hook needs {tool}: apt-get install {tool}", pytrace=False)
        self.bare = tmp_path / "widgets.git"
        run(tmp_path, "git", "init", "-q", "--bare", "-b", "main", str(self.bare))
        for line in install_commands(str(self.bare), url, REPO, secret):
            run(tmp_path, "sh", "-c", line)
        self.work = tmp_path / "work"
        run(tmp_path, "git", "clone", "-q", str(self.bare), str(self.work))

    def commit(self, message, *config):
        (self.work / "file").write_text(message)
        run(self.work, "git", "add", "file")
        run(self.work, "git", *config, "commit", "-q", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def push(self, *refspecs):
        return run(self.work, "git", "push", "origin", *refspecs)


@pytest.fixture
def server(tmp_path, live_server, make_repository):
    make_repository(REPO, provider="git", clone_url=f"file://{tmp_path}/widgets.git", webhook_secret=SECRET)
    return Server(tmp_path, f"{live_server.url}/webhooks/git/")


def test_it_posts_each_branch_and_tag_a_push_updates(server):
    sha = server.commit("Add the pipeline")
    run(server.work, "git", "tag", "-a", "v1.0.0", "-m", "release")
    out = server.push("main", "v1.0.0")
    assert 'herald: refs/heads/main: {"delivery"' in out and '"outcome": "accepted"' in out, out
    assert "herald: refs/tags/v1.0.0:" in out
    assert SECRET not in out
    branch, tag = Job.objects.order_by("id")
    assert (branch.event, branch.ref, branch.branch, branch.commit) == ("push", "refs/heads/main", "main", sha)
    assert (branch.message, branch.author) == ("Add the pipeline", "Ada Tester")
    # The annotated tag's own object, as git hands it to the hook; the
    # worker checks out the commit it tags.
    tag_object = git(server.bare, "rev-parse", "v1.0.0")
    assert (tag.event, tag.tag, tag.branch, tag.commit) == ("tag", "v1.0.0", "", tag_object)
    assert Delivery.objects.filter(provider="git", outcome="accepted", authenticated=True).count() == 2


def test_a_message_arrives_as_written(server):
    message = 'Fix "quoting" of C:\\path\\n\tand a tab\n\nCafé, 日本語, and a {"json": [1]} look-alike'
    server.commit(message)
    server.push("main")
    assert Job.objects.get().message == message


def test_a_latin1_commit_is_reencoded(server):
    (server.work / "file").write_text("x")
    run(server.work, "git", "add", "file")
    run(
        server.work,
        "sh",
        "-c",
        "printf 'caf\\351 au lait' | git -c i18n.commitEncoding=ISO-8859-1 commit -q -F -",
    )
    server.push("main")
    assert Job.objects.get().message == "café au lait"


def test_a_commit_asking_to_skip_ci_builds_nothing(server):
    server.commit("Typo in the docs [skip ci]")
    out = server.push("main")
    assert "the commit message asks to skip CI" in out
    assert not Job.objects.exists()


def test_a_deleted_branch_is_recorded_and_ignored(server):
    server.commit("first")
    server.push("main", "main:feature")
    out = server.push(":feature")
    assert "branch feature was deleted" in out and '"outcome": "ignored"' in out, out
    assert Job.objects.count() == 2
    assert Delivery.objects.filter(outcome="ignored").get().reason == "branch feature was deleted"


def test_a_wrong_secret_warns_and_the_push_goes_through(tmp_path, live_server, make_repository):
    make_repository(REPO, provider="git", webhook_secret=SECRET)
    server = Server(tmp_path, f"{live_server.url}/webhooks/git/", secret="not-the-secret")
    sha = server.commit("first")
    out = server.push("main")
    assert "herald: warning: refs/heads/main was not built: Herald answered 403" in out, out
    assert "check herald.repository and herald.secret" in out
    assert "not-the-secret" not in out and SECRET not in out
    assert git(server.bare, "rev-parse", "main") == sha
    assert not Job.objects.exists()
    assert Delivery.objects.get().status_code == 403


def test_nothing_is_lost_while_herald_is_unreachable(tmp_path, live_server, make_repository):
    make_repository(REPO, provider="git", webhook_secret=SECRET)
    server = Server(tmp_path, f"http://127.0.0.1:{free_port()}/webhooks/git/")
    sha = server.commit("while Herald is down")
    out = server.push("main")
    assert git(server.bare, "rev-parse", "main") == sha
    assert "herald: warning: refs/heads/main was not built: Herald did not answer" in out, out
    assert SECRET not in out and not Job.objects.exists()
    # The warning says how to send the update again once Herald is back.
    resend = next(line for line in out.splitlines() if "send it again:" in line).split("send it again: ", 1)[1]
    run(server.bare, "git", "config", "herald.url", f"{live_server.url}/webhooks/git/")
    out = run(server.bare, "sh", "-c", resend.strip())
    assert '"outcome": "accepted"' in out, out
    assert Job.objects.get().commit == sha
    # Sent once more: the same update, the same delivery id.
    out = run(server.bare, "sh", "-c", resend.strip())
    assert '"outcome": "duplicate"' in out and "already received" in out, out
    assert Job.objects.count() == 1


def test_without_its_settings_it_says_which_and_the_push_goes_through(tmp_path, live_server, make_repository):
    make_repository(REPO, provider="git", webhook_secret=SECRET)
    server = Server(tmp_path, f"{live_server.url}/webhooks/git/")
    run(server.bare, "git", "config", "--unset", "herald.secret")
    sha = server.commit("first")
    out = server.push("main")
    assert "set herald.url, herald.repository and herald.secret" in out, out
    assert git(server.bare, "rev-parse", "main") == sha
    assert not Delivery.objects.exists()


def test_the_environment_overrides_the_git_config(tmp_path, live_server, make_repository):
    make_repository(REPO, provider="git", webhook_secret=SECRET)
    server = Server(tmp_path, "http://127.0.0.1:9/nowhere/", secret="wrong")
    sha = server.commit("first")
    line = f"{'0' * 40} {sha} refs/heads/main\n"
    env = f"HERALD_URL={live_server.url}/webhooks/git/ HERALD_SECRET={SECRET}"
    out = run(server.bare, "sh", "-c", f"{env} hooks/post-receive", input=line)
    assert '"outcome": "accepted"' in out, out
    assert Job.objects.get().commit == sha
