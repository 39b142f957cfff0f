"""GitHub (and GitHub Enterprise Server) webhooks.

https://docs.github.com/en/webhooks/webhook-events-and-payloads
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
"""

import hashlib

from builds import constants as C
from forges.webhook import (
    ZERO_SHA,
    Adapter,
    BuildRequest,
    Ignored,
    Ping,
    Rejected,
    branch_or_tag,
    changed_files,
    check_sha,
    get,
    hmac_hex,
    parse_json_or_form,
    previous_commit,
    require,
    signature_matches,
)

BUILD_PR_ACTIONS = {"opened", "reopened", "synchronize"}
# The push payload's `commits` "includes a maximum of 20 commits", says
# GitHub's schema (adding that the cap applies to timeline events, not to
# webhooks): with 20 or more listed, take the list as possibly cut short and
# let the worker diff.
LISTED_COMMITS_CAP = 20


class GitHub(Adapter):
    provider = "github"
    event_header = "X-GitHub-Event"
    delivery_headers = ("X-GitHub-Delivery",)
    recorded_headers = (
        "X-GitHub-Event",
        "X-GitHub-Delivery",
        "X-GitHub-Hook-ID",
        "X-Hub-Signature-256",
        "X-Hub-Signature",
        "Content-Type",
        "User-Agent",
    )

    def decode(self, headers, body):
        # The hook's "Content type: application/x-www-form-urlencoded"
        # setting sends the JSON in a `payload` form field.
        return parse_json_or_form(headers, body)

    def repository_name(self, payload):
        return require(payload, "repository", "full_name")

    def authenticate(self, headers, body, repository):
        secret = repository.webhook_secret
        sha256 = headers.get("X-Hub-Signature-256")
        if sha256 is not None:
            algo, _, given = sha256.partition("=")
            if algo != "sha256" or not signature_matches(hmac_hex(secret, body), given):
                raise Rejected(403, "X-Hub-Signature-256 does not match the repository's webhook secret")
            return
        sha1 = headers.get("X-Hub-Signature")
        if sha1 is not None:
            # Legacy hooks (old GitHub Enterprise) sign with SHA-1 only;
            # SHA-1 is accepted only where an admin said such a server sends.
            if not repository.accept_sha1_signature:
                raise Rejected(
                    401,
                    "only the legacy SHA-1 X-Hub-Signature was sent, and this repository does not"
                    " accept it: use a GitHub that sends X-Hub-Signature-256, or allow SHA-1 for"
                    " the repository in Herald's admin",
                )
            algo, _, given = sha1.partition("=")
            if algo != "sha1" or not signature_matches(hmac_hex(secret, body, hashlib.sha1), given):
                raise Rejected(403, "X-Hub-Signature does not match the repository's webhook secret")
            return
        raise Rejected(401, "no X-Hub-Signature-256 header: set the webhook's secret on GitHub")

    def parse(self, event, payload):
        if event == "ping":
            raise Ping("ping: the hook is set up")
        if event == "push":
            return self.push(payload)
        if event == "pull_request":
            return self.pull_request(payload)
        raise Ignored(f"{event} events do not trigger builds")

    def push(self, payload):
        ref = require(payload, "ref")
        if payload.get("deleted") or payload.get("after") == ZERO_SHA:
            raise Ignored(f"{ref} was deleted")
        sha = check_sha(require(payload, "after"))
        head = payload.get("head_commit") or {}
        message = get(head, "message")
        author = get(head, "author", "name") or get(payload, "pusher", "name") or get(payload, "sender", "login")
        event, branch, tag = branch_or_tag(ref)
        # A new branch, a force push, a tag: nothing to compare with.
        forced = payload.get("created") or payload.get("forced") or event == C.TAG
        before = "" if forced else previous_commit(payload.get("before"))
        commits = payload.get("commits")
        listed = isinstance(commits, list) and len(commits) < LISTED_COMMITS_CAP
        return BuildRequest(
            event=event,
            commit=sha,
            ref=ref,
            branch=branch,
            tag=tag,
            message=message,
            author=author,
            before=before,
            changed_files=changed_files(commits, complete=bool(before) and listed),
        )

    def pull_request(self, payload):
        action = require(payload, "action")
        if action not in BUILD_PR_ACTIONS:
            raise Ignored(f"pull request {action} does not trigger builds")
        pr = require(payload, "pull_request")
        number = require(payload, "number") if payload.get("number") else require(pr, "number")
        head_repo = get(pr, "head", "repo", "full_name")
        base_repo = get(pr, "base", "repo", "full_name") or get(payload, "repository", "full_name")
        return BuildRequest(
            event=C.PULL_REQUEST,
            commit=check_sha(require(pr, "head", "sha"), "pull_request.head.sha"),
            ref=f"refs/pull/{int(number)}/head",
            branch=get(pr, "base", "ref"),
            message=get(pr, "title"),
            author=get(pr, "user", "login") or get(payload, "sender", "login"),
            pr_number=int(number),
            pr_title=get(pr, "title"),
            source_branch=get(pr, "head", "ref"),
            target_branch=get(pr, "base", "ref"),
            source_repo=head_repo,
            # No head repository: the fork was deleted. Its code is still
            # someone else's, so it counts as a fork.
            from_fork=not head_repo or head_repo.lower() != (base_repo or "").lower(),
            author_id=get(pr, "user", "id"),
            author_login=get(pr, "user", "login"),
        )

    def instructions(self, repository):
        return {
            "where": "Settings → Webhooks → Add webhook",
            "content_type": "application/json",
            "events": "Just the push event, plus Pull requests (or “Send me everything”)",
            "secret_field": "Secret",
        }
