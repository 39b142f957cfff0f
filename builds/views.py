"""Pages: dashboard, job (with its live log), raw log. (The repository page
is in repositories.views.)"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_http_methods, require_POST

from builds import constants as C
from builds import retry
from builds.durations import left_text
from builds.eta import eta, etas
from builds.forms import RunNowForm
from builds.lifecycle import approve, decline, restart
from builds.logview import chunk_batches
from builds.models import Job, Worker
from builds.runnow import Refused, declared
from builds.runnow import run_now as start_run
from builds.waiting import why_waiting
from repositories.access import job_for, repository_for
from repositories.models import Membership, Repository, permits


def visible_jobs(user):
    if user.is_authenticated and user.is_staff:
        return Job.objects.all()
    return Job.objects.filter(repository__in=Repository.objects.visible_to(user).values("pk"))


def dashboard(request):
    if not request.user.is_authenticated and not settings.HERALD_ANONYMOUS_READ:
        return redirect_to_login(request.get_full_path())
    # Every list below is one query whatever the number of jobs: the latest
    # job per repository comes from the (repository, number) unique index.
    latest = Job.objects.filter(repository=OuterRef("pk")).order_by("-number").values("pk")[:1]
    repos = list(
        Repository.objects.visible_to(request.user)
        .annotate(latest_job_id=Subquery(latest))
        .order_by(F("latest_job_id").desc(nulls_last=True), "full_name")[:100]
    )
    latest_jobs = Job.objects.in_bulk([r.latest_job_id for r in repos if r.latest_job_id])
    for repo in repos:
        repo.latest_job = latest_jobs.get(repo.latest_job_id)
        if repo.latest_job:
            repo.latest_job.repository = repo
    jobs = visible_jobs(request.user)
    recent = list(jobs.select_related("repository").order_by("-id")[:20])
    counts = dict(jobs.filter(status__in=C.ACTIVE_STATUSES).values_list("status").annotate(n=Count("id")).order_by())
    workers = list(Worker.online())
    busy = (
        dict(
            Job.objects.filter(status=C.RUNNING, worker__in=[w.host for w in workers])
            .values_list("worker")
            .annotate(n=Count("id"))
            .order_by()
        )
        if workers
        else {}
    )
    for w in workers:
        w.busy = busy.get(w.host, 0)
    last_worker = None if workers else Worker.objects.order_by("-last_seen").first()
    # "about 40 s left" on running rows: one query for them all (builds.eta).
    shown = [r.latest_job for r in repos if r.latest_job] + recent
    estimates = etas(shown)
    for job in shown:
        job.eta_text = left_text(estimates.get(job.pk))
    return render(
        request,
        "builds/dashboard.html",
        {
            "repositories": repos,
            "jobs": recent,
            "running": counts.get(C.RUNNING, 0),
            "queued": counts.get(C.QUEUED, 0),
            "blocked": counts.get(C.BLOCKED, 0),
            "workers": workers,
            "last_worker": last_worker,
        },
    )


def favicon(request):
    """/favicon.ico, which browsers ask for whatever the page links: Herald's
    icon (an SVG under its hashed static name, so resolved per request and
    cached for a day, not for ever)."""
    response = HttpResponseRedirect(static("herald/favicon.svg"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


def job(request, job_id):
    job = job_for(request, job_id)
    permission = job.repository.permission_for(request.user)
    group = job.group or job
    matrix = []
    if job.group_id or job.matrix:
        matrix = list(Job.objects.filter(Q(pk=group.pk) | Q(group=group)).order_by("id"))
    estimate = eta(job)
    return render(
        request,
        "builds/job.html",
        {
            "job": job,
            "steps": list(job.steps.all()),
            "matrix_jobs": matrix,
            "waiting": why_waiting(job),
            "can_control": permits(permission, Membership.PUSH),
            "retry": retry.page(job),
            "eta": estimate,
            "eta_text": left_text(estimate),
        },
    )


def job_log_txt(request, job_id):
    job = job_for(request, job_id)

    def chunks():
        for batch in chunk_batches(job, size=100):
            for _, text in batch:
                yield text.encode()

    response = StreamingHttpResponse(chunks(), content_type="text/plain; charset=utf-8")
    disposition = "attachment" if request.GET.get("download") else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{job.repository.name}-{job.number}.log"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _control(request, job_id):
    """The job, if the user may cancel or restart it; a login redirect otherwise."""
    if not request.user.is_authenticated:
        return None, redirect_to_login(job_for(request, job_id).get_absolute_url())
    return job_for(request, job_id, need=Membership.PUSH), None


@require_POST
def job_cancel(request, job_id):
    job, response = _control(request, job_id)
    if response:
        return response
    # The message says what is true now, beside the badge: a queued job is
    # cancelled at once; a running one when its worker stops it, which
    # job.js then tells by rewriting the "cancelling" message.
    if job.request_cancel(f"Cancelled by {request.user.get_username()}"):
        if job.is_final:
            messages.info(request, f"Cancelled #{job.number}.")
        else:
            messages.info(request, f"Cancelling #{job.number}: its worker stops it.", extra_tags="cancelling")
    else:
        messages.warning(request, f"#{job.number} is already {job.status}.")
    return redirect(job)


@require_POST
def job_restart(request, job_id):
    job, response = _control(request, job_id)
    if response:
        return response
    new = restart(job, user=request.user)
    messages.info(request, f"Rebuilding #{job.number} as #{new.number}.")
    return redirect(new)


@require_POST
def job_retry(request, job_id):
    """Retry a failed job from the step the form names, in its kept workspace."""
    job, response = _control(request, job_id)
    if response:
        return response
    step = request.POST.get("step", "")
    number = int(step) if step.isascii() and step.isdigit() and len(step) < 10 else None  # None: refused, saying why
    try:
        new = retry.retry(job, number, user=request.user)
    except retry.Refused as e:
        messages.error(request, str(e))
        return redirect(job)
    messages.info(request, f"Retrying #{job.number} from step {step} as #{new.number}.")
    return redirect(new)


@require_POST
def job_approve(request, job_id):
    return _decide(request, job_id, approve, "Approved #{number}: it is queued.")


@require_POST
def job_decline(request, job_id):
    return _decide(request, job_id, decline, "Declined #{number}: nothing of it runs.")


def _decide(request, job_id, decision, done):
    """Approve or decline a blocked build; whoever decided first wins."""
    job, response = _control(request, job_id)
    if response:
        return response
    if decision(job, request.user):
        messages.info(request, done.format(number=job.number))
    else:
        job.refresh_from_db()
        messages.warning(request, f"#{job.number} is {job.status}, not waiting for approval.")
    return redirect(job)


def run_now_form(repository, data=None, branch="", network=True):
    """The run-now form with a field per parameter of the branch's head
    (the branch given or posted, else the default), and the reason when
    they could not be read (then the form has none, and says why).
    network=False: from what is cached only; (None, "") when nothing is
    (the repository page then loads the form from the run-now page)."""
    branch = (branch or (data or {}).get("branch") or "").strip() or repository.default_branch
    _, parameters, problem = declared(repository, branch, network=network)
    if parameters is None:
        return None, ""
    form = RunNowForm(data, initial={"branch": branch}, parameters=parameters, problem=problem)
    return form, problem


@require_http_methods(["GET", "HEAD", "POST"])
def run_now(request, full_name):
    """Run now: the form (also on the repository page) on a page of its
    own — GET ?branch= shows that branch's parameters — and its POST,
    which starts the build and goes to its job, or shows the form again
    with the reason."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    repo = repository_for(request, full_name, need=Membership.PUSH, provider=request.GET.get("provider"))
    if request.method != "POST":
        form, problem = run_now_form(repo, branch=request.GET.get("branch", ""))
        return render(request, "builds/run_now.html", {"repo": repo, "run_form": form, "run_problem": problem})
    form, _ = run_now_form(repo, request.POST)
    if form.is_valid():
        try:
            jobs = start_run(
                repo,
                request.user,
                branch=form.cleaned_data["branch"],
                commit=form.cleaned_data["commit"],
                params=form.params(),
            )
        except Refused as e:
            form.add_error(None, e.reason)
        else:
            more = (
                f" (and {len(jobs) - 1} more job{'s' if len(jobs) > 2 else ''} of its matrix)" if len(jobs) > 1 else ""
            )
            messages.info(request, f"Started #{jobs[0].number} on {jobs[0].branch} at {jobs[0].short_commit}{more}.")
            return redirect(jobs[0])
    return render(request, "builds/run_now.html", {"repo": repo, "run_form": form}, status=400)
