"""Gitea and Forgejo webhooks (one adapter: Forgejo is a Gitea fork and
sends the same payloads, under X-Forgejo-* headers as well as X-Gitea-*).

https://docs.gitea.com/usage/webhooks
https://forgejo.org/docs/latest/user/webhooks/
Payload structs: code.gitea.io/gitea modules/structs/hook.go
"""

from builds import constants as C
from forges.webhook import (
    ZERO_SHA,
    Adapter,
    BuildRequest,
    Ignored,
    Ping,
    branch_or_tag,
    changed_files,
    check_sha,
    get,
    parse_json_or_form,
    previous_commit,
    require,
)

BUILD_PR_ACTIONS = {"opened", "reopened", "synchronized"}


class Gitea(Adapter):
    provider = "gitea"
    event_header = "X-Gitea-Event"
    event_headers = ("X-Forgejo-Event", "X-Gitea-Event")
    delivery_headers = ("X-Forgejo-Delivery", "X-Gitea-Delivery")
    # Forgejo sends both signatures, with the same value. Gitea also sends
    # X-Hub-Signature-256 for GitHub-style receivers: deliberately not
    # consulted, the checker is chosen by the URL's forge.
    signature_headers = ("X-Forgejo-Signature", "X-Gitea-Signature")
    recorded_headers = (
        "X-Gitea-Event",
        "X-Gitea-Event-Type",
        "X-Gitea-Delivery",
        "X-Gitea-Signature",
        "X-Forgejo-Event",
        "X-Forgejo-Event-Type",
        "X-Forgejo-Delivery",
        "X-Forgejo-Signature",
        "Content-Type",
        "User-Agent",
    )
    pull_ref = "refs/pull/{number}/head"

    def event_name(self, headers):
        for header in self.event_headers:
            value = headers.get(header, "").strip()
            if value:
                return value
        return ""

    def decode(self, headers, body):
        return parse_json_or_form(headers, body)

    def repository_name(self, payload):
        return require(payload, "repository", "full_name")

    def authenticate(self, headers, body, repository):
        self.require_hmac(headers, body, repository.webhook_secret, self.signature_headers)

    def parse(self, event, payload):
        if event == "push":
            return self.push(payload)
        if event == "pull_request":
            return self.pull_request(payload)
        raise Ignored(f"{event} events do not trigger builds")

    def push(self, payload):
        ref = require(payload, "ref")
        after = require(payload, "after")
        if after == ZERO_SHA:
            raise Ignored(f"{ref} was deleted")
        if after == payload.get("before"):
            # The settings page's "Test Delivery" sends the branch head as
            # both before and after; no real push leaves a ref unchanged.
            raise Ping("test delivery: the hook is set up")
        sha = check_sha(after)
        head = self.head_commit(payload, sha)
        event, branch, tag = branch_or_tag(ref)
        before = previous_commit(payload.get("before")) if event == C.PUSH else ""
        # Gitea lists at most [ui] FEED_MAX_COMMIT_NUM commits and says how
        # many the push had in total_commits (since 1.18); Gogs lists as few
        # and never says: its lists count only with the total beside them.
        commits, total = payload.get("commits"), payload.get("total_commits")
        listed = isinstance(total, int) and isinstance(commits, list) and total == len(commits)
        return BuildRequest(
            event=event,
            commit=sha,
            ref=ref,
            branch=branch,
            tag=tag,
            message=get(head, "message"),
            author=get(head, "author", "name") or get(payload, "pusher", "login") or get(payload, "sender", "login"),
            before=before,
            changed_files=changed_files(commits, complete=bool(before) and listed),
        )

    @staticmethod
    def head_commit(payload, sha):
        if isinstance(payload.get("head_commit"), dict):
            return payload["head_commit"]
        commits = payload.get("commits") or []
        for commit in commits:
            if isinstance(commit, dict) and commit.get("id") == sha:
                return commit
        return {}

    def pull_request(self, payload):
        action = require(payload, "action")
        if action not in BUILD_PR_ACTIONS:
            raise Ignored(f"pull request {action} does not trigger builds")
        pr = require(payload, "pull_request")
        number = int(payload.get("number") or require(pr, "number"))
        base_repo = get(pr, "base", "repo", "full_name") or get(payload, "repository", "full_name")
        head_repo = get(pr, "head", "repo", "full_name") or base_repo
        head_id, base_id = get(pr, "head", "repo_id"), get(pr, "base", "repo_id")
        from_fork = head_repo.lower() != base_repo.lower() or (bool(head_id) and bool(base_id) and head_id != base_id)
        return BuildRequest(
            event=C.PULL_REQUEST,
            commit=check_sha(require(pr, "head", "sha"), "pull_request.head.sha"),
            # The forge keeps the head of every pull request, forks included,
            # under this ref of the base repository.
            ref=self.pull_ref.format(number=number),
            branch=get(pr, "base", "ref"),
            message=get(pr, "title"),
            author=get(pr, "user", "login") or get(payload, "sender", "login"),
            pr_number=number,
            pr_title=get(pr, "title"),
            source_branch=get(pr, "head", "ref"),
            target_branch=get(pr, "base", "ref"),
            source_repo=head_repo,
            from_fork=from_fork,
            author_id=get(pr, "user", "id"),
            author_login=get(pr, "user", "login") or get(pr, "user", "username"),
        )

    def instructions(self, repository):
        return {
            "where": "Settings → Webhooks → Add webhook → Gitea (on Forgejo: Forgejo)",
            "content_type": "application/json",
            "events": "Custom events: Push, and Pull request (Pull request events → Modification/Synchronized)",
            "secret_field": "Secret",
        }
