"""Pages for forge users: their repositories on the forge, Enable, Disable."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

import forges
from forges.client import BadCredentials, ForgeError, NotAdmin, NotFound, Refused
from repositories.access import repository_for
from repositories.models import Membership, Repository


def _sign_in_again(request, account):
    account.mark_revoked()
    messages.error(request, f"{account.get_provider_display()} no longer accepts Herald's access for "
                            f"{account.login} (revoked or expired): sign in with "
                            f"{account.get_provider_display()} again.")
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
        known = {
            r.full_name.lower(): r
            for r in Repository.objects.filter(provider=account.provider)
        }
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
        messages.error(request, f"Could not enable {full_name}: {account.get_provider_display()} does not "
                                f"show it to {account.login}, or refused to create its webhook ({e}).")
    except Refused as e:
        messages.error(request, f"Could not enable {full_name}: {account.get_provider_display()} refused to "
                                f"create the webhook ({e}).")
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
