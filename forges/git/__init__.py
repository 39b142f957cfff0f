"""Plain git: a repository on any git server, or a local path, with no
forge. Its post-receive hook (forges/git/post-receive) posts one signed
request per updated ref; there is no API (no commit statuses, no sign-in)
and no web pages to link to."""

from forges.forge import Forge

FORGE = Forge(
    id="git",
    name="Plain git",
    position=60,
    links=False,
    webhook_path="forges.git.webhook.Git",
)
