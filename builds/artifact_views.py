"""Downloading a job's artifacts (builds/artifacts.py): the job page's links
and GET /api/jobs/<id>/artifacts. Read rights on the repository, as for the
job itself: a stranger gets the same 404 as for a job that never existed.

A file is streamed from the storage (FileResponse: never read whole), always
as an attachment of type application/octet-stream with nosniff: it is the
build's, and an .html or .svg among them must not run as Herald's own page.
"""

from django.http import FileResponse, Http404, HttpResponseNotFound, JsonResponse
from django.views.decorators.http import require_GET

from builds.api import api_errors
from builds.models import artifact_storage
from repositories.access import job_for

NO_SUCH_ARTIFACT = "No such artifact"
GONE = "This artifact's file is no longer in the storage: it cannot be downloaded.\n"


@require_GET
def download(request, job_id, artifact_id, name):
    """The file; `name` is only there for a readable URL and a browser's
    guess: the artifact's id decides."""
    job = job_for(request, job_id)
    artifact = job.artifacts.filter(pk=artifact_id).first()
    if artifact is None:
        raise Http404(NO_SUCH_ARTIFACT)
    try:
        f = artifact_storage().open(artifact.stored, "rb")
    except FileNotFoundError:
        # The row outlived its file (deleted by hand from the storage).
        return HttpResponseNotFound(GONE, content_type="text/plain; charset=utf-8")
    response = FileResponse(f, as_attachment=True, filename=artifact.name, content_type="application/octet-stream")
    response["Content-Length"] = str(artifact.size)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@api_errors
def api_list(request, job_id):
    """{"job": id, "artifacts": [{path, size, sha256, url}]}, by path."""
    job = job_for(request, job_id)
    return JsonResponse(
        {
            "job": job.pk,
            "artifacts": [
                {"path": a.path, "size": a.size, "sha256": a.sha256, "url": a.absolute_url()}
                for a in job.artifacts.all()
            ],
        }
    )
