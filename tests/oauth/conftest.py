# What every forge with sign-in does, through each one's fake in turn
# (`oauth_forge`); a few tests use the fake GitHub (tests/forges/github/).
from tests.forges.oauth_kit import fake_github, oauth_forge, open_sign_in, signed_in  # noqa: F401
