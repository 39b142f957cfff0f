# The webhook tests send every forge's payloads: forge_kit's fixture.
from tests.forges.forge_kit import repo_for  # noqa: F401
