"""What a forge's test kit describes: how its deliveries look on the wire.

A "flavor" is one way of sending: its headers, its signature, which of the
forge's documented payloads (tests/forges/<id>/payloads/, see SOURCES.md
there) is a push, a tag or a pull request, and where in them the repository,
the ref and the commit are named. Each forge's flavors are in
tests/forges/<id>/kit.py (Gitea's folder has two: Forgejo posts to the
Gitea receiver with its own headers); tests/forges/forge_kit.py collects
them over the registry.

The defaults below are the shape GitHub's payloads set and Gitea's and
Gogs' follow (`repository.full_name`, a push's `after`, `ref` and
`commits`, a pull request's `pull_request`); a kit overrides what differs.
This module imports no kit, so the kits and forge_kit.py can import it.
"""

import copy
import hashlib
import hmac

from tests.support import fixture


class Flavor:
    # The test id ("github", "forgejo") and the forge id it posts to
    # (/webhooks/<forge>/, Repository.provider).
    name = ""
    forge = ""
    event_header = ""
    delivery_header = ""
    auth_header = ""
    # The other headers the forge sends with the same value as one above
    # (Forgejo repeats the X-Gitea-* ones): {header: header it copies}.
    copies = {}
    # (event header value, payload fixture) of a branch push and a tag push.
    push = ("", "")
    tag = ("", "")
    # Pull request action → (event header value, payload fixture).
    pr = {}
    # The ref a pull request's job fetches ({n}: its number, {branch}: the
    # source branch).
    pr_ref = "refs/pull/{n}/head"
    # What the documented "opened" sample says about itself (and the other
    # actions' samples too, when they describe the same pull request).
    pr_facts = {}
    pr_facts_every_action = False
    # Whether auth_header covers the body (GitLab's token does not), and a
    # top-level field a push cannot do without.
    signs_body = True
    required = "ref"
    # (event header value, payload fixture) of deliveries Herald records and
    # does not build.
    ignored = []

    @property
    def payloads(self):
        """The folder under tests/forges/ that holds the payloads."""
        return self.forge

    def __repr__(self):
        return f"<Flavor {self.name}>"

    # --- signing ------------------------------------------------------------------

    def sign(self, secret, body):
        """The value of auth_header for a body: by default the hex HMAC-SHA256."""
        return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    def refusal_status(self, status):
        """The status a refused delivery gets (see GitLab's kit)."""
        return status

    # --- pointing payloads at a repository and a commit ---------------------------

    def load(self, name):
        return fixture(self.payloads, name)

    def aimed_push(self, name, full_name, sha, ref=None, message=None):
        p = copy.deepcopy(self.load(name))
        self.set_repo(p, full_name)
        return self.aim_push(p, sha, ref=ref, message=message)

    def aimed_pr(self, name, full_name, sha, number=None):
        p = copy.deepcopy(self.load(name))
        self.set_repo(p, full_name)
        return self.aim_pr(p, sha, number=number)

    def set_repo(self, p, full_name):
        p["repository"]["full_name"] = full_name
        pr = p.get("pull_request") or {}
        for side in ("base", "head"):
            if isinstance((pr.get(side) or {}).get("repo"), dict):
                pr[side]["repo"]["full_name"] = full_name

    def aim_push(self, p, sha, ref=None, message=None):
        old = p["after"]
        p["after"] = sha
        if ref:
            p["ref"] = ref
        for commit in [p.get("head_commit")] + list(p.get("commits") or []):
            if isinstance(commit, dict) and commit.get("id") == old:
                commit["id"] = sha
                if message is not None:
                    commit["message"] = message
        return p

    def aim_pr(self, p, sha, number=None):
        p["pull_request"]["head"]["sha"] = sha
        if number:
            p["number"] = p["pull_request"]["number"] = number
        return p

    def set_pr_source_branch(self, p, branch):
        p["pull_request"]["head"]["ref"] = branch

    def pr_commit(self, sha):
        """The commit a pull request's job records when the payload names `sha`."""
        return sha

    # --- the deliveries the common tests send besides pushes and pull requests ----

    def branch_deleted(self, full_name, sha):
        """(event, payload) of a branch deletion: by default a push to the
        zero sha (Gitea, Gogs)."""
        event, name = self.push
        return event, self.aimed_push(name, full_name, "0" * 40)

    def hook_test(self, full_name, sha):
        """(event, payload) of the forge's "test the hook" delivery, or None
        when it has none Herald answers specially."""
        return None


class OAuthFake:
    """How the tests common to every forge with sign-in (tests/oauth/) drive
    that forge's fake (tests/forges/<id>/fake_server.py): a forge with an
    OAuth provider in the registry names one as `OAUTH` in its kit.py."""

    forge = ""
    # The FakeServer subclass, and the user signed in on it in the browser.
    fake_class = None
    login = ""
    # The status the forge's authorize page redirects back to Herald with.
    redirect = 302
    # An organisation as HERALD_ORGS names it on this forge, and the API
    # request (a path regex) that lists the signed-in user's organisations.
    org = "acme"
    orgs_path = ""
    # The field of a commit status post that carries its context.
    context_field = "context"

    def __repr__(self):
        return f"<OAuthFake {self.forge}>"

    def start(self, settings=None):
        """The fake, started, with a pytest-django `settings` pointed at it
        (a LiveHerald takes `fake.env()` instead)."""
        fake = self.fake_class().start()
        if settings is not None:
            fake.configure(settings)
        fake.login_as = self.login
        fake.add_user(self.login)
        return fake

    def add_admin_repo(self, fake, full_name, clone_url=None):
        """A repository the signed-in user may add a hook to."""
        fake.add_repo(full_name, permission="admin", clone_url=clone_url)

    def hook_secret(self, fake, full_name):
        """The secret Herald gave the forge with the repository's hook."""
        return fake.hook_secret(full_name)

    def clone_user(self, login):
        """The user name git sends with the token over HTTP Basic (Gitea: the
        account's login)."""
        return login
