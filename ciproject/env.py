"""Tiny typed readers for settings that come from the environment.

Each raises ImproperlyConfigured on a value it cannot read, so a typo in a
deployment fails at start-up with the variable's name rather than later.
"""

import json
import os
import re
import secrets
import stat
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name, default=None):
    """A string; NAME_FILE, when set, names a file holding the value."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as e:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {e}") from e
    return os.environ.get(name, default)


def envbool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false/yes/no, not {value!r}")


def envint(name, default, minimum=None):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def envsize(name, default):
    """Bytes from '512m', '2g', '10GiB', '1048576'; 0 means no limit."""
    raw = (envstr(name) or default).strip().lower()
    m = re.fullmatch(r"(\d+)\s*([kmg]?)i?b?", raw)
    if not m:
        raise ImproperlyConfigured(f"{name} must be a size like 512m or 2g, not {raw!r}")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2)]


def envjson(name, default):
    """A JSON object (a storage's options, say)."""
    raw = envstr(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise ImproperlyConfigured(f"{name} must be a JSON object: {e}") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f'{name} must be a JSON object, like {{"bucket_name": "herald"}}')
    return value


def envfloat(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def persistent_secret(name, path, generate):
    """The env var's value, else one kept in `path`, generated on first use.

    Used for SECRET_KEY and the encryption key so `make run` needs no setup
    yet restarts keep sessions and encrypted values readable.
    """
    value = envstr(name)
    if value:
        return value
    path = Path(path)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    # O_EXCL: two processes starting at once must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


def default_workspace_dir(instance):
    """/var/tmp/herald-<uid>/<instance>: on disk (not a RAM-backed /tmp),
    outside the data dir, one folder per installation and user."""
    base = Path("/var/tmp") if os.access("/var/tmp", os.W_OK) else Path(tempfile.gettempdir())
    top = base / f"herald-{os.getuid()}"
    # A shared, sticky directory: another local user could have made this
    # name first (a link to their own folder, or one they can read).
    try:
        top.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(top)
    except OSError as e:
        raise ImproperlyConfigured(
            f"Cannot create {top} for build checkouts ({e.strerror}); set HERALD_WORKSPACE_DIR"
        ) from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise ImproperlyConfigured(
            f"{top} is not a private directory of this user: remove it, or set HERALD_WORKSPACE_DIR"
        )
    return top / instance


def random_key():
    return secrets.token_urlsafe(50)


def database_from_url(url, base_dir):
    """Django DATABASES entry for sqlite:///path or postgres://user:pw@host:port/db."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if scheme == "sqlite":
        # dj-database-url's convention: sqlite:///relative, sqlite:////absolute
        name = unquote(url.split("://", 1)[1].split("?", 1)[0])
        if name.startswith("/"):
            name = name[1:]
        if not name or name == ":memory:":
            name = ":memory:"
        elif not os.path.isabs(name):
            name = str(Path(base_dir) / name)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "OPTIONS": {
                # WAL lets the web server read while the worker writes; the
                # busy timeout and IMMEDIATE transactions make writers queue
                # instead of failing with "database is locked".
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": ("PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=30000;"),
            },
            "TEST": {"NAME": options.get("test_name") or None},
            # Keep connections: opening one runs the PRAGMAs above, and
            # closing the last one checkpoints and truncates the WAL — per
            # request, that was half of a webhook's time.
            "CONN_MAX_AGE": int(options.get("conn_max_age", 600)),
            "CONN_HEALTH_CHECKS": True,
        }
    if scheme in ("postgres", "postgresql", "pgsql"):
        # psycopg binds parameters on the server and prepares each statement
        # it has run 5 times (Django leaves preparing off by default, for
        # poolers in transaction mode). Measured on the webhook path: the
        # database's CPU per delivery 2.4 -> 1.8 ms. Behind PgBouncer older
        # than 1.21 (or without max_prepared_statements) in transaction
        # mode, append ?prepare_threshold=none&server_side_binding=false.
        binding = options.get("server_side_binding", "true").strip().lower()
        options["server_side_binding"] = binding in ("1", "true", "yes", "on")
        threshold = options.get("prepare_threshold", "5").strip().lower()
        if threshold in ("", "none"):
            options["prepare_threshold"] = None
        elif threshold.isdigit():
            options["prepare_threshold"] = int(threshold)
        else:
            raise ImproperlyConfigured(
                f"DATABASE_URL: prepare_threshold must be a number of executions or 'none', not {threshold!r}"
            )
        # A server that does not answer (a host down, packets dropped) must
        # fail a webhook's connection within GitHub's 10 s, so the delivery
        # is journaled in time; a stopped one on loopback fails at once.
        options.setdefault("connect_timeout", "3")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": int(options.pop("conn_max_age", 60)),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL: unsupported scheme {scheme!r}; use sqlite:///path or postgres://user:pw@host/db"
    )
