"""Where each forge lives (base URLs come from settings)."""

from django.conf import settings

from repositories.models import BITBUCKET, GITEA, GITHUB, GITLAB, GOGS


def forge_base_url(provider):
    return {
        GITHUB: settings.HERALD_GITHUB_URL,
        GITEA: settings.HERALD_GITEA_URL,
        GOGS: settings.HERALD_GOGS_URL,
        GITLAB: settings.HERALD_GITLAB_URL,
        BITBUCKET: settings.HERALD_BITBUCKET_URL,
    }.get(provider, "")


def forge_web_url(provider, full_name):
    base = forge_base_url(provider)
    return f"{base}/{full_name}" if base else ""
