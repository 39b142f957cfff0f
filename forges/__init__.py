"""Every forge Herald talks to, one folder each.

`forges/<id>/__init__.py` describes the forge (a `Forge`: its name, URL
shapes and status vocabulary) and names whatever of these it has, each in
its folder: `webhook.py` (the adapter: headers, signatures, payloads),
`client.py` (all HTTP to its API: hooks, statuses, repositories,
permissions, token renewal) and `oauth/` (its allauth provider). The shared
bases are `forge.py`, `webhook.py` and `client.py` here.

Adding a forge means adding its folder (and its tests): the registry below
finds it, and the models' choices, the webhook URL, the sign-in buttons and
allauth's settings all read the registry.

This package has no models and imports no Herald app, except the webhook
adapters' use of `builds.constants` (the event names a job is created with)
and `builds.refs` (git's ref rules, shared with the worker's fetch).
"""

import importlib
import pkgutil
from functools import cache

from forges.forge import Forge  # noqa: F401


@cache
def _registry():
    found = [importlib.import_module(f"{__name__}.{m.name}").FORGE for m in pkgutil.iter_modules(__path__) if m.ispkg]
    return {forge.id: forge for forge in sorted(found, key=lambda forge: forge.position)}


def every():
    """All forges, in the order they are listed."""
    return list(_registry().values())


def get(forge_id):
    """The Forge with that id, or None."""
    return _registry().get(forge_id)


def choices():
    """(id, name) pairs for model and form fields."""
    return [(forge.id, forge.name) for forge in every()]


def configured():
    """The forges one can sign in with here (OAuth client configured), in
    the order their buttons are shown."""
    return [forge for forge in every() if forge.sign_in_configured]


def allauth_apps():
    """allauth's provider apps Herald's providers extend, for INSTALLED_APPS."""
    return [forge.oauth_app for forge in every() if forge.oauth_app]


def allauth_providers():
    """SOCIALACCOUNT_PROVIDERS: Herald's provider class for each forge that
    has one (the provider id, and so the callback URL registered on the
    forge, stays the forge's id)."""
    return {
        forge.id: {"provider_class": forge.oauth_provider, **forge.oauth_settings}
        for forge in every()
        if forge.oauth_provider
    }
