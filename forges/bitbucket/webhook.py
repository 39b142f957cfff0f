"""Bitbucket Cloud webhooks.

https://support.atlassian.com/bitbucket-cloud/docs/event-payloads/
https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/ (secrets: X-Hub-Signature, sha256=<hex>)
"""

import forges
from builds import constants as C
from forges.webhook import (
    REPO_NAME_RE,
    Adapter,
    BuildRequest,
    Ignored,
    Ping,
    Rejected,
    check_branch,
    check_sha,
    get,
    hmac_hex,
    previous_commit,
    require,
    signature_matches,
)

BUILD_PR_EVENTS = {"pullrequest:created", "pullrequest:updated"}


class Bitbucket(Adapter):
    provider = "bitbucket"
    event_header = "X-Event-Key"
    delivery_headers = ("X-Request-UUID",)
    recorded_headers = (
        "X-Event-Key",
        "X-Request-UUID",
        "X-Hook-UUID",
        "X-Attempt-Number",
        "X-Hub-Signature",
        "Content-Type",
        "User-Agent",
    )

    def repository_name(self, payload):
        return require(payload, "repository", "full_name")

    def authenticate(self, headers, body, repository):
        # Same header name as GitHub's legacy SHA-1 signature, but SHA-256.
        given = headers.get("X-Hub-Signature")
        if given is None:
            raise Rejected(401, "no X-Hub-Signature header: set the webhook's secret on Bitbucket")
        algo, _, digest = given.partition("=")
        if algo != "sha256" or not signature_matches(hmac_hex(repository.webhook_secret, body), digest):
            raise Rejected(403, "X-Hub-Signature does not match the repository's webhook secret")

    def parse(self, event, payload):
        if event == "diagnostics:ping":
            raise Ping("ping: the hook is set up")
        if event == "repo:push":
            return self.push(payload)
        if event.startswith("pullrequest:"):
            if event not in BUILD_PR_EVENTS:
                raise Ignored(f"{event} does not trigger builds")
            return self.pull_request(payload)
        raise Ignored(f"{event} events do not trigger builds")

    def push(self, payload):
        changes = get(payload, "push", "changes", default=None)
        if not isinstance(changes, list) or not changes:
            raise Rejected(400, "payload has no push.changes")
        # One push may move several branches; each moved ref builds its head
        # (the commits in between do not).
        builds, deleted = [], []
        for change in changes:
            new = change.get("new") if isinstance(change, dict) else None
            if not isinstance(new, dict):
                old_name = get(change, "old", "name") if isinstance(change, dict) else ""
                deleted.append(old_name or "a ref")
                continue
            kind, name = require(new, "type"), require(new, "name")
            if kind == "branch":
                event, ref, branch, tag = C.PUSH, f"refs/heads/{name}", name, ""
            elif kind in ("tag", "annotated_tag"):
                event, ref, branch, tag = C.TAG, f"refs/tags/{name}", "", name
            else:
                continue
            check_branch(name, "push.changes.new.name")
            target = new.get("target") or {}
            # Bitbucket lists no files: the worker compares the old head with
            # the new one, unless the branch is new or was forced.
            before = ""
            if event == C.PUSH and not change.get("forced"):
                before = previous_commit(get(change, "old", "target", "hash"))
            builds.append(
                BuildRequest(
                    event=event,
                    commit=check_sha(require(target, "hash"), "push.changes.new.target.hash"),
                    ref=ref,
                    branch=branch,
                    tag=tag,
                    message=get(target, "message"),
                    author=get(target, "author", "user", "display_name")
                    or get(target, "author", "raw")
                    or get(payload, "actor", "display_name"),
                    before=before,
                )
            )
        if not builds:
            raise Ignored(f"{', '.join(deleted)} was deleted" if deleted else "no branch or tag was pushed")
        return builds

    def pull_request(self, payload):
        pr = require(payload, "pullrequest")
        number = int(require(pr, "id"))
        source_branch = check_branch(require(pr, "source", "branch", "name"), "pullrequest.source.branch.name")
        target_branch = get(pr, "destination", "branch", "name")
        source_repo = get(pr, "source", "repository", "full_name")
        target_repo = get(pr, "destination", "repository", "full_name") or get(payload, "repository", "full_name")
        from_fork = bool(source_repo) and source_repo.lower() != target_repo.lower()
        source_url = ""
        if from_fork:
            # Bitbucket has no pull request ref in the target repository: the
            # fork itself is cloned, from the forge's own base URL and a name
            # checked to be nothing but owner/name (never a URL the payload
            # offers).
            if not REPO_NAME_RE.match(source_repo) or ".." in source_repo:
                raise Rejected(400, "payload pullrequest.source.repository.full_name is not an owner/name")
            base = forges.get(self.provider).base_url
            if not base:
                raise Ignored("HERALD_BITBUCKET_URL is empty: pull requests from forks cannot be built")
            source_url = f"{base}/{source_repo}.git"
        return BuildRequest(
            event=C.PULL_REQUEST,
            # Bitbucket sends 12-character hashes in pull request events.
            commit=check_sha(require(pr, "source", "commit", "hash"), "pullrequest.source.commit.hash", shortest=7),
            ref=f"refs/heads/{source_branch}",
            branch=target_branch,
            message=get(pr, "title"),
            author=get(pr, "author", "display_name") or get(payload, "actor", "display_name"),
            pr_number=number,
            pr_title=get(pr, "title"),
            source_branch=source_branch,
            target_branch=target_branch,
            source_repo=source_repo,
            from_fork=from_fork,
            source_url=source_url,
            author_id=get(pr, "author", "uuid"),
            author_login=get(pr, "author", "nickname"),
        )

    def instructions(self, repository):
        return {
            "where": "Repository settings → Webhooks → Add webhook",
            "content_type": "application/json (Bitbucket always sends JSON)",
            "events": "Repository: Push; Pull Request: Created, Updated",
            "secret_field": "Secret",
        }
