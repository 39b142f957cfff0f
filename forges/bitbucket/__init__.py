"""Bitbucket Cloud: webhooks only (no commit statuses, no OAuth sign-in)."""

from forges.forge import Forge

FORGE = Forge(
    id="bitbucket",
    name="Bitbucket Cloud",
    position=50,
    commit_path="/commits/{sha}",
    pr_path="/pull-requests/{number}",
    webhook_path="forges.bitbucket.webhook.Bitbucket",
)
