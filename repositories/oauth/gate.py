"""Who may sign in with a forge: closed unless the operator says otherwise.

Checked on every forge sign-in, new account or returning one, after the
forge has vouched for the login and before Herald signs anyone in:

- a login listed in HERALD_ADMINS gets in and is made staff;
- with HERALD_OPEN, anyone else with an account on the forge gets in;
- otherwise a member of one of HERALD_ORGS on that forge gets in (asked of
  the forge with the user's fresh token, so leaving the organisation closes
  the door at the next sign-in);
- everyone else gets a 403 page saying why and whom to ask, and the refusal
  is recorded as a ForgeEvent (kind "signin", ok=False).

Local accounts (username and password) never pass here. A session or API
token that exists already is not cut off when its owner stops qualifying:
the admin deactivates the user for that."""

import logging

from allauth.core.exceptions import ImmediateHttpResponse
from django.conf import settings
from django.shortcuts import render

import forges
from forges.client import ForgeError, client_for
from repositories.models import ForgeEvent

log = logging.getLogger(__name__)


def forge_name(provider):
    forge = forges.get(provider)
    return forge.name if forge else provider


def organisation_word(provider):
    forge = forges.get(provider)
    return forge.organisation_word if forge else "organisation"


def login_of(sociallogin):
    extra = sociallogin.account.extra_data or {}
    return str(extra.get("login") or extra.get("username") or sociallogin.user.get_username())


def admit(request, sociallogin):
    """Return normally to let the sign-in go on; raise ImmediateHttpResponse to refuse."""
    provider = sociallogin.account.provider
    login = login_of(sociallogin)
    if (provider, login.lower()) in settings.HERALD_ADMINS:
        make_staff(sociallogin.user)
        return
    if settings.HERALD_OPEN:
        return
    if sociallogin.state.get("process") == "connect" and request.user.is_authenticated:
        return  # an account already in links its forge account: nobody new gets in
    orgs = [name for p, name in settings.HERALD_ORGS if p == provider]
    if orgs:
        try:
            theirs = {o.lower() for o in client_for(provider, sociallogin.token.token).organizations()}
        except ForgeError as e:
            refuse(
                request,
                provider,
                login,
                f"{forge_name(provider)} did not say which organisations "
                f"{login} belongs to ({e.message}); try again later",
                status=503,
            )
        if theirs.intersection(orgs):
            return
        word = organisation_word(provider)
        refuse(
            request,
            provider,
            login,
            f"{login} is not a member of the {forge_name(provider)} {word}"
            f"{'s' if len(orgs) > 1 else ''} {', '.join(orgs)} this Herald admits",
            orgs=orgs,
        )
    refuse(
        request,
        provider,
        login,
        f"this Herald admits only the {forge_name(provider)} "
        f"accounts its administrator has listed, and {login} is not one of them",
    )


def make_staff(user):
    # Staff is what Herald checks (admin of every repository); superuser
    # makes /admin/ show everything to them too. Never taken away here: an
    # admin may have granted it by hand.
    if user.is_staff and user.is_superuser:
        return
    user.is_staff = user.is_superuser = True
    if user.pk:
        user.save(update_fields=["is_staff", "is_superuser"])


def refuse(request, provider, login, reason, orgs=(), status=403):
    log.warning("sign-in with %s refused: %s", provider, reason)
    ForgeEvent.record(provider, "signin", f"{login} refused: {reason}", ok=False)
    admins = [name for p, name in settings.HERALD_ADMINS if p == provider]
    response = render(
        request,
        "socialaccount/refused.html",
        {
            "reason": reason,
            "forge": forge_name(provider),
            "login": login,
            "admins": admins,
            "orgs": orgs,
            "group_word": organisation_word(provider),
        },
        status=status,
    )
    raise ImmediateHttpResponse(response)
