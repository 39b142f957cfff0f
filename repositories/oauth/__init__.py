"""Sign-in with a forge through django-allauth.

allauth owns the OAuth flow (authorize redirect, `state` check, code
exchange); this package only points its GitHub, Gitea and GitLab providers at
the base URLs in Herald's settings, decides which forges are offered (those
with a client id), and keeps the resulting token encrypted (ForgeAccount)."""

from dataclasses import dataclass

from django.conf import settings


@dataclass
class Forge:
    id: str
    name: str
    client_id: str
    secret: str


def configured_forges():
    """The forges whose OAuth client is configured, in the order shown."""
    forges = [
        Forge("github", "GitHub", settings.HERALD_GITHUB_CLIENT_ID, settings.HERALD_GITHUB_CLIENT_SECRET),
        Forge("gitea", "Gitea", settings.HERALD_GITEA_CLIENT_ID, settings.HERALD_GITEA_CLIENT_SECRET),
        Forge("gitlab", "GitLab", settings.HERALD_GITLAB_CLIENT_ID, settings.HERALD_GITLAB_CLIENT_SECRET),
    ]
    if not settings.HERALD_GITEA_URL:
        forges = [f for f in forges if f.id != "gitea"]
    return [f for f in forges if f.client_id and f.secret]
