"""Who may see and do what, in one place for views and the API."""

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from builds.models import Job
from forges.client import BadCredentials, ForgeError
from repositories.models import ForgeAccount, Membership, Repository, permits


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
    refresh_from_forge(request.user, repository)
    permission = repository.permission_for(request.user)
    if permission is None:
        raise Http404("No such repository")
    if not permits(permission, need):
        raise PermissionDenied(f"You need {need} access to {repository.full_name}")
    return permission


NO_SUCH_JOB = "No such job"


def job_for(request, job_id, need=Membership.PULL):
    job = Job.objects.select_related("repository").filter(pk=job_id).first()
    if job is None:
        raise Http404(NO_SUCH_JOB)
    try:
        check(request, job.repository, need)
    except Http404:
        # The same words as for a job that never existed: job ids are
        # sequential, and "No such repository" would tell a stranger that
        # this one belongs to a private repository.
        raise Http404(NO_SUCH_JOB) from None
    return job


def refresh_from_forge(user, repository):
    """Ask the forge again what the user may do with an OAuth-enabled
    repository, at most once per HERALD_FORGE_PERMISSION_TTL per user and
    repository; when the forge can't answer, the last answer stands."""
    if not user.is_authenticated or not repository.forge_id or not settings.HERALD_FORGE_PERMISSION_TTL:
        return
    key = f"herald:perm:{user.pk}:{repository.pk}"
    if cache.get(key):
        return
    account = ForgeAccount.objects.filter(user=user, provider=repository.provider, revoked_at=None).first()
    if account is None:
        return
    fresh = Membership.objects.filter(user=user, repository=repository).values_list("refreshed_at", flat=True).first()
    if fresh and (timezone.now() - fresh).total_seconds() < settings.HERALD_FORGE_PERMISSION_TTL:
        cache.set(key, 1, settings.HERALD_FORGE_PERMISSION_TTL)
        return
    try:
        account.refresh_permission(repository)
    except BadCredentials:
        account.mark_revoked()
    except ForgeError:
        pass
    cache.set(key, 1, settings.HERALD_FORGE_PERMISSION_TTL)
