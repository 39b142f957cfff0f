# Sign-in is open to anyone in these tests, as in tests/oauth/, through the fake GitHub.
from tests.forges.oauth_kit import fake_github, open_sign_in, signed_in  # noqa: F401
