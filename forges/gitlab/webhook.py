"""GitLab webhooks (GitLab.com and self-managed).

https://docs.gitlab.com/user/project/integrations/webhooks/
https://docs.gitlab.com/user/project/integrations/webhook_events/
"""

import hmac

from builds import constants as C
from forges.webhook import (
    ZERO_SHA,
    Adapter,
    BuildRequest,
    Ignored,
    Rejected,
    branch_or_tag,
    changed_files,
    check_sha,
    get,
    previous_commit,
    require,
)

# object_attributes.action values that build; "update" only with new commits.
BUILD_MR_ACTIONS = {"open", "reopen", "update"}


class GitLab(Adapter):
    provider = "gitlab"
    event_header = "X-Gitlab-Event"
    # Idempotency-Key stays the same across GitLab's retries of one delivery.
    delivery_headers = ("Idempotency-Key", "X-Gitlab-Webhook-UUID", "X-Gitlab-Event-UUID")
    # Never X-Gitlab-Token: it is the secret itself.
    recorded_headers = (
        "X-Gitlab-Event",
        "Idempotency-Key",
        "X-Gitlab-Webhook-UUID",
        "X-Gitlab-Event-UUID",
        "X-Gitlab-Instance",
        "Content-Type",
        "User-Agent",
    )
    # GitLab disables a hook after repeated 4xx answers.
    soft_rejections = True
    signs_body = False

    def repository_name(self, payload):
        return require(payload, "project", "path_with_namespace")

    def authenticate(self, headers, body, repository):
        secret = repository.webhook_secret
        given = headers.get("X-Gitlab-Token")
        if given is None:
            raise Rejected(401, "no X-Gitlab-Token header: set the webhook's secret token on GitLab")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise Rejected(403, "X-Gitlab-Token does not match the repository's webhook secret")

    def parse(self, event, payload):
        if event in ("Push Hook", "Tag Push Hook"):
            # GitLab's "Test" button sends a real push of the branch head;
            # it builds like one (there is no separate test event).
            return self.push(payload)
        if event == "Merge Request Hook":
            return self.merge_request(payload)
        raise Ignored(f"{event} events do not trigger builds")

    def push(self, payload):
        ref = require(payload, "ref")
        after = require(payload, "after")
        if after == ZERO_SHA or not payload.get("checkout_sha"):
            raise Ignored(f"{ref} was deleted")
        # checkout_sha is the commit even when `after` names an annotated tag.
        sha = check_sha(payload["checkout_sha"], "checkout_sha")
        head = {}
        for commit in payload.get("commits") or []:
            if isinstance(commit, dict) and commit.get("id") == sha:
                head = commit
        event, branch, tag = branch_or_tag(ref)
        before = previous_commit(payload.get("before")) if event == C.PUSH else ""
        # GitLab lists the last 20 commits of a push, and how many it had in
        # total_commits_count.
        commits, total = payload.get("commits"), payload.get("total_commits_count")
        listed = isinstance(total, int) and isinstance(commits, list) and total == len(commits)
        return BuildRequest(
            event=event,
            commit=sha,
            ref=ref,
            branch=branch,
            tag=tag,
            message=get(head, "message"),
            author=get(head, "author", "name") or get(payload, "user_name") or get(payload, "user_username"),
            before=before,
            changed_files=changed_files(commits, complete=bool(before) and listed),
        )

    def merge_request(self, payload):
        mr = require(payload, "object_attributes")
        action = get(mr, "action")
        if action not in BUILD_MR_ACTIONS:
            raise Ignored(f"merge request {action or 'event'} does not trigger builds")
        if action == "update" and not mr.get("oldrev"):
            # oldrev is sent only when the update brought new commits; a
            # title, label or description change builds nothing.
            raise Ignored("merge request update without new commits does not trigger builds")
        iid = int(require(mr, "iid"))
        source_repo = get(mr, "source", "path_with_namespace")
        target_repo = get(mr, "target", "path_with_namespace") or get(payload, "project", "path_with_namespace")
        source_id, target_id = mr.get("source_project_id"), mr.get("target_project_id")
        # `user` is whoever triggered the event; the author is named by id
        # only, so the login is known only when the two are the same person.
        author_id = get(mr, "author_id")
        author_login = get(payload, "user", "username") if get(payload, "user", "id") == author_id else ""
        return BuildRequest(
            event=C.PULL_REQUEST,
            commit=check_sha(require(mr, "last_commit", "id"), "object_attributes.last_commit.id"),
            # GitLab keeps every merge request's head, forks included, here
            # in the target project.
            ref=f"refs/merge-requests/{iid}/head",
            branch=get(mr, "target_branch"),
            message=get(mr, "title"),
            author=get(payload, "user", "username") or get(payload, "user", "name"),
            pr_number=iid,
            pr_title=get(mr, "title"),
            source_branch=get(mr, "source_branch"),
            target_branch=get(mr, "target_branch"),
            source_repo=source_repo,
            from_fork=(source_id is not None and target_id is not None and source_id != target_id)
            or (bool(source_repo) and source_repo.lower() != (target_repo or "").lower()),
            author_id=author_id,
            author_login=author_login,
        )

    def instructions(self, repository):
        return {
            "where": "Settings → Webhooks → Add new webhook",
            "content_type": "application/json (GitLab always sends JSON)",
            "events": "Push events, Tag push events, Merge request events",
            "secret_field": "Secret token",
        }
