"""Gogs: webhooks only (no commit statuses, no OAuth sign-in)."""

from forges.forge import Forge

FORGE = Forge(
    id="gogs",
    name="Gogs",
    position=30,
    webhook_path="forges.gogs.webhook.Gogs",
)
