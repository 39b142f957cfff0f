"""`Authorization: Bearer <token>` for the API, beside the browser session.

A token may expire (ApiToken.expires_at: 401 saying so) and may be
read-only (every method but GET/HEAD/OPTIONS: 403), which covers cancel,
restart, approve, decline, run and whatever endpoint comes next. Unknown
tokens count as failed sign-ins for django-axes, per client address, like
wrong passwords on the sign-in form: past AXES_FAILURE_LIMIT the address
gets 429 until the cool-off ends, whatever token it sends."""

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.http import JsonResponse
from django.utils import timezone

from repositories.models import ApiToken

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Paths that check a Bearer token of their own (ciproject.health.metrics).
OWN_TOKEN_PATHS = ("/metrics",)
# POSTs that change nothing (the file to check is the body): a read-only
# token, as a pre-commit hook would hold, may use them.
CHECK_ONLY_PATHS = ("/api/lint",)


def unauthorized(reason):
    return JsonResponse({"reason": reason}, status=401, headers={"WWW-Authenticate": "Bearer"})


class BearerTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.headers.get("Authorization", "")
        if header[:7].lower() != "bearer " or request.path in OWN_TOKEN_PATHS:
            return self.get_response(request)
        # The token itself is never a credential axes stores or logs.
        credentials = {"username": None}
        if AxesProxyHandler.is_locked(request, credentials):
            return JsonResponse(
                {"reason": "too many invalid API tokens from this address; try again later"}, status=429
            )
        token = header[7:].strip()
        row = ApiToken.objects.select_related("user").filter(digest=ApiToken.hash(token)).first() if token else None
        if row is None or not row.user.is_active:
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            return unauthorized("invalid or revoked API token")
        now = timezone.now()
        if row.expires_at and row.expires_at <= now:
            return unauthorized(
                f"this API token expired on {row.expires_at:%Y-%m-%d %H:%M} UTC; "
                "ask for a new one (manage.py createtoken)"
            )
        if row.read_only and request.method not in SAFE_METHODS and request.path not in CHECK_ONLY_PATHS:
            return JsonResponse({"reason": "this API token is read-only: it may only read (GET)"}, status=403)
        request.user = row.user
        # A bearer token is not sent by browsers on their own, so it needs
        # no CSRF protection (the session still does).
        request._dont_enforce_csrf_checks = True
        if row.last_used is None or (now - row.last_used).total_seconds() > 60:
            ApiToken.objects.filter(pk=row.pk).update(last_used=now)
        return self.get_response(request)
