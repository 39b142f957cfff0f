"""Installing forges/git/post-receive: the commands `manage.py addrepo
--provider git` prints, to run where the bare repository lives."""

import re
import shlex
from pathlib import Path
from urllib.parse import unquote, urlsplit

HOOK = Path(__file__).resolve().parent / "post-receive"
SOMEWHERE = "/path/to/the/bare/repository.git"


def bare_repository_path(clone_url):
    """Where the bare repository is on its server, as far as the clone URL
    says: a local path, file://, ssh:// or scp-like git@host:path; otherwise
    (http, git://) a placeholder to replace."""
    url = clone_url.strip()
    if url.startswith("/"):
        return url
    parts = urlsplit(url)
    if parts.scheme in ("file", "ssh") and parts.path:
        return unquote(parts.path)
    scp = re.match(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:(?!//)(.+)$", url)
    if scp:
        return scp.group(1)
    return SOMEWHERE


def install_commands(clone_url, webhook_url, full_name, secret):
    """The shell lines that install the hook and configure it."""
    repo = shlex.quote(bare_repository_path(clone_url))
    return [
        f"cp {shlex.quote(str(HOOK))} {repo}/hooks/post-receive",
        f"chmod +x {repo}/hooks/post-receive",
        f"git -C {repo} config herald.url {shlex.quote(webhook_url)}",
        f"git -C {repo} config herald.repository {shlex.quote(full_name)}",
        f"git -C {repo} config herald.secret {shlex.quote(secret)}",
    ]
