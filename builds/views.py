"""Pages: dashboard, repository, job (with its live log), raw log, badge."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from builds import constants as C
from builds.models import Job, LogChunk, Worker
from builds.scheduling import restart
from repositories.access import job_for, repository_for
from repositories.models import Membership, Repository, permits


def dashboard(request):
    repos = Repository.objects.visible_to(request.user)
    jobs = (
        Job.objects.filter(repository__in=repos)
        .select_related("repository")
        .order_by("-id")[:30]
    )
    counts = Job.objects.filter(repository__in=repos).aggregate(
        running=Count("id", filter=Q(status=C.RUNNING)), queued=Count("id", filter=Q(status=C.QUEUED))
    )
    return render(request, "builds/dashboard.html", {
        "jobs": jobs,
        "repositories": repos.order_by("full_name")[:100],
        "counts": counts,
        "workers": Worker.online(),
    })


def repository(request, full_name):
    repo = repository_for(request, full_name, provider=request.GET.get("provider"))
    jobs = Job.objects.filter(repository=repo).order_by("-id")
    page = Paginator(jobs, 25).get_page(request.GET.get("page"))
    from webhooks.forges import get_forge

    forge = get_forge(repo.provider)
    return render(request, "builds/repository.html", {
        "repo": repo,
        "page": page,
        "hook": forge.instructions(repo) if forge else None,
        "permission": repo.permission_for(request.user),
    })


def job(request, job_id):
    job = job_for(request, job_id)
    permission = job.repository.permission_for(request.user)
    return render(request, "builds/job.html", {
        "job": job,
        "can_control": permits(permission, Membership.PUSH),
    })


def job_log_txt(request, job_id):
    job = job_for(request, job_id)

    def chunks():
        # Keyset pagination: constant memory whatever the log's size.
        last = 0
        while True:
            batch = list(
                LogChunk.objects.filter(job=job, seq__gt=last).order_by("seq").values_list("seq", "text")[:100]
            )
            if not batch:
                return
            for seq, text in batch:
                yield text.encode()
            last = batch[-1][0]

    response = StreamingHttpResponse(chunks(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{job.repository.name}-{job.number}.log"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
def job_cancel(request, job_id):
    job = job_for(request, job_id, need=Membership.PUSH)
    if job.request_cancel(f"Cancelled by {request.user.get_username()}"):
        messages.info(request, f"Cancelling #{job.number}.")
    return redirect(job)


@require_POST
def job_restart(request, job_id):
    job = job_for(request, job_id, need=Membership.PUSH)
    new = restart(job, user=request.user)
    messages.info(request, f"Restarted as #{new.number}.")
    return redirect(new)
