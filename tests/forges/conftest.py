# Fixtures shared by every forge's tests (the helpers are in forge_kit.py,
# oauth_kit.py and fake_server.py beside this file).
from tests.forges.forge_kit import repo_for  # noqa: F401
