"""How Bitbucket Cloud's deliveries look (see tests/forges/flavor.py): the
event is X-Event-Key, a push is a list of `changes`, a pull request the
`pullrequest` object (the same for every pullrequest:* event)."""

from tests.forges.flavor import Flavor


class Bitbucket(Flavor):
    name = forge = "bitbucket"
    event_header = "X-Event-Key"
    delivery_header = "X-Request-UUID"
    auth_header = "X-Hub-Signature"
    push = ("repo:push", "repo_push__branch")
    # A tag push is the push sample with `new.type: "tag"` (aim_push's ref).
    tag = ("repo:push", "repo_push__branch")
    # Bitbucket names the change in X-Event-Key; the body is the same
    # pullrequest object for every pullrequest:* event.
    pr = {
        "opened": ("pullrequest:created", "pullrequest__created"),
        "synchronize": ("pullrequest:updated", "pullrequest__created"),
        "closed": ("pullrequest:rejected", "pullrequest__created"),
    }
    # Bitbucket has no pull request refs: the source branch is fetched.
    pr_ref = "refs/heads/{branch}"
    pr_facts = dict(number=2, title="aha", source="wen-emos", target="niam")
    required = "push"
    ignored = [("pullrequest:fulfilled", "pullrequest__created")]

    def sign(self, secret, body):
        return "sha256=" + super().sign(secret, body)

    def set_repo(self, p, full_name):
        p["repository"]["full_name"] = full_name
        bpr = p.get("pullrequest") or {}
        for side in ("source", "destination"):
            if isinstance((bpr.get(side) or {}).get("repository"), dict):
                bpr[side]["repository"]["full_name"] = full_name

    def aim_push(self, p, sha, ref=None, message=None):
        change = p["push"]["changes"][0]
        change["new"]["target"]["hash"] = sha
        change["commits"][0]["hash"] = sha
        if ref:
            kind, _, short = ref.partition("/")[2].partition("/")
            change["new"]["type"] = {"heads": "branch", "tags": "tag"}[kind]
            change["new"]["name"] = short
        if message is not None:
            change["new"]["target"]["message"] = message
        return p

    def aim_pr(self, p, sha, number=None):
        # Pull request events give 12-character commit hashes.
        p["pullrequest"]["source"]["commit"]["hash"] = sha[:12]
        if number:
            p["pullrequest"]["id"] = number
        return p

    def set_pr_source_branch(self, p, branch):
        p["pullrequest"]["source"]["branch"]["name"] = branch

    def pr_commit(self, sha):
        return sha[:12]  # stored as sent

    def branch_deleted(self, full_name, sha):
        # Atlassian: a deleted branch's change has "new": null.
        event, name = self.push
        p = self.aimed_push(name, full_name, sha)
        p["push"]["changes"][0]["new"] = None
        return event, p


FLAVORS = [Bitbucket()]
