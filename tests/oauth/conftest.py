# The OAuth tests sign in through the fake GitHub (tests/forges/github/).
from tests.forges.oauth_kit import fake_github, open_sign_in, signed_in  # noqa: F401
