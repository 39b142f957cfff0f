"""What every forge folder provides, checked over the registry: adding a
forge means adding forges/<id>/ (and tests/forges/<id>/), nothing else."""

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.module_loading import import_string

import forges
from repositories.models import Repository
from tests.forges.forge_kit import KITS, OAUTH

FORGES = forges.every()
IDS = [forge.id for forge in FORGES]


def test_the_database_values_and_their_order_stay_what_they_were():
    # Repository.provider values are stored: never rename one.
    assert forges.choices() == [
        ("github", "GitHub"),
        ("gitea", "Gitea / Forgejo"),
        ("gogs", "Gogs"),
        ("gitlab", "GitLab"),
        ("bitbucket", "Bitbucket Cloud"),
        ("git", "Plain git"),
    ]
    assert Repository._meta.get_field("provider").choices == forges.choices()


@pytest.mark.parametrize("forge", FORGES, ids=IDS)
def test_every_forge_has_a_webhook_adapter_for_its_own_url(forge, client, db):
    assert forges.get(forge.id) is forge
    assert forge.webhook.provider == forge.id
    assert client.get(f"/webhooks/{forge.id}/").status_code == 405


@pytest.mark.parametrize("forge", FORGES, ids=IDS)
def test_the_tests_common_to_all_forges_know_every_forge(forge):
    assert forge.id in {kit.forge for kit in KITS.values()}, (
        f"add tests/forges/{forge.id}/kit.py: its headers, signature and payload fields (see tests/forges/flavor.py)"
    )


@pytest.mark.parametrize("forge", [f for f in FORGES if f.client], ids=[f.id for f in FORGES if f.client])
def test_a_forge_client_knows_its_forge(forge):
    assert forge.client.provider == forge.id
    assert {"queued", "running", "success", "failed", "errored", "cancelled", "timed_out", "skipped"} <= set(
        forge.statuses
    )


@pytest.mark.parametrize(
    "forge", [f for f in FORGES if f.oauth_provider], ids=[f.id for f in FORGES if f.oauth_provider]
)
def test_oauth_providers_keep_the_forge_id_and_so_their_callback_url(forge):
    provider = import_string(forge.oauth_provider)
    assert provider.id == forge.id
    assert forge.oauth_app in settings.INSTALLED_APPS
    assert settings.SOCIALACCOUNT_PROVIDERS[forge.id]["provider_class"] == forge.oauth_provider
    # The URL registered on the forge as the OAuth application's callback.
    assert reverse(f"{forge.id}_callback") == f"/accounts/{forge.id}/login/callback/"


@pytest.mark.parametrize(
    "forge", [f for f in FORGES if f.oauth_provider], ids=[f.id for f in FORGES if f.oauth_provider]
)
def test_the_sign_in_tests_know_every_forge_with_sign_in(forge):
    assert forge.id in OAUTH, (
        f"add OAUTH to tests/forges/{forge.id}/kit.py: how tests/oauth/ drives its fake (see tests/forges/flavor.py)"
    )


@pytest.mark.parametrize(
    "provider, commit, pr",
    [
        ("github", "/commit/abc", "/pull/7"),
        ("gitea", "/commit/abc", "/pull/7"),
        ("gogs", "/commit/abc", "/pull/7"),
        ("gitlab", "/-/commit/abc", "/-/merge_requests/7"),
        ("bitbucket", "/commits/abc", "/pull-requests/7"),
    ],
)
def test_commit_and_pull_request_links_follow_each_forge(provider, commit, pr):
    repo = Repository(provider=provider, full_name="acme/app", html_url="https://forge.example/acme/app/")
    assert repo.commit_url("abc") == "https://forge.example/acme/app" + commit
    assert repo.pr_url(7) == "https://forge.example/acme/app" + pr
    assert Repository(provider=provider, full_name="acme/app").pr_url(None) == ""


def test_a_plain_git_repository_links_nowhere_whatever_its_web_url():
    repo = Repository(provider="git", full_name="acme/app", html_url="https://git.example/acme/app")
    assert (repo.web_url(), repo.commit_url("abc"), repo.pr_url(7)) == ("", "", "")


def test_without_a_base_url_there_are_no_links(settings):
    settings.HERALD_GOGS_URL = ""
    assert Repository(provider="gogs", full_name="acme/app").commit_url("abc") == ""
