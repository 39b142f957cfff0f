"""Commit statuses where GitHub differs from the other forges (what every
forge with sign-in does is tested in tests/oauth/test_commit_status.py)."""

import json
import time

import pytest

from repositories.models import CommitStatus, Repository
from repositories.tasks import post_commit_status
from tests.forges.github.fake_server import FIXTURES
from tests.forges.oauth_kit import new_job


@pytest.fixture
def enabled(signed_in, fake_github):
    fake_github.add_repo("octocat/widgets", permission="admin")
    signed_in.post("/account/repositories/github/enable", {"full_name": "octocat/widgets"})
    return Repository.objects.get(full_name="octocat/widgets")


def test_it_waits_as_long_as_a_rate_limit_says(enabled, fake_github, django_capture_on_commit_callbacks):
    new_job(enabled, django_capture_on_commit_callbacks)
    row = CommitStatus.objects.get()
    fake_github.fail(
        "POST",
        "/statuses/",
        403,
        body=json.loads((FIXTURES / "error-rate-limited.json").read_text()),
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 600)},
    )
    result = post_commit_status(row.pk)
    assert result.startswith("retrying in ") and 590 <= int(result.split()[2]) <= 600
    row.refresh_from_db()
    assert "rate limit" in row.last_error
