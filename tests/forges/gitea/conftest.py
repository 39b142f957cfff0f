# Sign-in is open to anyone in these tests, as in tests/oauth/.
from tests.forges.oauth_kit import open_sign_in  # noqa: F401
