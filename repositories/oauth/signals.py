"""After a forge sign-in: keep the token (encrypted) and refresh what the
user may do with the repositories Herald knows."""

import logging

from forges.client import BadCredentials, ForgeError
from repositories.models import ForgeAccount, ForgeEvent

log = logging.getLogger(__name__)


def remember_forge_account(sender, request=None, user=None, sociallogin=None, **kwargs):
    if sociallogin is None or sociallogin.token is None:
        return
    account = sociallogin.account
    user = user or account.user
    extra = account.extra_data or {}
    login = extra.get("login") or extra.get("username") or user.get_username()
    forge_account = ForgeAccount.remember(
        user,
        account.provider,
        account.uid,
        login,
        sociallogin.token.token,
        refresh_token=sociallogin.token.token_secret or "",
        expires_at=sociallogin.token.expires_at,
    )
    try:
        forge_account.list_repositories()
    except BadCredentials:
        forge_account.mark_revoked("the token was rejected right after sign-in")
    except ForgeError as e:
        # Sign-in still succeeds; permissions are refreshed again on use.
        log.warning("could not refresh %s's permissions: %s", login, e)
        ForgeEvent.record(account.provider, "permission", f"{login}: {e}", ok=False, user=user)
