"""The bad-input list, for every forge's authentication scheme.

Each answer has the right status, a one-line reason, a delivery record and
no job. GitLab disables a hook after repeated 4xx answers, so there only a
failed authentication gets a 4xx; every other refusal is a recorded 200.
"""

import json
from urllib.parse import urlencode

import pytest

from builds.models import Job
from tests.forges.forge_kit import (
    AUTH_HEADER,
    EVENT_FLAVORS,
    EVENT_HEADER,
    FLAVORS,
    KITS,
    PR_FLAVORS,
    PUSH,
    aim_push,
    auth_value,
    carrying,
    post,
    provider_of,
    soft,
)
from webhooks.models import Delivery

SHA = "1234567890abcdef1234567890abcdef12345678"
REPO = "acme/widgets"


def body_for(flavor, full_name=REPO):
    event, name = PUSH[flavor]
    return event, json.dumps(aim_push(flavor, name, full_name, SHA)).encode()


def assert_refused(r, status, outcome="rejected", words=()):
    assert r.status_code == status, r.content
    data = r.json()
    reason = data["reason"]
    assert reason and "\n" not in reason
    for word in words:
        assert word.lower() in reason.lower()
    assert not Job.objects.exists()
    d = Delivery.objects.get(pk=data["delivery"])
    assert (d.outcome, d.status_code, d.reason) == (outcome, status, reason)
    return d


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_missing_signature_is_401(client, repo_for, flavor):
    repo_for(flavor)
    event, body = body_for(flavor)
    drop = carrying(flavor, AUTH_HEADER[flavor])
    r = post(client, flavor, raw=body, event=event, drop=drop)
    assert_refused(r, 401, words=[AUTH_HEADER[flavor]])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_wrong_signature_is_403(client, repo_for, flavor):
    repo_for(flavor)
    event, body = body_for(flavor)
    r = post(client, flavor, raw=body, event=event, secret="not-the-secret")
    assert_refused(r, 403, words=["does not match"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_signature_with_another_repositorys_secret_is_403(client, repo_for, flavor):
    repo_for(flavor)
    repo_for(flavor, "acme/other", webhook_secret="other-secret")
    event, body = body_for(flavor)  # names acme/widgets, signed with acme/other's secret
    r = post(client, flavor, raw=body, event=event, secret="other-secret")
    assert_refused(r, 403)


@pytest.mark.parametrize("flavor", [f for f in FLAVORS if KITS[f].signs_body])
def test_a_body_altered_after_signing_is_403(client, repo_for, flavor):
    repo_for(flavor)
    event, body = body_for(flavor)
    signature = auth_value(flavor, "s3cret", body)
    tampered = body.replace(SHA.encode(), b"f" * 40)
    headers = dict.fromkeys(carrying(flavor, AUTH_HEADER[flavor]), signature)
    r = post(client, flavor, raw=tampered, event=event, headers_update=headers)
    assert_refused(r, 403)


def test_the_checker_follows_the_url_not_the_headers(client, repo_for):
    # Gitea also sends GitHub's X-Hub-Signature-256; the Gitea receiver
    # reads only its own header, so that alone does not authenticate.
    repo_for("gitea")
    event, body = body_for("gitea")
    r = post(
        client,
        "gitea",
        raw=body,
        event=event,
        drop=["X-Gitea-Signature"],
        headers_update={"X-Hub-Signature-256": auth_value("github", "s3cret", body)},
    )
    assert_refused(r, 401, words=["X-Forgejo-Signature"])
    # Bitbucket's X-Hub-Signature is SHA-256: GitHub's SHA-1 form is refused.
    Delivery.objects.all().delete()
    repo_for("bitbucket", "acme/bb")
    event, body = body_for("bitbucket", "acme/bb")
    import hashlib
    import hmac

    sha1 = "sha1=" + hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    r = post(client, "bitbucket", raw=body, event=event, headers_update={"X-Hub-Signature": sha1})
    assert_refused(r, 403)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_body_that_is_not_json_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    r = post(client, flavor, raw=b"{not json", event=PUSH[flavor][0])
    assert_refused(r, soft(flavor, 400), words=["not valid JSON"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_json_missing_required_fields_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, name = PUSH[flavor]
    p = aim_push(flavor, name, REPO, SHA)
    del p[KITS[flavor].required]
    r = post(client, flavor, p, event)
    assert_refused(r, soft(flavor, 400), words=["payload has no"])
    # And a payload naming no repository at all.
    Delivery.objects.all().delete()
    r = post(client, flavor, {"zen": "no repository here"}, event)
    assert_refused(r, soft(flavor, 400), words=["payload has no"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_wrong_content_type_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, body = body_for(flavor)
    r = post(client, flavor, raw=body, event=event, headers_update={"Content-Type": "text/plain"})
    assert_refused(r, soft(flavor, 415), words=["content type"])


@pytest.mark.parametrize("flavor", ["github", "gitea", "forgejo", "gogs"])
def test_form_encoded_payloads_are_accepted_where_the_forge_offers_them(client, repo_for, flavor):
    repo_for(flavor)
    event, body = body_for(flavor)
    form = urlencode({"payload": body.decode()}).encode()
    r = post(
        client, flavor, raw=form, event=event, headers_update={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 202, r.content
    assert Job.objects.get().commit == SHA


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_body_over_the_limit_is_refused_without_being_read(client, repo_for, flavor, settings):
    settings.HERALD_WEBHOOK_MAX_BYTES = 2048
    repo_for(flavor)
    event, name = PUSH[flavor]
    p = aim_push(flavor, name, REPO, SHA)
    p["padding"] = "x" * 5000
    r = post(client, flavor, p, event)
    d = assert_refused(r, soft(flavor, 413), words=["limit"])
    assert d.body == "" and d.body_size == 0


@pytest.mark.parametrize("flavor", EVENT_FLAVORS)
def test_a_missing_event_header_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, body = body_for(flavor)
    drop = carrying(flavor, EVENT_HEADER[flavor])
    r = post(client, flavor, raw=body, event=event, drop=drop)
    assert_refused(r, soft(flavor, 400), words=["header"])


@pytest.mark.parametrize("flavor", EVENT_FLAVORS)
def test_an_unknown_event_is_recorded_and_ignored(client, repo_for, flavor):
    repo_for(flavor)
    _, body = body_for(flavor)
    r = post(client, flavor, raw=body, event="no_such_event")
    assert_refused(r, 200, outcome="ignored", words=["no_such_event"])


NOT_FOUND = (
    "no such repository in Herald, or it is private and the request is not signed with its webhook secret"
    " (its admins see which on its deliveries page)"
)


def assert_not_found(r, record_reason_words):
    """The one public answer for an unknown repository and for a private one
    the request could not prove it may address; the record says which."""
    assert r.status_code == 404, r.content
    data = r.json()
    assert set(data) == {"delivery", "outcome", "reason"}
    assert (data["outcome"], data["reason"]) == ("rejected", NOT_FOUND)
    assert not Job.objects.exists()
    d = Delivery.objects.get(pk=data["delivery"])
    assert (d.outcome, d.status_code, d.authenticated) == ("rejected", 404, False)
    for word in record_reason_words:
        assert word.lower() in d.reason.lower(), d.reason
    return d


@pytest.mark.parametrize("flavor", FLAVORS)
def test_an_unknown_repository_is_refused(client, db, flavor):
    event, body = body_for(flavor)
    d = assert_not_found(post(client, flavor, raw=body, event=event), [REPO, "not registered"])
    assert d.repository is None and d.repository_name == REPO


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_repository_of_another_forge_is_unknown_here(client, make_repository, flavor):
    other = "gitlab" if provider_of(flavor) != "gitlab" else "github"
    make_repository(REPO, provider=other)
    event, body = body_for(flavor)
    assert_not_found(post(client, flavor, raw=body, event=event), ["not registered"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_stranger_cannot_tell_a_private_repository_from_an_unknown_one(client, repo_for, flavor):
    private = repo_for(flavor, private=True)
    event, body = body_for(flavor)
    unknown_event, unknown_body = body_for(flavor, "acme/nothing-here")
    drop = carrying(flavor, AUTH_HEADER[flavor])

    unsigned = post(client, flavor, raw=body, event=event, drop=drop)
    wrongly_signed = post(client, flavor, raw=body, event=event, secret="a guess")
    unknown = post(client, flavor, raw=unknown_body, event=unknown_event, secret="a guess")

    # The repository's admins see the precise reason on its deliveries page.
    d = assert_not_found(unsigned, [AUTH_HEADER[flavor]])
    assert d.repository == private
    d = assert_not_found(wrongly_signed, ["does not match"])
    assert d.repository == private
    assert_not_found(unknown, ["acme/nothing-here", "not registered"])
    assert dict(unsigned.headers.items()).keys() == dict(unknown.headers.items()).keys()
    # The forge itself is still let in.
    assert post(client, flavor, raw=body, event=event).status_code == 202


@pytest.mark.parametrize("flavor", FLAVORS)
def test_an_inactive_repository_records_but_builds_nothing(client, repo_for, flavor):
    repo_for(flavor, active=False)
    event, body = body_for(flavor)
    r = post(client, flavor, raw=body, event=event)
    assert_refused(r, 200, outcome="ignored", words=["inactive"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_bad_commit_sha_is_refused(client, repo_for, flavor):
    repo_for(flavor)
    event, name = PUSH[flavor]
    r = post(client, flavor, aim_push(flavor, name, REPO, "not-a-sha; rm -rf /"), event)
    assert_refused(r, soft(flavor, 400), words=["sha"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_the_secret_is_never_stored(client, repo_for, flavor):
    repo_for(flavor, webhook_secret="a-very-distinctive-secret")
    event, body = body_for(flavor)
    assert post(client, flavor, raw=body, event=event, secret="a-very-distinctive-secret").status_code == 202
    d = Delivery.objects.get()
    assert "a-very-distinctive-secret" not in json.dumps(d.headers) + d.body


@pytest.mark.parametrize("flavor", FLAVORS)
def test_only_post_is_accepted(client, flavor):
    r = client.get(f"/webhooks/{provider_of(flavor)}/")
    assert r.status_code == 405 and r.json()["reason"]


def _mutations(value, path=()):
    """Every field of a payload, in turn, replaced by values of the wrong type."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield path + (key,)
            yield from _mutations(inner, path + (key,))


@pytest.mark.parametrize(
    "flavor,kind", [(f, k) for f in FLAVORS for k in ("push", "pr") if k == "push" or f in PR_FLAVORS]
)
def test_payload_fields_of_the_wrong_type_never_cause_a_500(client, repo_for, flavor, kind):
    import copy

    from tests.forges.forge_kit import PR, aim_pr

    repo_for(flavor)
    if kind == "push":
        event, name = PUSH[flavor]
        base = aim_push(flavor, name, REPO, SHA)
    else:
        event, name = PR[flavor]["opened"]
        base = aim_pr(flavor, name, REPO, SHA)
    paths = [p for p in _mutations(base) if len(p) <= 3]
    for path in paths:
        for wrong in (12345, ["x"], None):
            p = copy.deepcopy(base)
            target = p
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = wrong
            r = post(client, flavor, p, event)
            assert r.status_code != 500, (path, wrong, r.content)
            assert r.json().get("reason") or r.status_code == 202, (path, wrong, r.content)
    assert not Delivery.objects.filter(outcome="error").exists()
