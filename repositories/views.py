"""Pages about repositories: a repository's own page (its jobs, branches,
webhook and badge, and its settings form for admins); for forge users,
their repositories on the forge, Enable, Disable."""

from copy import copy
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Max
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST

import forges
from builds.forms import JobFilterForm
from builds.models import Job
from builds.views import run_now_form
from forges.client import BadCredentials, ForgeError, NotAdmin, NotFound, Refused
from repositories.access import check, repository_for
from repositories.forms import RepositorySettingsForm
from repositories.models import Membership, Repository, permits


@require_http_methods(["GET", "HEAD", "POST"])
def repository(request, full_name):
    repo = repository_for(request, full_name, provider=request.GET.get("provider"))
    permission = repo.permission_for(request.user)
    is_admin = permits(permission, Membership.ADMIN)
    if request.method == "POST":
        check(request, repo, Membership.ADMIN)
        # A copy: the form sets what it validated on its instance, and the
        # page shown again with its errors describes the repository as saved.
        settings_form = RepositorySettingsForm(request.POST, instance=copy(repo))
        if settings_form.is_valid():
            settings_form.save()
            messages.info(request, "Settings saved.")
            return redirect(request.get_full_path())
    else:
        settings_form = RepositorySettingsForm(instance=repo) if is_admin else None

    filters = JobFilterForm(request.GET)
    jobs = Job.objects.filter(repository=repo, **filters.filters()).order_by("-id")
    page = Paginator(jobs, 25).get_page(request.GET.get("page"))
    for job in page.object_list:
        job.repository = repo
    query = request.GET.copy()
    query.pop("page", None)

    # Last job of each branch, most recently active first.
    last_ids = list(
        Job.objects.filter(repository=repo)
        .exclude(branch="")
        .values("branch")
        .annotate(last=Max("id"))
        .order_by("-last")
        .values_list("last", flat=True)[:12]
    )
    branch_jobs = Job.objects.in_bulk(last_ids)
    branches = [branch_jobs[i] for i in last_ids if i in branch_jobs]
    chart_jobs = list(Job.objects.filter(repository=repo).order_by("-id")[:50])

    # Run now: for people with push rights. The fields come from the default
    # branch's pipeline as last read; never read here: a forge that is slow
    # or away must not hold up the page (the page fetches the form instead).
    can_run = repo.active and permits(permission, Membership.PUSH)
    run_form, run_problem = run_now_form(repo, network=False) if can_run else (None, "")
    forge = repo.forge.webhook
    return render(
        request,
        "repositories/repository.html",
        {
            "repo": repo,
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "branches": branches,
            "chart_jobs": chart_jobs,
            "hook": forge.instructions(repo) if forge else None,
            "permission": permission,
            "is_admin": is_admin,
            "run_form": run_form,
            "can_run": can_run,
            "run_problem": run_problem,
            "settings_form": settings_form,
            "badge_url": f"{settings.HERALD_BASE_URL}{reverse('badge', args=[repo.full_name])}?branch={quote(repo.default_branch)}",
            "page_url": settings.HERALD_BASE_URL + reverse("repository", args=[repo.full_name]),
            "secrets": list(repo.secrets.values("name", "allow_forks", "updated")) if is_admin else [],
        },
    )


def _sign_in_again(request, account):
    account.mark_revoked()
    messages.error(
        request,
        f"{account.get_provider_display()} no longer accepts Herald's access for "
        f"{account.login} (revoked or expired): sign in with "
        f"{account.get_provider_display()} again.",
    )
    return redirect(reverse("login") + "?" + urlencode({"next": reverse("forge-repositories")}))


@login_required
def forge_repositories(request):
    sections = []
    for account in request.user.forge_accounts.order_by("provider", "login"):
        if account.revoked_at:
            sections.append({"account": account, "revoked": True})
            continue
        try:
            forge_repos = account.list_repositories()
        except BadCredentials:
            return _sign_in_again(request, account)
        except ForgeError as e:
            sections.append({"account": account, "error": str(e)})
            continue
        known = {r.full_name.lower(): r for r in Repository.objects.filter(provider=account.provider)}
        rows = [{"forge": f, "herald": known.get(f.full_name.lower())} for f in forge_repos]
        sections.append({"account": account, "rows": rows})
    return render(request, "repositories/forge_repositories.html", {"sections": sections})


def _account(request, provider):
    forge = forges.get(provider)
    if forge is None:
        raise Http404("Unknown forge")
    account = request.user.forge_accounts.filter(provider=provider).order_by("-updated").first()
    if account is None:
        raise Http404(f"Sign in with {forge.name} first")
    return account


@login_required
@require_POST
def forge_repository_enable(request, provider):
    account = _account(request, provider)
    full_name = request.POST.get("full_name", "").strip()
    if not full_name or "/" not in full_name:
        messages.error(request, 'Which repository? ("owner/name" is missing)')
        return redirect("forge-repositories")
    if account.revoked_at:
        return _sign_in_again(request, account)
    try:
        repo = account.enable(full_name)
    except BadCredentials:
        return _sign_in_again(request, account)
    except NotAdmin as e:
        messages.error(request, str(e))
    except NotFound as e:
        messages.error(
            request,
            f"Could not enable {full_name}: {account.get_provider_display()} does not "
            f"show it to {account.login}, or refused to create its webhook ({e}).",
        )
    except Refused as e:
        messages.error(
            request,
            f"Could not enable {full_name}: {account.get_provider_display()} refused to create the webhook ({e}).",
        )
    except ForgeError as e:
        messages.error(request, f"Could not enable {full_name}: {e}. Nothing was changed; try again later.")
    else:
        messages.success(request, f"{repo.full_name} is enabled: every push and pull request is now built.")
    return redirect("forge-repositories")


@login_required
@require_POST
def forge_repository_disable(request, provider):
    account = _account(request, provider)
    repo = repository_for(request, request.POST.get("full_name", ""), need=Membership.ADMIN, provider=provider)
    warning = account.disable(repo)
    if warning:
        messages.warning(request, f"{repo.full_name} is disabled in Herald. {warning}")
    else:
        messages.success(request, f"{repo.full_name} is disabled; its build history stays.")
    return redirect("forge-repositories")
