"""Notifications as people with push rights manage them: the repository
page's section and its own page, the API, the admin. Secrets are write-only;
bad input gets the reason and nothing is saved; no push rights, no access."""

import json

import pytest

from repositories.models import ApiToken, Membership
from repositories.notifications.models import Notification

SLACK_URL = "https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx"


@pytest.fixture
def repo(make_repository, users, member):
    repo = make_repository(private=True)
    member(users.pusher, repo, Membership.PUSH)
    member(users.reader, repo, Membership.PULL)
    return repo


def call(client, method, path, user=None, body=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user)}"} if user else {}
    data = body if isinstance(body, (str, bytes)) else json.dumps(body) if body is not None else ""
    return getattr(client, method)(path, data=data, content_type="application/json", **headers)


# --- the settings page --------------------------------------------------------


def test_pushers_add_an_email_on_the_repository_page(repo, users, client):
    client.force_login(users.pusher)
    page = client.get("/repos/acme/widgets/").content.decode()
    assert 'id="notifications"' in page and 'id="notification-form"' in page
    r = client.post(
        "/repos/acme/widgets/notifications",
        {"kind": "email", "target": "team@widgets.test", "when": "failure_fixed", "branches": "default"},
    )
    assert r.status_code == 302 and r["Location"] == "/repos/acme/widgets/#notifications"
    n = Notification.objects.get()
    assert (n.kind, n.target, n.when, n.branches, n.created_by) == (
        "email",
        "team@widgets.test",
        "failure_fixed",
        "default",
        users.pusher,
    )
    page = client.get("/repos/acme/widgets/").content.decode()
    assert "team@widgets.test" in page and "Notification added" in page


def test_a_webhook_secret_made_by_herald_is_shown_once(repo, users, client):
    client.force_login(users.pusher)
    r = client.post(
        "/repos/acme/widgets/notifications",
        {"kind": "webhook", "target": "https://hooks.widgets.test/ci", "when": "always", "branches": "all"},
    )
    secret = Notification.objects.get().secret
    assert r.status_code == 200 and len(secret) == 64 and secret in r.content.decode()
    assert secret not in client.get("/repos/acme/widgets/").content.decode()
    assert secret not in client.get("/repos/acme/widgets/notifications").content.decode()


def test_a_slack_url_is_never_shown_back(repo, users, client):
    client.force_login(users.pusher)
    client.post(
        "/repos/acme/widgets/notifications",
        {"kind": "slack", "target": SLACK_URL, "when": "failure", "branches": "default"},
    )
    n = Notification.objects.get()
    assert n.secret == SLACK_URL and n.target == "https://hooks.slack.com/…"
    for page in ("/repos/acme/widgets/", "/repos/acme/widgets/notifications"):
        html = client.get(page).content.decode()
        assert "https://hooks.slack.com/…" in html and "abcdefghijklmnopqrstuvwx" not in html and "T0001" not in html


@pytest.mark.parametrize(
    "fields,reason",
    [
        ({"kind": "email", "target": "not an address"}, "Enter one valid email address."),
        ({"kind": "webhook", "target": "ftp://hooks.widgets.test/"}, "Use an http:// or https:// URL."),
        ({"kind": "webhook", "target": "https:///path"}, "The URL has no host."),
        ({"kind": "slack", "target": "hooks.slack.com/services/x"}, "Use an http:// or https:// URL."),
        ({"kind": "webhook", "target": "https://h.test/", "secret": "short"}, "Use at least 16 characters."),
        ({"kind": "email", "target": "a@b.test", "secret": "0123456789abcdef"}, "Only webhooks are signed"),
        ({"kind": "pager", "target": "a@b.test"}, "Select a valid choice."),
    ],
)
def test_bad_input_is_refused_with_the_reason(repo, users, client, fields, reason):
    client.force_login(users.pusher)
    r = client.post("/repos/acme/widgets/notifications", {"when": "always", "branches": "all", **fields})
    assert r.status_code == 400 and reason in r.content.decode()
    r = call(
        client,
        "post",
        "/api/repos/acme/widgets/notifications",
        users.pusher,
        {"when": "always", "branches": "all", **fields},
    )
    assert r.status_code == 400 and reason in r.json()["reason"]
    assert not Notification.objects.exists()


def test_pushers_delete_from_the_page(repo, users, client):
    n = Notification.objects.create(repository=repo, kind="email", target="team@widgets.test")
    client.force_login(users.reader)
    assert client.post(f"/notifications/{n.pk}/delete").status_code == 403
    client.force_login(users.outsider)
    # As for an id that never existed: nothing tells a stranger it is there.
    hidden, missing = client.post(f"/notifications/{n.pk}/delete"), client.post("/notifications/999999/delete")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    client.force_login(users.pusher)
    r = client.post(f"/notifications/{n.pk}/delete")
    assert r.status_code == 302 and not Notification.objects.exists()


def test_readers_neither_see_nor_add_notifications(repo, users, client):
    Notification.objects.create(repository=repo, kind="email", target="team@widgets.test")
    client.force_login(users.reader)
    page = client.get("/repos/acme/widgets/").content.decode()
    assert 'id="notifications"' not in page and "team@widgets.test" not in page
    assert client.get("/repos/acme/widgets/notifications").status_code == 403
    r = client.post(
        "/repos/acme/widgets/notifications",
        {"kind": "email", "target": "me@x.test", "when": "always", "branches": "all"},
    )
    assert r.status_code == 403 and Notification.objects.count() == 1
    client.force_login(users.outsider)
    assert client.get("/repos/acme/widgets/notifications").status_code == 404


# --- the API --------------------------------------------------------------------


def test_the_api_adds_lists_and_deletes(repo, users, client):
    r = call(
        client,
        "post",
        "/api/repos/acme/widgets/notifications",
        users.pusher,
        {"kind": "webhook", "target": "https://hooks.widgets.test/ci"},
    )
    assert r.status_code == 201
    made = r.json()
    assert made["secret"] == Notification.objects.get().secret and len(made["secret"]) == 64
    assert (made["kind"], made["target"], made["when"], made["branches"], made["signed"]) == (
        "webhook",
        "https://hooks.widgets.test/ci",
        "failure_fixed",
        "default",
        True,
    )
    given = call(
        client,
        "post",
        "/api/repos/acme/widgets/notifications",
        users.pusher,
        {"kind": "webhook", "target": "https://b.test/", "secret": "my-own-secret-0123456789"},
    ).json()
    assert "secret" not in given  # given, not made: nothing to show
    call(
        client,
        "post",
        "/api/repos/acme/widgets/notifications",
        users.pusher,
        {"kind": "slack", "target": SLACK_URL, "when": "always"},
    )
    r = call(client, "get", "/api/repos/acme/widgets/notifications", users.pusher)
    assert r.status_code == 200
    listed = r.json()["notifications"]
    assert [n["kind"] for n in listed] == ["webhook", "webhook", "slack"]
    text = r.content.decode()
    assert made["secret"] not in text and "my-own-secret" not in text and "abcdefghijklmnop" not in text
    assert all("secret" not in n for n in listed) and listed[2]["target"] == "https://hooks.slack.com/…"
    assert call(client, "delete", f"/api/notifications/{made['id']}", users.pusher).status_code == 204
    assert Notification.objects.count() == 2
    assert call(client, "delete", f"/api/notifications/{made['id']}", users.pusher).status_code == 404


def test_the_api_needs_push_rights(repo, users, client):
    n = Notification.objects.create(repository=repo, kind="email", target="team@widgets.test")
    assert call(client, "get", "/api/repos/acme/widgets/notifications").status_code == 404  # private, anonymous
    assert call(client, "get", "/api/repos/acme/widgets/notifications", users.reader).status_code == 403
    assert call(client, "get", "/api/repos/acme/widgets/notifications", users.outsider).status_code == 404
    r = call(
        client, "post", "/api/repos/acme/widgets/notifications", users.reader, {"kind": "email", "target": "me@x.test"}
    )
    assert r.status_code == 403 and r.json()["reason"] == "You need push access to acme/widgets"
    assert call(client, "delete", f"/api/notifications/{n.pk}", users.reader).status_code == 403
    r = call(client, "delete", f"/api/notifications/{n.pk}", users.outsider)
    assert r.status_code == 404 and r.json()["reason"] == "No such notification"
    assert Notification.objects.count() == 1


@pytest.mark.parametrize(
    "body,reason",
    [
        ("{not json", "the body must be a JSON object"),
        ("[1]", "the body must be a JSON object"),
        ({"kind": "email", "target": "a@b.test", "to": "x"}, "unknown field 'to'"),
        ({"kind": "email", "target": ["a@b.test"]}, "target must be a string"),
        ({"kind": "email"}, "target: This field is required."),
    ],
)
def test_the_api_refuses_bad_bodies(repo, users, client, body, reason):
    r = call(client, "post", "/api/repos/acme/widgets/notifications", users.pusher, body)
    assert r.status_code == 400 and reason in r.json()["reason"]


# --- the admin ------------------------------------------------------------------


def test_admins_add_a_slack_notification_in_the_admin_and_read_deliveries(repo, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-root"))
    r = client.post(
        "/admin/repositories/notification/add/",
        {
            "repository": repo.pk,
            "kind": "slack",
            "target": "",
            "new_secret": SLACK_URL,
            "when": "always",
            "branches": "all",
            "enabled": "on",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    n = Notification.objects.get()
    assert n.secret == SLACK_URL and n.target == "https://hooks.slack.com/…"
    page = client.get(f"/admin/repositories/notification/{n.pk}/change/").content.decode()
    assert "abcdefghijklmnop" not in page
    assert client.get("/admin/repositories/notificationdelivery/").status_code == 200
