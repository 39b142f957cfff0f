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
    return owned_object(request, Job.objects, job_id, NO_SUCH_JOB, need)


def owned_object(request, queryset, pk, missing, need=Membership.PULL):
    """The object `pk` of `queryset` (a model with a `repository`) if the
    user has `need` on its repository, else 404 saying `missing` — the same
    words as for one that never existed: ids are sequential, and "No such
    repository" would tell a stranger it belongs to a private repository."""
    obj = queryset.select_related("repository").filter(pk=pk).first()
    if obj is None:
        raise Http404(missing)
    try:
        check(request, obj.repository, need)
    except Http404:
        raise Http404(missing) from None
    return obj


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
