"""A repository's notifications page (/repos/<owner>/<name>/notifications):
the list, the form to add one, delete; for people with push rights. The
repository page shows the same list and form (templates/repositories/
_notifications.html)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from repositories.access import owned_object, repository_for
from repositories.models import Membership
from repositories.notifications.forms import NotificationForm
from repositories.notifications.models import Notification


@require_http_methods(["GET", "HEAD", "POST"])
def notifications(request, full_name):
    repo = repository_for(request, full_name, need=Membership.PUSH, provider=request.GET.get("provider"))
    made, added = "", None
    if request.method == "POST":
        form = NotificationForm(request.POST, repository=repo)
        if form.is_valid():
            added, made = form.save(request.user)
            if not made:
                messages.info(request, f"Notification added: {added.get_kind_display()} {added.target}.")
                return redirect(reverse("repository", args=[repo.full_name]) + "#notifications")
            form = NotificationForm(repository=repo)
    else:
        form = NotificationForm(repository=repo)
    return render(
        request,
        "repositories/notifications.html",
        {"repo": repo, "form": form, "notifications": repo.notifications.all(), "added": added, "made_secret": made},
        status=400 if form.errors else 200,
    )


@require_POST
def notification_delete(request, notification_id):
    notification = owned_object(request, Notification.objects, notification_id, "No such notification", Membership.PUSH)
    notification.delete()
    messages.info(request, f"Notification removed: {notification.get_kind_display()} {notification.target}.")
    return redirect(reverse("repository", args=[notification.repository.full_name]) + "#notifications")
