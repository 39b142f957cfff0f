"""The JSON API (see DESIGN.md). Session or `Authorization: Bearer` auth."""

import json

from django.core.exceptions import PermissionDenied
from django.core.paginator import EmptyPage, Paginator
from django.http import Http404, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from builds import constants as C
from builds import retry
from builds.eta import eta
from builds.lifecycle import approve, decline, restart
from builds.lint import FILENAME, lint_text
from builds.logview import PAGE_MAX, log_index, read_lines, render_lines, search
from builds.models import Job, LogChunk, TestReport
from builds.pipeline import MAX_FILE_BYTES, too_big
from builds.runnow import Refused, run_now
from builds.waiting import why_waiting
from repositories.access import job_for, repository_for
from repositories.models import Membership

LOG_PAGE_BYTES = 1024 * 1024


def _iso(dt):
    return dt.isoformat() if dt else None


def job_json(job, steps=False):
    data = {
        "id": job.pk,
        "number": job.number,
        "repository": job.repository.full_name,
        "status": job.status,
        "reason": job.reason,
        **{name: getattr(job, name) for name in C.EVENT_FIELDS},
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "exit_code": job.exit_code,
        "worker": job.worker,
        # The worker labels it needs (runs_on:); predicted until a worker read the pipeline.
        "runs_on": job.labels_needed,
        "triggered_by": job.triggered_by,
        # Times a worker started it: 2 after a drain or a lost worker put it
        # back in the queue (the log keeps each attempt's part).
        "attempts": job.attempts,
        "params": job.params or {},
        "approved_by": job.approved_by,
        "declined_by": job.declined_by,
        "url": job.absolute_url(),
        # A matrix build: every job of it has the first job's id as group.
        "matrix": job.matrix or {},
        "group": job.group_id,
        # A retry from a step (builds.retry): the failed job and the step it starts at.
        "retry_of": job.retry_of_id,
        "from_step": job.from_step,
        # A failed job's workspace, kept for such a retry until then (null: not kept).
        "workspace_kept_until": _iso(job.workspace_kept_until) if retry.is_kept(job) else None,
    }
    if steps:
        data["steps"] = [
            {
                "number": s.number,
                "name": s.name,
                "status": s.status,
                "exit_code": s.exit_code,
                "started_at": _iso(s.started_at),
                "finished_at": _iso(s.finished_at),
                "first_seq": s.first_seq,
            }
            for s in job.steps.order_by("number")
        ]
    if job.event == C.PULL_REQUEST:
        # Names of its own (the API's contract); source_url, the clone URL
        # Herald builds for a fork, stays inside.
        data["pull_request"] = {
            "number": job.pr_number,
            "title": job.pr_title,
            "source_branch": job.source_branch,
            "target_branch": job.target_branch,
            "source_repo": job.source_repo,
            "from_fork": job.from_fork,
        }
    return data


TYPE_NAMES = {str: "a string", bool: "true or false", dict: "an object", list: "a list", int: "a number"}


def json_object(request, fields):
    """The request's body: a JSON object whose keys are among `fields`
    ({name: the type its value must have}); BadBody with the reason (a 400,
    api_errors) otherwise."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        raise BadBody("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadBody("the body must be a JSON object")
    for key, value in body.items():
        kind = fields.get(key)
        if kind is None:
            raise BadBody(f"unknown field {key[:100]!r} (allowed: {', '.join(fields)})")
        if not isinstance(value, kind):
            raise BadBody(f"{key} must be {TYPE_NAMES[kind]}")
    return body


class BadBody(Exception):
    """A request body the API refuses; str(): the reason."""


def api_errors(view):
    """Answer Http404/PermissionDenied/BadBody as JSON with a one-line reason."""

    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except BadBody as e:
            return JsonResponse({"reason": str(e)}, status=400)
        except Http404 as e:
            return JsonResponse({"reason": str(e) or "not found"}, status=404)
        except PermissionDenied as e:
            if not request.user.is_authenticated:
                return JsonResponse({"reason": "sign in or send Authorization: Bearer <token>"}, status=401)
            return JsonResponse({"reason": str(e) or "permission denied"}, status=403)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@require_GET
@api_errors
def job_detail(request, job_id):
    job = job_for(request, job_id)
    # The estimate costs a query, so only the one-job answers carry it.
    return JsonResponse({**job_json(job, steps=True), "eta": eta(job)})


@require_GET
@api_errors
def job_tests(request, job_id):
    """The job's test report (builds/reports.py); 404 when it has none."""
    job = job_for(request, job_id)
    report = TestReport.objects.filter(job=job).first()
    if report is None:
        return JsonResponse({"reason": "This job has no test report"}, status=404)
    fields = ("files", "tests", "passed", "failed", "errors", "skipped", "duration", "cases_dropped")
    cases = report.cases.values("kind", "suite", "classname", "name", "message", "output")
    return JsonResponse({"job": job.pk, **{f: getattr(report, f) for f in fields}, "cases": list(cases)})


def _int_param(request, name, default):
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Http404(f"{name} must be an integer") from None
    if value < 0:
        raise Http404(f"{name} must not be negative")
    return value


@require_GET
@api_errors
def job_log(request, job_id):
    job = job_for(request, job_id)
    after = _int_param(request, "after", 0)
    # Status first: a final job has all its chunks stored already.
    status = Job.objects.values_list("status", flat=True).get(pk=job.pk)
    chunks, size = [], 0
    for seq, text in LogChunk.objects.filter(job=job, seq__gt=after).order_by("seq").values_list("seq", "text")[:64]:
        chunks.append({"seq": seq, "text": text})
        size += len(text)
        if size >= LOG_PAGE_BYTES:
            break
    last = chunks[-1]["seq"] if chunks else after
    more_stored = LogChunk.objects.filter(job=job, seq__gt=last).exists() if chunks else False
    complete = status in C.FINAL_STATUSES and not more_stored
    return JsonResponse({"chunks": chunks, "status": status, "complete": complete, "last": last})


def _sections(job, index):
    """The job's steps with the line each starts on (once it has output)."""
    sections = []
    for step in job.steps.all():
        sections.append(
            {
                "number": step.number,
                "name": step.name,
                "status": step.status,
                "exit_code": step.exit_code,
                "line": index.line_of_seq(step.first_seq) if step.first_seq else None,
                "started_at": _iso(step.started_at),
                "finished_at": _iso(step.finished_at),
                "duration": step.duration.total_seconds() if step.duration else None,
            }
        )
    return sections


@require_GET
@api_errors
def job_log_lines(request, job_id):
    """Lines of the log rendered to HTML (ANSI colours as spans, escaped),
    by line number: `?start=N&count=M`, or the last M lines with `?tail=M`.
    `total` counts the lines so far; the last one may still be growing
    (`partial`), so a client re-reads from it rather than after it."""
    job = job_for(request, job_id)
    # The job row (with its status) is read before the chunks: a job seen
    # final has all its chunks stored already, so `complete` is never early.
    final = job.status in C.FINAL_STATUSES
    index = log_index(job, final)
    total = index.total
    if request.GET.get("tail") not in (None, ""):
        count = min(_int_param(request, "tail", 0), PAGE_MAX)
        start = max(total - count + 1, 1)
    else:
        start = max(_int_param(request, "start", 1), 1)
        count = min(_int_param(request, "count", 500), PAGE_MAX)
    lines, state, starts = read_lines(job, index, start, count)
    html, _ = render_lines(lines, state)
    t0 = job.started_at or (index.created[0] if index.created else None)
    times = [round((index.created[i] - t0).total_seconds(), 1) for i in starts] if t0 else []
    return JsonResponse(
        {
            "status": job.status,
            "reason": job.reason,
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "duration": job.duration.total_seconds() if job.duration else None,
            "complete": final,
            "total": total,
            "partial": index.partial,
            "start": start,
            "lines": html,
            "times": times,
            "sections": _sections(job, index),
            "waiting": why_waiting(job),
            "eta": eta(job),
        }
    )


@require_GET
@api_errors
def job_log_search(request, job_id):
    """Numbers of the lines containing `q` (case-insensitive, colours ignored)."""
    job = job_for(request, job_id)
    query = request.GET.get("q", "")
    if not query.strip():
        return JsonResponse({"reason": "q must not be empty"}, status=400)
    if len(query) > 200:
        return JsonResponse({"reason": "q must be at most 200 characters"}, status=400)
    matches, truncated = search(job, query)
    return JsonResponse({"q": query, "matches": matches, "truncated": truncated})


@require_POST
@api_errors
def job_cancel(request, job_id):
    job = job_for(request, job_id, need=Membership.PUSH)
    if job.is_final:
        return JsonResponse({"reason": f"job is already {job.status}", **job_json(job)}, status=409)
    job.request_cancel(f"Cancelled by {request.user.get_username()}")
    job.refresh_from_db()
    return JsonResponse(job_json(job), status=202)


@require_POST
@api_errors
def job_restart(request, job_id):
    job = job_for(request, job_id, need=Membership.PUSH)
    new = restart(job, user=request.user)
    return JsonResponse(job_json(new), status=201)


@require_POST
@api_errors
def job_retry(request, job_id):
    """Retry a failed job from a step, in the workspace it kept: {"step": N}."""
    job = job_for(request, job_id, need=Membership.PUSH)
    step = json_object(request, {"step": int}).get("step")
    try:
        new = retry.retry(job, step, user=request.user)
    except retry.Refused as e:
        restart = reverse("api-job-restart", args=[job.pk])
        return JsonResponse({"reason": str(e), "restart": restart}, status=e.status)
    return JsonResponse(job_json(new), status=201)


def _decide(request, job_id, decide):
    job = job_for(request, job_id, need=Membership.PUSH)
    if not decide(job, request.user):
        job.refresh_from_db()
        return JsonResponse({**job_json(job), "reason": f"job is {job.status}, not waiting for approval"}, status=409)
    job.refresh_from_db()
    return JsonResponse(job_json(job), status=202)


@require_POST
@api_errors
def job_approve(request, job_id):
    """Run a blocked job (and the rest of its matrix build)."""
    return _decide(request, job_id, approve)


@require_POST
@api_errors
def job_decline(request, job_id):
    """Cancel a blocked job (and the rest of its matrix build) unrun."""
    return _decide(request, job_id, decline)


# What a run-now may send; builds.runnow checks the values.
RUN_FIELDS = {"branch": object, "commit": object, "params": object}


@require_POST
@api_errors
def repo_builds(request, full_name):
    """Run now: `{"branch", "commit", "params"}` (all optional) → 201 with
    the build's jobs (every job of a matrix); 400 with the reason for bad
    input, 502 when the repository's clone URL cannot be read."""
    repo = repository_for(request, full_name, need=Membership.PUSH, provider=request.GET.get("provider"))
    body = json_object(request, RUN_FIELDS)
    try:
        jobs = run_now(
            repo,
            request.user,
            branch="" if body.get("branch") is None else body["branch"],
            commit="" if body.get("commit") is None else body["commit"],
            params=body.get("params"),
        )
    except Refused as e:
        return JsonResponse({"reason": e.reason}, status=e.status)
    return JsonResponse({"jobs": [job_json(job) for job in jobs]}, status=201)


@require_GET
@api_errors
def repo_jobs(request, full_name):
    repo = repository_for(request, full_name, provider=request.GET.get("provider"))
    qs = Job.objects.filter(repository=repo).select_related("repository").order_by("-id")
    for field in ("status", "branch", "event"):
        if request.GET.get(field):
            qs = qs.filter(**{field: request.GET[field]})
    if request.GET.get("group"):
        qs = qs.filter(group=_int_param(request, "group", 0))
    per_page = min(_int_param(request, "per_page", 25) or 25, 100)
    paginator = Paginator(qs, per_page)
    try:
        page = paginator.page(_int_param(request, "page", 1) or 1)
    except EmptyPage:
        raise Http404("no such page") from None
    return JsonResponse(
        {
            "repository": repo.full_name,
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "jobs": [job_json(j) for j in page.object_list],
        }
    )


YAML_TYPES = ("text/yaml", "application/yaml", "application/x-yaml", "text/x-yaml", "text/plain")
# JSON escapes (\n, \", \uXXXX) make the body longer than the file it
# carries; the file itself is held to MAX_FILE_BYTES like a build's.
LINT_JSON_BYTES = 4 * MAX_FILE_BYTES


@require_POST
@api_errors
def lint(request):
    """Check a `.herald.yml` as a build would: the file as the body
    (text/yaml), or `{"content": "…", "secrets": ["NAME", …]}` (JSON);
    `?repository=owner/name` (push rights) checks secret names against
    that repository's, as its builds do →
    200 `{"valid": true, "pipeline": {…}}` or 422 `{"valid": false,
    "errors": [{"line", "message"}]}` with the build's own message; 400,
    413 or 415 with a reason for a request that carries no file to check.
    Signed-in users only: a parse holds a web worker for up to a 2 MiB
    expansion, so it is not offered to anyone on the internet."""
    if not request.user.is_authenticated:
        raise PermissionDenied
    kind = request.content_type
    is_json = kind == "application/json"
    if not is_json and kind not in YAML_TYPES:
        return JsonResponse(
            {"reason": 'send the file as text/yaml, or JSON {"content": "…"} as application/json'}, status=415
        )
    limit = LINT_JSON_BYTES if is_json else MAX_FILE_BYTES
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > limit:
        return JsonResponse({"reason": too_big(FILENAME, length)}, status=413)
    secrets = None
    if is_json:
        try:
            body = json.loads(request.body)
        except (ValueError, RecursionError):
            return JsonResponse({"reason": "the body must be a JSON object"}, status=400)
        if not isinstance(body, dict) or not isinstance(body.get("content"), str):
            return JsonResponse(
                {"reason": 'the body must be a JSON object with "content": the file\'s text'}, status=400
            )
        unknown = set(body) - {"content", "secrets"}
        if unknown:
            return JsonResponse(
                {"reason": f"unknown field {sorted(unknown)[0][:100]!r} (allowed: content, secrets)"}, status=400
            )
        secrets = body.get("secrets")
        if secrets is not None and (not isinstance(secrets, list) or not all(isinstance(n, str) for n in secrets)):
            return JsonResponse({"reason": "secrets must be a list of the repository's secret names"}, status=400)
        try:
            raw = body["content"].encode("utf-8")
        except UnicodeEncodeError:
            return JsonResponse({"reason": "content must be text (it holds a lone surrogate)"}, status=400)
    else:
        raw = request.body
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return JsonResponse({"reason": "the body is not UTF-8 text"}, status=400)
    if len(raw) > MAX_FILE_BYTES:
        return JsonResponse({"reason": too_big(FILENAME, len(raw))}, status=413)
    if request.GET.get("repository"):
        if secrets is not None:
            return JsonResponse({"reason": "give secrets or ?repository=, not both"}, status=400)
        repo = repository_for(
            request, request.GET["repository"], need=Membership.PUSH, provider=request.GET.get("provider")
        )
        secrets = repo.secrets.values_list("name", flat=True)
    result = lint_text(raw, known_secrets=None if secrets is None else set(secrets))
    return JsonResponse(result.as_json(), status=200 if result.valid else 422)
