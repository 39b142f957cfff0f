"""Gitea and Forgejo (a Gitea fork that keeps Gitea's API and payloads)."""

from forges.forge import Forge
from forges.github import FORGE as GITHUB

FORGE = Forge(
    id="gitea",
    name="Gitea / Forgejo",
    short_name="Gitea",
    position=20,
    # Gitea's commit states are GitHub's (pending, success, failure, error, warning).
    statuses=GITHUB.statuses,
    webhook_path="forges.gitea.webhook.Gitea",
    client_path="forges.gitea.client.GiteaClient",
    oauth_provider="forges.gitea.oauth.provider.HeraldGiteaProvider",
    oauth_app="allauth.socialaccount.providers.gitea",
)
