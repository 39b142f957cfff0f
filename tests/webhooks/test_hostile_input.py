"""Requests built to break the receiver, from anyone: each is refused with a
400 and a one-line reason, and recorded — never a 500, never a lost record.
NUL characters and values longer than their columns only break PostgreSQL,
so these run on both databases. (GitLab gets a recorded 200 instead of a
400: it disables a hook after repeated 4xx answers.)
"""

import json

import pytest

from builds.models import Job
from tests.forges.forge_kit import DELIVERY_HEADER, FLAVORS, KITS, PR, PR_FLAVORS, PUSH, aim_pr, aim_push, post, soft
from webhooks.models import Delivery

SHA = "1234567890abcdef1234567890abcdef12345678"
REPO = "acme/widgets"


def push_body(flavor, full_name=REPO, ref=None, message=None):
    event, name = PUSH[flavor]
    return event, aim_push(flavor, name, full_name, SHA, ref=ref, message=message)


def assert_refused(r, flavor, *words):
    """400 (GitLab: 200) with a one-line reason naming `words`, recorded as
    rejected with that reason; no job."""
    assert r.status_code == soft(flavor, 400), r.content
    data = r.json()
    reason = data["reason"]
    assert reason and "\n" not in reason and "\x00" not in reason
    for word in words:
        assert word.lower() in reason.lower(), reason
    d = Delivery.objects.get(pk=data["delivery"])
    assert (d.outcome, d.reason, d.status_code) == ("rejected", reason, r.status_code)
    assert not Job.objects.exists()
    return d


@pytest.mark.parametrize("flavor", FLAVORS)
def test_json_nested_a_thousand_deep_is_refused(client, db, flavor):
    body = b'{"a": ' * 1000 + b"1" + b"}" * 1000
    r = post(client, flavor, raw=body, event=PUSH[flavor][0], secret="anything")
    d = assert_refused(r, flavor, "nested too deeply")
    assert d.body_size == len(body)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_lone_surrogate_in_the_repository_name_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, p = push_body(flavor, full_name="acme/\ud800")
    r = post(client, flavor, p, event, secret="not-signed-by-anyone-we-know")
    d = assert_refused(r, flavor, "repository name", "surrogate")
    # The admin still sees what was sent, escaped.
    assert d.repository_name == "acme/\\ud800" and d.repository is None


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_nul_in_the_repository_name_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, p = push_body(flavor, full_name="acme/widgets\x00")
    r = post(client, flavor, p, event, secret="not-signed-by-anyone-we-know")
    d = assert_refused(r, flavor, "repository name", "NUL")
    assert d.repository_name == "acme/widgets\\x00"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_repository_name_longer_than_any_registered_one_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, p = push_body(flavor, full_name="acme/" + "w" * 400)
    r = post(client, flavor, p, event, secret="not-signed-by-anyone-we-know")
    d = assert_refused(r, flavor, "repository name", "longer than 200")
    assert len(d.repository_name) == 255


@pytest.mark.parametrize("flavor", FLAVORS)
def test_nul_bytes_in_a_body_that_is_not_json_are_recorded(client, repo_for, flavor):
    repo_for(flavor)
    r = post(client, flavor, raw=b'{"ref": "\x00\x00"}\x00', event=PUSH[flavor][0])
    d = assert_refused(r, flavor, "not valid JSON")
    assert "\x00" not in d.body and "\\x00" in d.body


@pytest.mark.parametrize("flavor", FLAVORS)
def test_nul_characters_in_the_headers_are_recorded_escaped(client, repo_for, flavor):
    repo_for(flavor)
    event, p = push_body(flavor)
    r = post(client, flavor, p, event, delivery="d\x00-1")
    assert r.status_code == 202, r.content
    d = Delivery.objects.get(pk=r.json()["delivery"])
    assert d.delivery_id == "d\\x00-1" and d.headers[DELIVERY_HEADER[flavor]] == "d\\x00-1"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_nul_in_a_signed_commit_message_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, p = push_body(flavor, message="fix\x00 everything")
    assert_refused(post(client, flavor, p, event), flavor, "message", "NUL")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_lone_surrogate_in_a_signed_commit_message_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, p = push_body(flavor, message="fix \udc00 everything")
    assert_refused(post(client, flavor, p, event), flavor, "message", "surrogate")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_branch_longer_than_its_column_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, p = push_body(flavor, ref="refs/heads/" + "b" * 300)
    assert_refused(post(client, flavor, p, event), flavor, "longer than 255")


@pytest.mark.parametrize("flavor", PR_FLAVORS)
def test_a_pull_request_naming_values_longer_than_their_columns_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, name = PR[flavor]["opened"]
    p = aim_pr(flavor, name, REPO, SHA)
    KITS[flavor].set_pr_source_branch(p, "s" * 300)
    assert_refused(post(client, flavor, p, event), flavor, "longer than 255")


def test_a_pull_request_number_out_of_range_is_refused(client, repo_for):
    repo_for("github")
    event, name = PR["github"]["opened"]
    for number in (2**40, -3):
        p = aim_pr("github", name, REPO, SHA)
        p["number"] = p["pull_request"]["number"] = number
        assert_refused(post(client, "github", p, event), "github", "out of range")
        Delivery.objects.all().delete()
    # Infinity is no JSON, but Python's parser reads it.
    p = aim_pr("github", name, REPO, SHA, number=987654)
    body = json.dumps(p).replace("987654", "Infinity").encode()
    assert_refused(post(client, "github", raw=body, event=event), "github")


def test_a_fork_name_longer_than_its_column_is_refused(client, repo_for):
    repo_for("github")
    event, name = PR["github"]["opened"]
    p = aim_pr("github", name, REPO, SHA)
    p["pull_request"]["head"]["repo"]["full_name"] = "mallory/" + "x" * 300
    assert_refused(post(client, "github", p, event), "github", "source_repo", "longer than 255")


# Bitbucket names branches, not refs: its pushes are covered by the ref tests.
@pytest.mark.parametrize("flavor", [f for f in FLAVORS if f != "bitbucket"])
def test_a_reason_quoting_the_payload_stays_one_line(client, repo_for, flavor):
    repo_for(flavor)
    event, p = push_body(flavor)
    p["ref"] = "refs/notes/a\nb\x00"
    r = post(client, flavor, p, event)
    reason = r.json()["reason"]
    assert r.status_code in (200, 400) and reason and "\n" not in reason and "\x00" not in reason
    assert Delivery.objects.get(pk=r.json()["delivery"]).reason == reason
