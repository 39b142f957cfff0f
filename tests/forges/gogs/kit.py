"""How Gogs' deliveries look (see tests/forges/flavor.py): Gitea's shape,
but tags arrive as `create` events and pull requests carry no commit."""

from tests.forges.flavor import Flavor


class Gogs(Flavor):
    name = forge = "gogs"
    event_header = "X-Gogs-Event"
    delivery_header = "X-Gogs-Delivery"
    auth_header = "X-Gogs-Signature"
    push = ("push", "push__docs_example")
    tag = ("create", "create__tag")
    pr = {"opened": ("pull_request", "pull_request__opened"),
          "reopened": ("pull_request", "pull_request__reopened"),
          "synchronize": ("pull_request", "pull_request__synchronized"),
          "closed": ("pull_request", "pull_request__closed")}
    pr_facts = dict(number=2, title="huge improvements", source="feature", target="master")

    def set_repo(self, p, full_name):
        super().set_repo(p, full_name)
        pr = p.get("pull_request") or {}
        for side in ("base_repo", "head_repo"):
            if isinstance(pr.get(side), dict):
                pr[side]["full_name"] = full_name

    def aim_push(self, p, sha, ref=None, message=None):
        if "ref_type" not in p:
            return super().aim_push(p, sha, ref=ref, message=message)
        # A create event names the short ref and its commit.
        p["sha"] = sha
        if ref:
            p["ref"] = ref.rpartition("/")[2]
        return p

    def aim_pr(self, p, sha, number=None):
        # Gogs sends no commit with a pull request: nothing to point at `sha`.
        if number:
            p["number"] = p["pull_request"]["number"] = number
        return p


FLAVORS = [Gogs()]
