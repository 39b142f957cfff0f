"""The recent-deliveries page of a repository, and replaying one."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from builds.models import Job
from repositories.access import check, repository_for
from repositories.models import Membership
from webhooks.models import Delivery
from webhooks.replay import replay


def deliveries(request, full_name):
    repo = repository_for(request, full_name, need=Membership.ADMIN, provider=request.GET.get("provider"))
    qs = (
        Delivery.objects.filter(repository=repo)
        .order_by("-received_at", "-id")
        .defer("body", "headers")
        .prefetch_related(Prefetch("jobs", queryset=Job.objects.only("id", "number", "status", "repository_id")))
    )
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "webhooks/deliveries.html", {"repo": repo, "page": page})


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
