import pytest

from tests.webhooks.forge_kit import provider_of


@pytest.fixture
def repo_for(make_repository):
    """A registered repository for a forge flavor (gitea, forgejo, github…)."""
    def make(flavor, full_name="acme/widgets", **kw):
        return make_repository(full_name, provider=provider_of(flavor), **kw)

    return make
