"""allauth adapters: which OAuth apps exist (from Herald's settings), who
may sign up (forge users only), and a record of failed sign-ins."""

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from django.http import Http404

import forges
from repositories.models import ForgeEvent
from repositories.oauth.gate import admit

log = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Local accounts are made by an admin; anyone else signs in with a forge.
        return False


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin):
        return True

    def pre_social_login(self, request, sociallogin):
        # HERALD_OPEN / HERALD_ORGS / HERALD_ADMINS: see gate.py.
        admit(request, sociallogin)

    def list_apps(self, request, provider=None, client_id=None):
        apps = []
        for forge in forges.configured():
            if provider and forge.id != provider:
                continue
            if client_id and forge.client_id != client_id:
                continue
            apps.append(
                SocialApp(
                    provider=forge.id, name=forge.short_name, client_id=forge.client_id, secret=forge.client_secret
                )
            )
        return apps

    def get_app(self, request, provider, client_id=None):
        apps = self.list_apps(request, provider=provider, client_id=client_id)
        if not apps:
            raise Http404(f"Sign-in with {provider} is not configured on this Herald")
        return apps[0]

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        provider_id = getattr(provider, "id", str(provider or ""))
        reason = describe_error(request, error, exception, extra_context)
        log.warning("sign-in with %s failed: %s", provider_id, reason)
        ForgeEvent.record(provider_id, "signin", reason, ok=False)
        if extra_context is not None:
            extra_context["herald_reason"] = reason


def describe_error(request, error, exception, extra_context):
    """One line saying why a sign-in failed, never echoing a token."""
    forge_error = request.GET.get("error", "")
    if forge_error:
        text = request.GET.get("error_description", "")[:200]
        return f"the forge refused the sign-in: {forge_error}" + (f" ({text})" if text else "")
    if extra_context and "state_id" in extra_context and "state" not in extra_context:
        return (
            "the sign-in state did not match this browser's session (expired, replayed or forged "
            "callback); start the sign-in again"
        )
    if exception is not None:
        return f"the forge did not complete the sign-in: {type(exception).__name__}: {str(exception)[:200]}"
    return f"sign-in failed ({error or 'unknown error'})"
