"""How plain git's deliveries look (see tests/forges/flavor.py): the body
its post-receive hook sends, one ref a request, signed in
X-Herald-Signature-256 as `sha256=<hex>`. No event header (every request is
a push), no pull requests, no hook test."""

from tests.forges.flavor import Flavor


class Git(Flavor):
    name = forge = "git"
    event_header = ""
    delivery_header = "X-Herald-Delivery"
    auth_header = "X-Herald-Signature-256"
    push = ("push", "push__branch")
    tag = ("push", "push__tag")
    required = "after"

    def sign(self, secret, body):
        return "sha256=" + super().sign(secret, body)

    def set_repo(self, p, full_name):
        p["repository"] = full_name

    def aim_push(self, p, sha, ref=None, message=None):
        p["after"] = sha
        if ref:
            p["ref"] = ref
        if message is not None:
            p["message"] = message
        return p


FLAVORS = [Git()]
