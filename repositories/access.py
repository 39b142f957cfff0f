"""Who may see and do what, in one place for views and the API."""

from django.http import Http404
from django.core.exceptions import PermissionDenied

from repositories.models import Membership, Repository, permits


def repository_for(request, full_name, need=Membership.PULL, provider=None):
    qs = Repository.objects.filter(full_name__iexact=full_name)
    if provider:
        qs = qs.filter(provider=provider)
    repo = qs.order_by("id").first()
    if repo is None:
        raise Http404("No such repository")
    check(request, repo, need)
    return repo


def check(request, repository, need=Membership.PULL):
    """Http404 when the user may not even see the repository (its existence
    stays private), PermissionDenied when they may see but not do."""
    permission = repository.permission_for(request.user)
    if permission is None:
        raise Http404("No such repository")
    if not permits(permission, need):
        raise PermissionDenied(f"You need {need} access to {repository.full_name}")
    return permission


def job_for(request, job_id, need=Membership.PULL):
    from builds.models import Job

    job = Job.objects.select_related("repository").filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job")
    check(request, job.repository, need)
    return job
