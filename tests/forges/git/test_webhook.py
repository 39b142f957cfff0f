"""What only plain git's receiver does (the shared guarantees run over its
kit in tests/forges/test_webhooks.py and tests/webhooks/): the documented
body alone builds, the signature is `sha256=<hex>` and nothing else, the
repository page says how to install the hook and links nowhere."""

import hashlib
import hmac
import json

import pytest

from builds.models import Job
from tests.forges.forge_kit import post
from tests.support import fixture
from webhooks.models import Delivery

SHA = "1234567890abcdef1234567890abcdef12345678"
ZERO = "0" * 40


def body(**fields):
    return {"repository": "acme/widgets", "ref": "refs/heads/main", "before": ZERO, "after": SHA, **fields}


@pytest.fixture
def repo(make_repository):
    return make_repository("acme/widgets", provider="git")


def test_it_builds_from_the_documented_body_alone(client, repo):
    r = post(client, "git", body(), "push", drop=["X-Herald-Delivery"])
    assert r.status_code == 202, r.content
    job = Job.objects.get()
    assert (job.event, job.ref, job.branch, job.commit, job.message, job.author) == (
        "push",
        "refs/heads/main",
        "main",
        SHA,
        "",
        "",
    )
    d = Delivery.objects.get()
    assert (d.provider, d.event, d.delivery_id, d.authenticated) == ("git", "push", "", True)


def sent(client, payload, signature):
    raw = json.dumps(payload).encode()
    return post(client, "git", raw=raw, event="push", headers_update={"X-Herald-Signature-256": signature(raw)})


@pytest.mark.parametrize(
    "signature",
    [
        lambda raw: hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest(),  # no sha256= prefix
        lambda raw: "sha1=" + hmac.new(b"s3cret", raw, hashlib.sha1).hexdigest(),
        lambda raw: "sha512=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest(),
        lambda raw: "sha256=",
    ],
    ids=["bare-hex", "sha1", "wrong-name", "empty"],
)
def test_only_a_sha256_signature_of_the_body_is_accepted(client, repo, signature):
    r = sent(client, body(), signature)
    assert r.status_code == 403, r.content
    assert r.json()["reason"] == "X-Herald-Signature-256 does not match the repository's webhook secret"
    assert not Job.objects.exists()


def test_a_missing_signature_says_where_the_secret_goes(client, repo):
    r = post(client, "git", body(), "push", drop=["X-Herald-Signature-256"])
    assert r.status_code == 401
    assert "herald.secret" in r.json()["reason"]


@pytest.mark.parametrize("field", ["repository", "ref", "before", "after"])
def test_each_documented_field_is_required(client, repo, field):
    payload = body()
    del payload[field]
    r = post(client, "git", payload, "push")
    assert r.status_code == 400, r.content
    assert r.json()["reason"] == f"payload has no {field}"
    assert Delivery.objects.get().outcome == "rejected"


def test_a_before_that_is_no_sha_is_refused(client, repo):
    r = post(client, "git", body(before="HEAD~1"), "push")
    assert r.status_code == 400 and "before" in r.json()["reason"]


@pytest.mark.parametrize(
    "payload, reason",
    [
        (body(after=ZERO), "branch main was deleted"),
        (fixture("git", "push__tag_deleted"), "tag v1.0.0 was deleted"),
        (body(ref="refs/notes/commits"), "pushes to refs/notes/commits do not trigger builds"),
    ],
    ids=["branch-deleted", "tag-deleted", "notes"],
)
def test_deletions_and_other_refs_are_recorded_and_ignored(client, repo, payload, reason):
    r = post(client, "git", payload, "push")
    assert r.status_code == 200, r.content
    assert (r.json()["outcome"], r.json()["reason"]) == ("ignored", reason)
    assert not Job.objects.exists()


def test_message_and_author_of_another_type_are_dropped(client, repo):
    r = post(client, "git", body(message=["x"], author={"name": "x"}), "push")
    assert r.status_code == 202
    assert (Job.objects.get().message, Job.objects.get().author) == ("", "")


def test_the_repository_page_says_how_to_install_the_hook_and_links_nowhere(client, make_repository):
    make_repository("acme/widgets", provider="git", html_url="https://git.example.com/acme/widgets")
    page = client.get("/repos/acme/widgets/").content.decode()
    assert "Plain git" in page and "hooks/post-receive" in page and "git config herald.secret" in page
    assert "http://testserver/webhooks/git/" in page or "/webhooks/git/" in page
    assert "git.example.com" not in page
