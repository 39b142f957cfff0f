import pytest

# The webhook tests send every forge's payloads: forge_kit's fixture.
from tests.forges.forge_kit import repo_for  # noqa: F401


@pytest.fixture
def plain_static(settings):
    """For tests that render pages: ciproject.storage.StaticStorage raises
    for a file missing from STATIC_ROOT when collectstatic has not run."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
