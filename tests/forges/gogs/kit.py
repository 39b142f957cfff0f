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
    pr = {
        "opened": ("pull_request", "pull_request__opened"),
        "reopened": ("pull_request", "pull_request__reopened"),
        "synchronize": ("pull_request", "pull_request__synchronized"),
        "closed": ("pull_request", "pull_request__closed"),
    }
    pr_facts = dict(number=2, title="huge improvements", source="feature", target="master")
    ignored = [("create", "create__branch")]

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

    def set_pr_source_branch(self, p, branch):
        p["pull_request"]["head_branch"] = branch  # Gogs names the branches only

    def pr_commit(self, sha):
        return ""  # the worker builds the pull request's ref

    def hook_test(self, full_name, sha):
        # "Test Delivery" sends a push of the default branch's head with
        # before == after, as Gitea's does.
        p = self.aimed_push(self.push[1], full_name, sha)
        p["before"] = sha
        return "push", p


FLAVORS = [Gogs()]
