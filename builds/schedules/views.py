"""The schedules' pages: the list is a section of the repository page
(templates/builds/_schedules.html); adding, editing and deleting take push
rights, as run-now does."""

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from builds.models import Schedule
from builds.schedules.forms import ScheduleForm
from repositories.access import owned_object, repository_for
from repositories.models import Membership

NO_SUCH_SCHEDULE = "No such schedule"


def schedule_for(request, schedule_id, need=Membership.PULL):
    """The schedule, or 404 — the same for one of a private repository the
    user may not see (ids are sequential: no telling which exist)."""
    return owned_object(request, Schedule.objects.select_related("last_job"), schedule_id, NO_SUCH_SCHEDULE, need)


def _back(repository):
    return redirect(reverse("repository", args=[repository.full_name]) + "#schedules")


@require_http_methods(["GET", "HEAD", "POST"])
def schedule_new(request, full_name):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    repo = repository_for(request, full_name, need=Membership.PUSH, provider=request.GET.get("provider"))
    form = ScheduleForm(request.POST if request.method == "POST" else None, repository=repo)
    if form.is_bound and form.is_valid():
        schedule = form.save(commit=False)
        schedule.created_by = request.user
        schedule.save()
        messages.info(request, f"Schedule {schedule.name!r} added: first build {_when(schedule)}.")
        return _back(repo)
    return render(
        request, "builds/schedule_form.html", {"repo": repo, "form": form}, status=400 if form.is_bound else 200
    )


@require_http_methods(["GET", "HEAD", "POST"])
def schedule_edit(request, schedule_id):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    schedule = schedule_for(request, schedule_id, need=Membership.PUSH)
    repo = schedule.repository
    form = ScheduleForm(request.POST if request.method == "POST" else None, instance=schedule, repository=repo)
    if form.is_bound and form.is_valid():
        schedule = form.save()
        messages.info(request, f"Schedule {schedule.name!r} saved: next build {_when(schedule)}.")
        return _back(repo)
    return render(
        request,
        "builds/schedule_form.html",
        {"repo": repo, "form": form, "schedule": schedule},
        status=400 if form.is_bound else 200,
    )


@require_POST
def schedule_delete(request, schedule_id):
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("schedule-edit", args=[schedule_id]))
    schedule = schedule_for(request, schedule_id, need=Membership.PUSH)
    schedule.delete()
    messages.info(request, f"Schedule {schedule.name!r} deleted.")
    return _back(schedule.repository)


def _when(schedule):
    local = schedule.next_run_local
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({schedule.timezone})" if local else "never (disabled)"
