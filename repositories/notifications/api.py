"""The notifications API (see DESIGN.md): `GET/POST
/api/repos/<owner>/<name>/notifications`, `DELETE /api/notifications/<id>`;
push rights. Secrets are write-only: a webhook's signing secret is in the
answer once, when Herald made it; Slack's URL never."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from builds.api import api_errors, json_object
from repositories.access import owned_object, repository_for
from repositories.models import Membership
from repositories.notifications.forms import NotificationForm
from repositories.notifications.models import Notification

NO_SUCH_NOTIFICATION = "No such notification"
FIELDS = {"kind": str, "target": str, "secret": str, "when": str, "branches": str}


def notification_json(n):
    return {
        "id": n.pk,
        "repository": n.repository.full_name,
        "kind": n.kind,
        "target": n.target,
        "when": n.when,
        "branches": n.branches,
        "enabled": n.enabled,
        "signed": bool(n.secret) and n.kind == "webhook",
        "created_at": n.created.isoformat(),
    }


@require_http_methods(["GET", "POST"])
@api_errors
def repo_notifications(request, full_name):
    repo = repository_for(request, full_name, need=Membership.PUSH, provider=request.GET.get("provider"))
    if request.method == "GET":
        return JsonResponse({"notifications": [notification_json(n) for n in repo.notifications.all()]})
    body = json_object(request, FIELDS)
    form = NotificationForm(body, repository=repo)
    if not form.is_valid():
        return JsonResponse({"reason": form.reasons()}, status=400)
    notification, made = form.save(request.user)
    data = notification_json(notification)
    if made:
        data["secret"] = made
    return JsonResponse(data, status=201)


@require_http_methods(["DELETE"])
@api_errors
def notification_detail(request, notification_id):
    notification = owned_object(request, Notification.objects, notification_id, NO_SUCH_NOTIFICATION, Membership.PUSH)
    notification.delete()
    return HttpResponse(status=204)
