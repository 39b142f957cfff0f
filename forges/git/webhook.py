"""Plain git's receiver: what forges/git/post-receive sends.

The request is Herald's own format (docs/DESIGN.md):

    POST /webhooks/git/
    Content-Type: application/json
    X-Herald-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with the webhook secret>
    X-Herald-Delivery: <id>            (optional: a repeated id is a redelivery)

    {"repository": "owner/name", "ref": "refs/heads/main", "before": "<sha>", "after": "<sha>"}

One request is one updated ref. The body names no commit details, so the
hook adds two optional fields, "message" (the commit's message) and
"author" (its author's name), for the job page and for "[skip ci]"; a body
without them builds the same commit with both empty.

There is no event header: every request is a push (a branch, or a tag).
"""

from builds import constants as C
from forges.webhook import (
    ZERO_SHA,
    Adapter,
    BuildRequest,
    Ignored,
    Rejected,
    branch_or_tag,
    check_sha,
    get,
    hmac_hex,
    previous_commit,
    require,
    signature_matches,
)

SIGNATURE_HEADER = "X-Herald-Signature-256"
DELIVERY_HEADER = "X-Herald-Delivery"


class Git(Adapter):
    provider = "git"
    # Named in the one refusal the receiver makes for a missing event,
    # which cannot happen here (event_name always answers "push").
    event_header = "X-Herald-Event"
    delivery_headers = (DELIVERY_HEADER,)
    recorded_headers = (DELIVERY_HEADER, SIGNATURE_HEADER, "Content-Type", "User-Agent")

    def event_name(self, headers):
        return "push"

    def repository_name(self, payload):
        return require(payload, "repository")

    def authenticate(self, headers, body, repository):
        given = headers.get(SIGNATURE_HEADER)
        if given is None:
            raise Rejected(
                401,
                f"no {SIGNATURE_HEADER} header: set herald.secret in the repository's git config"
                " (the webhook secret addrepo printed)",
            )
        algo, _, digest = given.strip().partition("=")
        if algo != "sha256" or not signature_matches(hmac_hex(repository.webhook_secret, body), digest):
            raise Rejected(403, f"{SIGNATURE_HEADER} does not match the repository's webhook secret")

    def parse(self, event, payload):
        ref = require(payload, "ref")
        if not isinstance(ref, str):
            raise Rejected(400, "payload ref is not a string")
        before = check_sha(require(payload, "before"), "before")
        after = check_sha(require(payload, "after"), "after")
        event, branch, tag = branch_or_tag(ref)  # other refs: Ignored
        if after == ZERO_SHA:
            raise Ignored(f"{'branch ' + branch if branch else 'tag ' + tag} was deleted")
        return BuildRequest(
            event=event,
            commit=after,
            ref=ref,
            branch=branch,
            tag=tag,
            message=get(payload, "message"),
            author=get(payload, "author"),
            # The hook lists no files: the worker compares the two commits.
            before=previous_commit(before) if event == C.PUSH else "",
        )

    def instructions(self, repository):
        return {
            "where": (
                "the bare repository's hooks/post-receive, a copy of Herald's forges/git/post-receive"
                " (manage.py addrepo --provider git prints the commands)"
            ),
            "content_type": "application/json (the hook sends it)",
            "events": "every branch and tag a push updates, one request each",
            "secret_field": "git config herald.secret",
        }
