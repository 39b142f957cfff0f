"""GitHub (and GitHub Enterprise, through HERALD_GITHUB_URL / _API_URL)."""

from forges.forge import Forge

FORGE = Forge(
    id="github",
    name="GitHub",
    position=10,
    # https://docs.github.com/en/rest/commits/statuses: pending, success, failure, error.
    statuses={
        "queued": "pending",
        "running": "pending",
        "success": "success",
        "skipped": "success",
        "failed": "failure",
        "timed_out": "failure",
        "errored": "error",
        "cancelled": "error",
    },
    webhook_path="forges.github.webhook.GitHub",
    client_path="forges.github.client.GitHubClient",
    oauth_provider="forges.github.oauth.provider.HeraldGitHubProvider",
    oauth_app="allauth.socialaccount.providers.github",
)
