"""Gogs webhooks.

https://gogs.io/advancing/webhooks
Payload structs: github.com/gogs/go-gogs-client repo_hook.go (Gitea forked
them, so pushes read the same; pull requests and tags differ).
"""

from builds import constants as C
from forges.gitea.webhook import BUILD_PR_ACTIONS, Gitea
from forges.webhook import BuildRequest, Ignored, check_branch, check_sha, get, require


# Gitea began as a fork of Gogs and kept its push payload and HMAC signature: only
# the headers, tag creation and pull requests differ, so only those are overridden.
class Gogs(Gitea):
    provider = "gogs"
    event_header = "X-Gogs-Event"
    event_headers = ("X-Gogs-Event",)
    delivery_headers = ("X-Gogs-Delivery",)
    signature_headers = ("X-Gogs-Signature",)
    recorded_headers = ("X-Gogs-Event", "X-Gogs-Delivery", "X-Gogs-Signature", "Content-Type", "User-Agent")

    def parse(self, event, payload):
        if event == "create" and payload.get("ref_type") == "tag":
            return self.tag_created(payload)
        return super().parse(event, payload)

    def tag_created(self, payload):
        # Gogs announces a pushed tag with a create event (sha: the tagged
        # commit); should a push event for the tag come too, the same-push
        # window folds the two into one job.
        tag = require(payload, "ref")
        if tag.startswith("refs/tags/"):
            tag = tag[len("refs/tags/") :]
        check_branch(tag, "tag")
        return BuildRequest(
            event=C.TAG,
            commit=check_sha(require(payload, "sha"), "sha"),
            ref=f"refs/tags/{tag}",
            tag=tag,
            author=get(payload, "sender", "login"),
        )

    def pull_request(self, payload):
        action = require(payload, "action")
        if action not in BUILD_PR_ACTIONS:
            raise Ignored(f"pull request {action} does not trigger builds")
        pr = require(payload, "pull_request")
        number = int(payload.get("number") or require(pr, "number"))
        base_repo = get(pr, "base_repo", "full_name") or get(payload, "repository", "full_name")
        head_repo = get(pr, "head_repo", "full_name") or base_repo
        # Gogs' pull request payload names branches but no commit: the job
        # carries the PR ref, and the worker builds whatever it points to.
        return BuildRequest(
            event=C.PULL_REQUEST,
            commit="",
            ref=f"refs/pull/{number}/head",
            branch=get(pr, "base_branch"),
            message=get(pr, "title"),
            author=get(pr, "user", "login") or get(payload, "sender", "login"),
            pr_number=number,
            pr_title=get(pr, "title"),
            source_branch=get(pr, "head_branch"),
            target_branch=get(pr, "base_branch"),
            source_repo=head_repo,
            from_fork=head_repo.lower() != base_repo.lower(),
            author_id=get(pr, "user", "id"),
            author_login=get(pr, "user", "login") or get(pr, "user", "username"),
            dedupe=False,
        )

    def instructions(self, repository):
        return {
            "where": "Settings → Webhooks → Add a new webhook → Gogs",
            "content_type": "application/json",
            "events": "Let me choose what I need: Create, Push, Pull Request",
            "secret_field": "Secret",
        }
