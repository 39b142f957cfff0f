"""GitLab (gitlab.com or self-managed, through HERALD_GITLAB_URL / _API_URL)."""

from forges.forge import Forge

FORGE = Forge(
    id="gitlab",
    name="GitLab",
    position=40,
    organisation_word="group",
    commit_path="/-/commit/{sha}",
    pr_path="/-/merge_requests/{number}",
    # https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit
    statuses={
        "queued": "pending",
        "running": "running",
        "success": "success",
        "skipped": "success",
        "failed": "failed",
        "timed_out": "failed",
        "errored": "failed",
        "cancelled": "canceled",
    },
    webhook_path="forges.gitlab.webhook.GitLab",
    client_path="forges.gitlab.client.GitLabClient",
    oauth_provider="forges.gitlab.oauth.provider.HeraldGitLabProvider",
    oauth_app="allauth.socialaccount.providers.gitlab",
    oauth_settings={"SCOPE": ["api"]},
)
