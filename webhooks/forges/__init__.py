"""The forge adapters, by the provider name in /webhooks/<provider>/."""

from webhooks.forges.github import GitHub

FORGES = {forge.provider: forge for forge in (GitHub(),)}


def get_forge(provider):
    return FORGES.get(provider)
