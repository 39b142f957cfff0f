"""`/api/repos/<owner>/<name>/schedules` and `/api/schedules/<id>`:
read rights to see, push rights to change (session or Bearer token).
Bad input gets 400 with the reason (the form's, one line) and the errors by
field; a repository Herald cannot read, 502."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from builds.api import api_errors, job_json, json_object
from builds.models import Schedule
from builds.schedules.forms import ScheduleForm
from builds.schedules.views import schedule_for
from repositories.access import repository_for
from repositories.models import Membership

# The fields a request may set, and the JSON type each must have.
FIELDS = {"name": str, "cron": str, "timezone": str, "branch": str, "params": dict, "enabled": bool}


def _iso(dt):
    return dt.isoformat() if dt else None


def schedule_json(schedule):
    local = schedule.next_run_local
    return {
        "id": schedule.pk,
        "repository": schedule.repository.full_name,
        "name": schedule.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "branch": schedule.branch,
        "params": schedule.params or {},
        "enabled": schedule.enabled,
        # In the schedule's own zone (its offset says which hour that is).
        "next_run": _iso(local if schedule.enabled else None),
        "last_run_at": _iso(schedule.last_run_at),
        "last_job": job_json(schedule.last_job) if schedule.last_job else None,
        "last_error": schedule.last_error,
        "created_by": schedule.created_by.get_username() if schedule.created_by else None,
        "created_at": _iso(schedule.created_at),
    }


def _save(form, created_by=None):
    """(response) for an invalid form, else the saved schedule."""
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        first = next(iter(form.errors.items()))
        where = "" if first[0] == "__all__" else f"{first[0]}: "
        reason = f"{where}{first[1][0]}"
        return JsonResponse({"reason": reason, "errors": errors}, status=form.status)
    schedule = form.save(commit=False)
    if created_by is not None:
        schedule.created_by = created_by
    schedule.save()
    return schedule


@require_http_methods(["GET", "POST"])
@api_errors
def repo_schedules(request, full_name):
    provider = request.GET.get("provider")
    if request.method == "GET":
        repo = repository_for(request, full_name, provider=provider)
        rows = Schedule.objects.filter(repository=repo).select_related("repository", "last_job", "created_by")
        return JsonResponse({"repository": repo.full_name, "schedules": [schedule_json(s) for s in rows]})
    repo = repository_for(request, full_name, need=Membership.PUSH, provider=provider)
    body = json_object(request, FIELDS)
    data = {"timezone": "UTC", "branch": "", "params": {}, "enabled": True, **body}
    result = _save(ScheduleForm(data=data, repository=repo), created_by=request.user)
    if isinstance(result, HttpResponse):
        return result
    return JsonResponse(schedule_json(result), status=201)


@require_http_methods(["GET", "PATCH", "DELETE"])
@api_errors
def schedule_detail(request, schedule_id):
    if request.method == "GET":
        return JsonResponse(schedule_json(schedule_for(request, schedule_id)))
    schedule = schedule_for(request, schedule_id, need=Membership.PUSH)
    if request.method == "DELETE":
        schedule.delete()
        return HttpResponse(status=204)
    body = json_object(request, FIELDS)
    data = {field: getattr(schedule, field) for field in FIELDS}
    data.update(body)
    result = _save(ScheduleForm(data=data, instance=schedule, repository=schedule.repository))
    if isinstance(result, HttpResponse):
        return result
    return JsonResponse(schedule_json(result))
