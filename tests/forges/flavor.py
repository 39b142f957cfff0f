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

import hashlib
import hmac


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
    # What the documented "opened" sample says about itself.
    pr_facts = {}

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
