"""Repository secrets: encrypted at rest, given only to the steps that name
them, never to forks unless allowed, and masked in the log — also when a
value arrives in two pieces across flushes and chunks."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from builds.lifecycle import approve
from builds.logwriter import LogWriter
from builds.models import LogChunk
from repositories.models import Secret
from tests.builds.helpers import log_of, queue, run_commit, run_next
from tests.support import TEST_IMAGE

pytestmark = [pytest.mark.django_db(transaction=True)]

TOKEN = "tok-7c1d9e55b3a04f2e"


def stored(job):
    return list(LogChunk.objects.filter(job=job).order_by("seq").values_list("text", flat=True))


@pytest.fixture
def job(make_repository):
    repo = make_repository()
    return queue(repo, "a" * 40)


def test_a_secret_split_across_flushes_is_masked_whole(job, monkeypatch):
    # Herald's own keys, masked too, are random per data directory: one that
    # begins with "g" would rightly hold back the last letter of "waiting".
    monkeypatch.setattr("builds.logwriter.server_secrets", lambda: [])
    writer = LogWriter(job, secrets=[TOKEN], flush_seconds=0)
    writer.write("before tok-7c1d")
    writer.flush()
    writer.write("9e55b3a04f2e after\nwaiting")
    writer.flush()
    # Output that cannot be the start of a secret is not held back.
    assert "".join(stored(job)).endswith("waiting")
    writer.write(" tok-7c1d9e55b3a04f2")
    writer.flush()
    writer.write("e\n")
    writer.close()
    chunks = stored(job)
    assert len(chunks) >= 3
    text = "".join(chunks)
    assert text == "before **** after\nwaiting ****\n"
    assert not any("tok-" in c for c in chunks)


def test_every_line_of_a_multi_line_secret_is_masked(job):
    key = "-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\n-----END KEY-----"
    writer = LogWriter(job, secrets=[key])
    writer.write("AAAAB3NzaC1yc2EAAAADAQABAAABAQ\r\n")
    writer.close()
    assert "".join(stored(job)) == "****\r\n"


def test_cutting_a_long_line_never_leaves_half_a_secret(job):
    writer = LogWriter(job, secrets=[TOKEN], line_max=100)
    writer.write("x" * 90 + TOKEN + "y" * 50 + "\n")
    writer.close()
    text = "".join(stored(job))
    assert "tok-" not in text and "****" in text


@pytest.fixture
def setup(git_repo, make_repository, test_image):
    def make(files, secrets=()):
        src = git_repo()
        sha = src.commit(files)
        repo = make_repository("acme/widgets", clone_url=src.url)
        for name, value, allow_forks in secrets:
            Secret.objects.create(repository=repo, name=name, value=value, allow_forks=allow_forks)
        return repo, sha

    return make


PIPELINE = f"""\
image: {TEST_IMAGE}
steps:
  - name: uses-it
    secrets: [TOKEN]
    commands:
      - echo "token is $TOKEN"
      # The first 12 characters, a pause longer than a flush, the last 8.
      - printf 'split=%s' "${{TOKEN%????????}}"; sleep 1; printf '%s\\n' "${{TOKEN#????????????}}"
      - test "$TOKEN" = "{TOKEN}" && echo value-is-right
  - name: does-not-list-it
    commands: ['echo "other step sees ${{TOKEN:-nothing}}"']
"""


@pytest.mark.docker
def test_secrets_reach_only_the_steps_that_name_them_and_are_masked(setup, settings):
    settings.HERALD_LOG_FLUSH_SECONDS = 0.05  # flush while the value is half printed
    repo, sha = setup({".herald.yml": PIPELINE}, secrets=[("TOKEN", TOKEN, False)])
    job = run_commit(repo, sha)
    text = log_of(job)
    assert job.status == "success", text
    assert "token is ****\n" in text
    assert "split=****\n" in text
    assert "value-is-right\n" in text
    assert "other step sees nothing\n" in text
    assert TOKEN not in text and TOKEN[:10] not in text and TOKEN[-8:] not in text


@pytest.mark.docker
def test_a_pull_request_from_a_fork_gets_no_secrets_unless_allowed(setup):
    pipeline = f"""\
image: {TEST_IMAGE}
steps:
  - name: probe
    secrets: [TOKEN, PUBLIC_TOKEN]
    commands: ['echo "token=${{TOKEN:-withheld}}"', 'echo "public=${{PUBLIC_TOKEN:-withheld}}"']
"""
    repo, sha = setup(
        {".herald.yml": pipeline}, secrets=[("TOKEN", TOKEN, False), ("PUBLIC_TOKEN", "pub-99887766", True)]
    )
    pr = dict(
        event="pull_request",
        branch="",
        ref="refs/pull/7/head",
        pr_number=7,
        target_branch="main",
        source_branch="patch-1",
    )

    blocked = queue(repo, sha, from_fork=True, source_repo="mallory/widgets", **pr)
    assert blocked.status == "blocked"  # until someone with push rights approves it
    maintainer = get_user_model().objects.create_user("maintainer")
    assert approve(blocked, maintainer)
    fork = run_next()
    text = log_of(fork)
    assert fork.status == "success", text
    assert "token=withheld\n" in text and "public=****\n" in text
    assert "Secret TOKEN is not given to this step: the pull request comes from a fork" in text

    queue(repo, sha, from_fork=False, **pr)
    same_repo = run_next()
    assert "token=****\n" in log_of(same_repo) and "public=****\n" in log_of(same_repo)


@pytest.mark.docker
def test_a_step_naming_an_unknown_secret_errors_the_job(setup):
    repo, sha = setup(
        {".herald.yml": f"image: {TEST_IMAGE}\nsteps:\n  - name: a\n    commands: [env]\n    secrets: [NOT_THERE]\n"}
    )
    job = run_commit(repo, sha)
    assert job.status == "errored"
    assert job.reason == (
        ".herald.yml, line 5, steps[0].secrets: unknown secret 'NOT_THERE'; add it in the repository's settings"
    )


def test_secrets_are_encrypted_at_rest(make_repository):
    repo = make_repository()
    secret = Secret.objects.create(repository=repo, name="TOKEN", value=TOKEN)
    with connection.cursor() as c:
        c.execute("SELECT value FROM repositories_secret WHERE id = %s", [secret.pk])
        raw = c.fetchone()[0]
    assert TOKEN not in raw and raw.startswith("gAAAA")  # a Fernet token
    assert Secret.objects.get(pk=secret.pk).value == TOKEN
