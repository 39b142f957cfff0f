"""The forge adapters, by the provider name in /webhooks/<provider>/."""

from webhooks.forges.bitbucket import Bitbucket
from webhooks.forges.gitea import Gitea
from webhooks.forges.github import GitHub
from webhooks.forges.gitlab import GitLab
from webhooks.forges.gogs import Gogs

FORGES = {forge.provider: forge for forge in (GitHub(), Gitea(), Gogs(), GitLab(), Bitbucket())}


def get_forge(provider):
    return FORGES.get(provider)
