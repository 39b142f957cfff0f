"""The per-repository deliveries page, replaying from it, and the admin's replay action."""

import pytest
from django.contrib.auth import get_user_model

from builds.models import Job
from repositories.models import Membership
from tests.forges.forge_kit import PUSH, aim_push, post
from webhooks.models import Delivery

pytestmark = pytest.mark.usefixtures("plain_static")

SHA = "1234567890abcdef1234567890abcdef12345678"


@pytest.fixture
def people(db):
    User = get_user_model()
    return {
        "admin": User.objects.create_user("alice"),
        "reader": User.objects.create_user("bob"),
        "outsider": User.objects.create_user("eve"),
        "staff": User.objects.create_user("root", is_staff=True, is_superuser=True),
    }


@pytest.fixture
def repo(make_repository, people):
    r = make_repository("acme/widgets", provider="gitlab", private=True)
    Membership.objects.create(user=people["admin"], repository=r, permission=Membership.ADMIN)
    Membership.objects.create(user=people["reader"], repository=r, permission=Membership.PULL)
    return r


def push(client, sha=SHA, **kw):
    event, name = PUSH["gitlab"]
    return post(client, "gitlab", aim_push("gitlab", name, "acme/widgets", sha), event, **kw)


def test_it_lists_deliveries_newest_first_with_outcome_reason_and_jobs(client, repo, people):
    accepted = push(client).json()
    push(client, secret="wrong")
    push(client, sha="0" * 40)
    client.force_login(people["admin"])
    r = client.get("/repos/acme/widgets/deliveries/")
    assert r.status_code == 200
    html = r.content.decode()
    rows = html.split('class="delivery-row')[1:]
    assert len(rows) == 3
    assert "outcome-ignored" in rows[0] and "was deleted" in rows[0]
    # A private repository: the sender got the same 404 as for an unknown
    # one; its admins see why.
    assert "outcome-rejected" in rows[1] and "404" in rows[1] and "X-Gitlab-Token does not match" in rows[1]
    job = Job.objects.get(pk=accepted["jobs"][0])
    assert "outcome-accepted" in rows[2] and f'href="/jobs/{job.pk}/"' in rows[2] and "202" in rows[2]
    delivery = Delivery.objects.get(pk=accepted["delivery"])
    assert delivery.delivery_id in rows[2] and "Push Hook" in rows[2]
    # Only authenticated deliveries can be replayed.
    assert "Replay" in rows[2] and "Replay" not in rows[1]


def test_it_paginates(client, repo, people):
    for i in range(30):
        Delivery.objects.create(provider="gitlab", repository=repo, outcome="ignored", reason=f"r{i}", event="x")
    client.force_login(people["admin"])
    first = client.get("/repos/acme/widgets/deliveries/").content.decode()
    second = client.get("/repos/acme/widgets/deliveries/?page=2").content.decode()
    assert first.count('class="delivery-row') == 25 and second.count('class="delivery-row') == 5
    assert "older" in first and "page 1 of 2" in first


def test_it_is_only_for_repository_admins(client, repo, people):
    url = "/repos/acme/widgets/deliveries/"
    assert client.get(url).status_code == 404  # private: anonymous can't know it exists
    client.force_login(people["outsider"])
    assert client.get(url).status_code == 404
    client.force_login(people["reader"])
    assert client.get(url).status_code == 403
    client.force_login(people["staff"])
    assert client.get(url).status_code == 200


def test_replay_builds_the_delivery_again(client, repo, people):
    first = push(client).json()
    client.force_login(people["admin"])
    r = client.post(f"/deliveries/{first['delivery']}/replay", follow=True)
    assert r.status_code == 200
    assert "Replayed delivery" in r.content.decode() and "202 accepted" in r.content.decode()
    assert Job.objects.count() == 2
    new = Delivery.objects.exclude(pk=first["delivery"]).get()
    assert new.replay_of_id == first["delivery"] and new.outcome == "accepted" and new.delivery_id == ""


def test_replay_needs_admin_and_post(client, repo, people):
    first = push(client).json()
    url = f"/deliveries/{first['delivery']}/replay"
    client.force_login(people["reader"])
    assert client.post(url).status_code == 403
    client.force_login(people["admin"])
    assert client.get(url).status_code == 405
    assert client.post("/deliveries/999999/replay").status_code == 404
    assert Job.objects.count() == 1


def test_replay_refuses_a_delivery_that_never_authenticated(client, repo, people):
    bad = push(client, secret="wrong").json()
    client.force_login(people["admin"])
    r = client.post(f"/deliveries/{bad['delivery']}/replay", follow=True)
    assert "never authenticated" in r.content.decode()
    assert not Job.objects.exists()


def test_replay_checks_a_signed_delivery_against_the_current_secret(client, make_repository, people):
    r = make_repository("acme/signed", provider="gitea")
    first = post(client, "gitea", aim_push("gitea", "push__docs_example", "acme/signed", SHA), "push").json()
    r.webhook_secret = "rotated"
    r.save()
    client.force_login(people["staff"])
    page = client.post(f"/deliveries/{first['delivery']}/replay", follow=True).content.decode()
    assert "403" in page and "does not match" in page
    assert Job.objects.count() == 1


def test_the_admin_replay_action_still_works(client, repo, people):
    first = push(client).json()
    client.force_login(people["staff"])
    r = client.post(
        "/admin/webhooks/delivery/", {"action": "replay", "_selected_action": [first["delivery"]]}, follow=True
    )
    assert r.status_code == 200 and "replayed" in r.content.decode()
    assert Job.objects.count() == 2


def test_the_repository_page_shows_how_to_set_the_hook_up(client, make_repository, people):
    for provider, words in [
        ("github", ["application/json", "Settings → Webhooks", "/webhooks/github/"]),
        ("gitea", ["application/json", "Forgejo", "/webhooks/gitea/"]),
        ("gogs", ["application/json", "Gogs", "/webhooks/gogs/"]),
        ("gitlab", ["Secret token", "Merge request events", "/webhooks/gitlab/"]),
        ("bitbucket", ["Pull Request: Created, Updated", "/webhooks/bitbucket/"]),
    ]:
        make_repository(f"acme/{provider}", provider=provider)
        client.force_login(people["staff"])
        html = client.get(f"/repos/acme/{provider}/").content.decode()
        for word in words:
            assert word in html, (provider, word)
