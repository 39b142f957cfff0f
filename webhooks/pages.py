"""The recent-deliveries page of a repository, and replaying one.

Like a forge's "Recent deliveries": one line a request, newest first, that
opens (a <details>, no script) on the request as recorded (its headers and
body, JSON pretty-printed) and Herald's answer (status, outcome, reason, the
jobs it made), with Replay beside it. Secrets are masked again on the way
out (webhooks/masking.py), for records stored before bodies were masked.

Retention keeps up to HERALD_DELIVERIES_KEPT deliveries a repository of each
kind (signed and not), so the list is paged; a page carries each body up to
SHOWN_BODY_CHARS, and `?delivery=<id>` shows one delivery, opened, whole.
"""

import json
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.db.models.functions import Substr
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from builds.models import Job
from repositories.access import check, repository_for
from repositories.models import Membership
from webhooks.masking import mask
from webhooks.models import Delivery
from webhooks.replay import replay

PAGE_SIZE = 25
# A push of many commits is some tens of KB; past this a page links to the
# delivery on its own rather than weigh megabytes.
SHOWN_BODY_CHARS = 64 * 1024


def deliveries(request, full_name):
    repo = repository_for(request, full_name, need=Membership.ADMIN, provider=request.GET.get("provider"))
    qs = (
        Delivery.objects.filter(repository=repo)
        .order_by("-received_at", "-id")
        .prefetch_related(Prefetch("jobs", queryset=Job.objects.only("id", "number", "status", "repository_id")))
    )
    single = request.GET.get("delivery")
    if single:
        if not single.isdigit():
            raise Http404("No such delivery")
        shown = list(qs.filter(pk=single))
        if not shown:
            raise Http404("No such delivery")
        page, limit = None, None
    else:
        # Only the part of each body the page shows is read.
        qs = qs.defer("body").annotate(body_head=Substr("body", 1, SHOWN_BODY_CHARS + 1))
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
        shown, limit = page.object_list, SHOWN_BODY_CHARS
    for delivery in shown:
        delivery.shown = shown_request(delivery, repo.webhook_secret, limit)
    return render(
        request,
        "webhooks/deliveries.html",
        {
            "repo": repo,
            "page": page,
            "deliveries": shown,
            "single": bool(single),
            "kept": settings.HERALD_DELIVERIES_KEPT,
        },
    )


def shown_request(delivery, secret, limit=None):
    """What the page shows of a delivery's request: {"headers": [(name,
    value)], "body": text, "pretty": bool, "cut": bool} (cut: longer than
    `limit`, the rest on the delivery's own page), secrets masked."""
    text = getattr(delivery, "body_head", None)
    if text is None:
        text = delivery.body
    cut = limit is not None and len(text) > limit
    text = mask(text[:limit] if cut else text, [secret])
    headers = sorted((name, mask(str(value), [secret])) for name, value in (delivery.headers or {}).items())
    pretty = None if cut or delivery.body_truncated else pretty_json(text, dict(headers))
    if pretty is not None:
        pretty = mask(pretty, [secret])  # a form's field is masked once decoded too
    return {"headers": headers, "body": pretty or text, "pretty": pretty is not None, "cut": cut}


def pretty_json(text, headers):
    """The body as indented JSON, also inside a form's `payload` field
    (Gitea and Gogs can send either); None when it is not JSON."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if "x-www-form-urlencoded" in content_type:
        text = (parse_qs(text).get("payload") or [""])[0]
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None


@require_POST
def replay_delivery(request, delivery_id):
    delivery = Delivery.objects.select_related("repository").filter(pk=delivery_id).first()
    if delivery is None or delivery.repository is None:
        raise Http404("No such delivery")
    check(request, delivery.repository, Membership.ADMIN)
    response, new = replay(delivery)
    text = f"Replayed delivery {delivery.pk}: {response.status_code}"
    if new is not None:
        text += f" {new.outcome}" + (f" ({new.reason})" if new.reason else "")
    level = messages.SUCCESS if response.status_code < 400 else messages.WARNING
    messages.add_message(request, level, text)
    return redirect("repository-deliveries", delivery.repository.full_name)
