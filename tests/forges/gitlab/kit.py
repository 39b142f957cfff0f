"""How GitLab's deliveries look (see tests/forges/flavor.py): the
repository is the `project`, a merge request is `object_attributes`, and
the "signature" is the secret token itself. OAUTH: how tests/oauth/ signs
in with it."""

import copy

from tests.forges.flavor import Flavor, OAuthFake
from tests.forges.gitlab.fake_server import MAINTAINER, FakeGitLab


class GitLab(Flavor):
    name = forge = "gitlab"
    event_header = "X-Gitlab-Event"
    delivery_header = "Idempotency-Key"
    auth_header = "X-Gitlab-Token"
    push = ("Push Hook", "push__several_commits")
    tag = ("Tag Push Hook", "tag_push__created")
    pr = {
        "opened": ("Merge Request Hook", "merge_request__opened"),
        "reopened": ("Merge Request Hook", "merge_request__reopened"),
        "synchronize": ("Merge Request Hook", "merge_request__updated"),
        "closed": ("Merge Request Hook", "merge_request__closed"),
    }
    pr_ref = "refs/merge-requests/{n}/head"
    pr_facts = dict(number=1, title="MS-Viewport", source="ms-viewport", target="master")
    ignored = [("Wiki Page Hook", "wiki_page__created")]
    pr_facts_every_action = True  # the samples all describe the same merge request
    signs_body = False  # the token is the secret itself

    def sign(self, secret, body):
        return secret

    def refusal_status(self, status):
        # GitLab disables a hook after repeated 4xx answers, so it is told
        # 200 (the delivery record keeps the reason).
        return 200

    def set_repo(self, p, full_name):
        p["project"]["path_with_namespace"] = full_name
        for side in ("source", "target"):
            if isinstance(p.get("object_attributes", {}).get(side), dict):
                p["object_attributes"][side]["path_with_namespace"] = full_name

    def aim_push(self, p, sha, ref=None, message=None):
        p["checkout_sha"] = sha
        return super().aim_push(p, sha, ref=ref, message=message)

    def aim_pr(self, p, sha, number=None):
        p["object_attributes"]["last_commit"]["id"] = sha
        if number:
            p["object_attributes"]["iid"] = number
        return p

    def set_pr_source_branch(self, p, branch):
        p["object_attributes"]["source_branch"] = branch

    def branch_deleted(self, full_name, sha):
        p = copy.deepcopy(self.load("push__branch_deleted"))
        self.set_repo(p, full_name)
        return "Push Hook", p


FLAVORS = [GitLab()]


class GitLabOAuth(OAuthFake):
    forge = "gitlab"
    fake_class = FakeGitLab
    login = "john_smith"
    org = "acme/platform"  # a group, by its full path
    orgs_path = "^/api/v4/groups$"
    # GitLab calls a commit status's context its name.
    context_field = "name"

    def add_admin_repo(self, fake, full_name, clone_url=None):
        # Public, as the other fakes' repositories are by default.
        fake.add_project(full_name, access_level=MAINTAINER, visibility="public", http_url_to_repo=clone_url)

    def hook_secret(self, fake, full_name):
        return fake.hook_token(full_name)

    def clone_user(self, login):
        return "oauth2"  # GitLab takes an OAuth token with this user name


OAUTH = GitLabOAuth()
