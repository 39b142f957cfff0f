"""A delivery opened on the deliveries page: the request as recorded, Herald's
answer, and no secret anywhere (stored or shown), replays still working."""

import json
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User

from builds.models import Job
from repositories.models import Membership
from tests.forges.forge_kit import aim_push, headers, post
from webhooks.masking import MASK, mask
from webhooks.models import Delivery

pytestmark = pytest.mark.usefixtures("plain_static")

SHA = "1234567890abcdef1234567890abcdef12345678"
SECRET = "gitea-hook-secret-9f8e7d"


@pytest.fixture
def repo(make_repository, users):
    r = make_repository("acme/tea", provider="gitea", webhook_secret=SECRET)
    Membership.objects.create(user=users.admin, repository=r, permission=Membership.ADMIN)
    return r


def old_gitea_push(sha=SHA, secret_field=SECRET):
    """A push as Gitea before 1.14 sent it: the hook's secret in the body."""
    payload = aim_push("gitea", "push__docs_example", "acme/tea", sha)
    payload["secret"] = secret_field
    return payload


def page(client, users, query=""):
    client.force_login(users.admin)
    r = client.get(f"/repos/acme/tea/deliveries/{query}")
    assert r.status_code == 200
    return r.content.decode()


def test_it_stores_and_shows_no_secret_yet_replays_the_delivery(client, repo, users):
    first = post(client, "gitea", old_gitea_push(), "push", secret=SECRET).json()
    assert len(first["jobs"]) == 1
    # A hook aimed at this repository with another repository's secret:
    # refused, and that secret is not kept either.
    post(client, "gitea", old_gitea_push(secret_field="someone-elses-secret"), "push", secret="someone-elses-secret")
    for delivery in Delivery.objects.all():
        assert SECRET not in delivery.body and "someone-elses-secret" not in delivery.body
        assert f'"secret": "{MASK}"' in delivery.body
        assert SECRET not in json.dumps(delivery.headers)

    html = page(client, users)
    assert SECRET not in html and "someone-elses-secret" not in html
    accepted = html.split('class="delivery-row')[2]
    # The request as recorded: its headers, its body pretty-printed.
    assert "<dt>X-Gitea-Event</dt><dd>push</dd>" in accepted and "X-Gitea-Signature" in accepted
    assert "JSON pretty-printed" in accepted
    assert "\n  &quot;ref&quot;: &quot;refs/heads/develop&quot;,\n" in accepted
    # Herald's answer, the job linked, and Replay beside it.
    job = Job.objects.get(pk=first["jobs"][0])
    assert "202" in accepted and f'href="/jobs/{job.pk}/"' in accepted and 'data-status="queued"' in accepted
    assert "Replay" in accepted

    # The replay puts the secret back where it was masked, so the
    # signature still matches: it builds again.
    r = client.post(f"/deliveries/{first['delivery']}/replay", follow=True)
    assert "202 accepted" in r.content.decode()
    assert Job.objects.count() == 2
    replayed = Delivery.objects.get(replay_of=first["delivery"])
    assert SECRET not in replayed.body and replayed.authenticated
    newest = page(client, users).split('class="delivery-row')[1]
    assert f'data-delivery="{replayed.pk}"' in newest and f'href="?delivery={first["delivery"]}"' in newest


def test_records_kept_from_before_are_masked_when_shown(client, repo, users):
    Delivery.objects.create(
        provider="gitea",
        repository=repo,
        outcome="accepted",
        event="push",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode({"payload": json.dumps({"ref": "refs/heads/main", "secret": SECRET, "token": "t0ken-value"})}),
    )
    html = page(client, users)
    assert SECRET not in html and "t0ken-value" not in html
    # A form's payload field is JSON too.
    assert "JSON pretty-printed" in html and "&quot;ref&quot;: &quot;refs/heads/main&quot;" in html
    # Nor in the admin, which shows the record as the page does.
    admin = User.objects.create_superuser("root", password="root-pw-1")
    client.force_login(admin)
    html = client.get(f"/admin/webhooks/delivery/{Delivery.objects.get().pk}/change/").content.decode()
    assert SECRET not in html and "t0ken-value" not in html
    assert "refs/heads/main" in html and "Content-Type: application/x-www-form-urlencoded" in html


def test_one_delivery_has_its_own_page_with_the_whole_body(client, repo, users, make_repository):
    long_body = json.dumps({"ref": "refs/heads/main", "commits": ["x" * 100] * 1000})  # ~100 KB
    d = Delivery.objects.create(provider="gitea", repository=repo, outcome="ignored", event="push", body=long_body)
    listed = page(client, users)
    assert f'href="?delivery={d.pk}"' in listed and "The whole body" in listed
    assert listed.count("x" * 100) < 700  # cut at 64 KB
    alone = page(client, users, f"?delivery={d.pk}")
    assert alone.count('class="delivery-row') == 1 and " open>" in alone
    assert alone.count("x" * 100) == 1000
    other = make_repository("acme/other", provider="gitea")
    elsewhere = Delivery.objects.create(provider="gitea", repository=other, outcome="ignored", event="push")
    for bad in (f"?delivery={elsewhere.pk}", "?delivery=abc", "?delivery=99999"):
        assert client.get(f"/repos/acme/tea/deliveries/{bad}").status_code == 404


def test_masking_covers_each_form_a_body_carries_a_secret_in():
    secret = 'a"b&c d/é'
    for carried in (secret, json.dumps(secret)[1:-1], urlencode({"k": secret})[2:], "a%22b%26c%20d%2F%C3%A9"):
        assert mask(f"before {carried} after", [secret]) == f"before {MASK} after"
    assert mask('{"password" : "hunter2", "name": "x"}') == f'{{"password" : "{MASK}", "name": "x"}}'
    # Too short to mask without masking ordinary words.
    assert mask("abc", ["ab"]) == "abc"


def test_a_gitea_form_delivery_replays_with_its_secret_put_back(client, repo, users):
    body = urlencode({"payload": json.dumps(old_gitea_push())}).encode()
    h = headers("gitea", "push", body, secret=SECRET)
    h["Content-Type"] = "application/x-www-form-urlencoded"
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in h.items() if k != "Content-Type"}
    first = client.post("/webhooks/gitea/", data=body, content_type=h["Content-Type"], **meta).json()
    assert first["jobs"]
    assert SECRET not in Delivery.objects.get(pk=first["delivery"]).body
    client.force_login(users.admin)
    r = client.post(f"/deliveries/{first['delivery']}/replay", follow=True)
    assert "202 accepted" in r.content.decode()


def test_a_replay_without_a_signature_to_prove_it_never_puts_the_secret_back(client, make_repository, users):
    # GitLab authenticates by a token header, not a body signature: nothing
    # proves where a masked secret stood, so the stored body goes as it is.
    repo = make_repository("acme/lab", provider="gitlab", webhook_secret=SECRET)
    Membership.objects.create(user=users.admin, repository=repo, permission=Membership.ADMIN)
    payload = aim_push("gitlab", "push__several_commits", "acme/lab", SHA, message=f"rotate {SECRET} today")
    first = post(client, "gitlab", payload, "Push Hook", secret=SECRET).json()
    assert SECRET not in Delivery.objects.get(pk=first["delivery"]).body
    client.force_login(users.admin)
    r = client.post(f"/deliveries/{first['delivery']}/replay", follow=True)
    assert "202 accepted" in r.content.decode()
    replayed = Job.objects.exclude(pk__in=first["jobs"]).get()
    assert SECRET not in replayed.message and MASK in replayed.message
