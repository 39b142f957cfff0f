"""`Authorization: Bearer <token>` for the API, beside the browser session."""

from django.http import JsonResponse
from django.utils import timezone

from repositories.models import ApiToken


class BearerTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            token = header[7:].strip()
            row = (
                ApiToken.objects.select_related("user").filter(digest=ApiToken.hash(token)).first()
                if token else None
            )
            if row is None or not row.user.is_active:
                return JsonResponse({"reason": "invalid or revoked API token"}, status=401,
                                    headers={"WWW-Authenticate": "Bearer"})
            request.user = row.user
            # A bearer token is not sent by browsers on their own, so it needs
            # no CSRF protection (the session still does).
            request._dont_enforce_csrf_checks = True
            now = timezone.now()
            if row.last_used is None or (now - row.last_used).total_seconds() > 60:
                ApiToken.objects.filter(pk=row.pk).update(last_used=now)
        return self.get_response(request)
