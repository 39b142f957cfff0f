"""How GitHub's deliveries look (see tests/forges/flavor.py): its payloads
set the shape the defaults follow, so only the headers and fixtures are here;
and how tests/oauth/ signs in with it (OAUTH)."""

import copy

from tests.forges.flavor import Flavor, OAuthFake
from tests.forges.github.fake_server import FakeGitHub


class GitHub(Flavor):
    name = forge = "github"
    event_header = "X-GitHub-Event"
    delivery_header = "X-GitHub-Delivery"
    auth_header = "X-Hub-Signature-256"
    push = ("push", "push__new_branch")
    tag = ("push", "push__tag_created")
    pr = {
        "opened": ("pull_request", "pull_request__opened"),
        "reopened": ("pull_request", "pull_request__reopened"),
        "synchronize": ("pull_request", "pull_request__synchronize"),
        "closed": ("pull_request", "pull_request__closed"),
    }
    pr_facts = dict(number=2, title="Update the README with new information.", source="changes", target="master")
    ignored = [("star", "star__created")]

    def sign(self, secret, body):
        return "sha256=" + super().sign(secret, body)

    def branch_deleted(self, full_name, sha):
        p = copy.deepcopy(self.load("push__tag_deleted"))
        self.set_repo(p, full_name)
        return "push", p

    def hook_test(self, full_name, sha):
        p = copy.deepcopy(self.load("ping__payload"))
        self.set_repo(p, full_name)
        return "ping", p


FLAVORS = [GitHub()]


class GitHubOAuth(OAuthFake):
    forge = "github"
    fake_class = FakeGitHub
    login = "octocat"
    orgs_path = "^/api/v3/user/orgs$"

    def clone_user(self, login):
        return "x-access-token"  # GitHub takes an OAuth token with this user name


OAUTH = GitHubOAuth()
