"""How Gitea's and Forgejo's deliveries look (see tests/forges/flavor.py).
Forgejo posts the same bodies to the Gitea receiver with its own headers,
and the X-Gitea-* ones alongside. OAUTH: how tests/oauth/ signs in with it."""

from tests.forges.flavor import Flavor, OAuthFake
from tests.forges.gitea.fake_server import FakeGitea


class Gitea(Flavor):
    name = forge = "gitea"
    event_header = "X-Gitea-Event"
    delivery_header = "X-Gitea-Delivery"
    auth_header = "X-Gitea-Signature"
    # Gitea also sends a `create` event for a tag; Herald builds the push.
    push = tag = ("push", "push__docs_example")
    pr = {
        "opened": ("pull_request", "pull_request__opened"),
        "reopened": ("pull_request", "pull_request__reopened"),
        "synchronize": ("pull_request", "pull_request__synchronized"),
        "closed": ("pull_request", "pull_request__closed"),
    }
    pr_facts = dict(number=1, title="Update the README with new information", source="feature/changes", target="main")
    # Gitea builds tags from the push event it also sends.
    ignored = [("create", "create__tag"), ("issues", "create__tag")]

    def hook_test(self, full_name, sha):
        # "Test Delivery" sends a push of the default branch's head with
        # before == after.
        p = self.aimed_push(self.push[1], full_name, sha)
        p["before"] = sha
        return "push", p


class Forgejo(Gitea):
    name = "forgejo"
    event_header = "X-Forgejo-Event"
    delivery_header = "X-Forgejo-Delivery"
    auth_header = "X-Forgejo-Signature"
    # Forgejo also sends the Gitea names, with the same values.
    copies = {"X-Gitea-Event": "X-Forgejo-Event", "X-Gitea-Signature": "X-Forgejo-Signature"}


FLAVORS = [Gitea(), Forgejo()]


class GiteaOAuth(OAuthFake):
    forge = "gitea"
    fake_class = FakeGitea
    login = "gordon"
    redirect = 303  # Gitea redirects back with 303
    orgs_path = "^/api/v1/user/orgs$"


OAUTH = GiteaOAuth()
