"""Gitea's and Forgejo's webhooks where they differ from the other forges'
(the tests common to all forges are in tests/forges/test_webhooks.py)."""

from tests.forges.forge_kit import PUSH, aim_push, post
from webhooks.models import Delivery

SHA = "1234567890abcdef1234567890abcdef12345678"
REPO = "acme/widgets"


def push(client, flavor, sha=SHA):
    event, name = PUSH[flavor]
    return post(client, flavor, aim_push(flavor, name, REPO, sha), event)


def test_forgejo_and_gitea_headers_reach_the_same_receiver(client, repo_for):
    repo_for("gitea")
    assert push(client, "gitea").status_code == 202
    r = push(client, "forgejo", sha="f" * 40)
    assert r.status_code == 202
    assert Delivery.objects.filter(provider="gitea", outcome="accepted").count() == 2
