"""All HTTP to forges' APIs, one client module per forge, each raising the
exceptions of base.py so callers never handle `requests` themselves."""

from repositories.forge_clients.base import (  # noqa: F401
    TRANSIENT,
    BadCredentials,
    ForgeError,
    ForgeRepo,
    NotAdmin,
    NotFound,
    RateLimited,
    Refused,
    Unavailable,
)
from repositories.forge_clients.gitea import GiteaClient
from repositories.forge_clients.github import GitHubClient
from repositories.forge_clients.gitlab import GitLabClient

CLIENTS = {c.provider: c for c in (GitHubClient, GiteaClient, GitLabClient)}


def client_class(provider):
    try:
        return CLIENTS[provider]
    except KeyError:
        raise NotAdmin(f"Herald cannot talk to {provider}'s API") from None


def client_for(provider, token):
    return client_class(provider)(token)
