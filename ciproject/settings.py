"""Herald CI settings: everything comes from the environment, with defaults
that work for `make run` (SQLite under ./data, the ORM broker, local Docker)."""

import re
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

import forges
from builds.labels import label_problem
from ciproject.env import (
    database_from_url,
    default_workspace_dir,
    envbool,
    envfloat,
    envint,
    envjson,
    envsize,
    envstr,
    persistent_secret,
    random_key,
)
from ciproject.logs import JSON_FIELDS, JSON_RENAMES

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(envstr("HERALD_DATA_DIR") or BASE_DIR / "data").resolve()

SECRET_KEY = persistent_secret("SECRET_KEY", DATA_DIR / "secret_key", random_key)
# Key for secrets stored in the database (webhook secrets, repository secrets,
# forge tokens). Several keys may be given, comma separated: the first
# encrypts, all decrypt (rotation).
HERALD_ENCRYPTION_KEYS = [
    k.strip()
    for k in persistent_secret(
        "HERALD_ENCRYPTION_KEY",
        DATA_DIR / "encryption_key",
        lambda: Fernet.generate_key().decode(),
    ).split(",")
    if k.strip()
]

DEBUG = envbool("DEBUG", False)

HERALD_BASE_URL = (envstr("HERALD_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
_base = urlsplit(HERALD_BASE_URL)
ALLOWED_HOSTS = [
    h.strip()
    for h in (envstr("HERALD_ALLOWED_HOSTS") or f"{_base.hostname},localhost,127.0.0.1,[::1],testserver").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"]
if _base.scheme == "https":
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "ciproject.apps.HeraldAdminConfig",  # django.contrib.admin, Herald's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Before django_q: its qcluster command (a cluster that drains on
    # SIGTERM, builds.drain) replaces django-q2's.
    "builds",
    "django_q",
    "repositories",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "repositories.auth.BearerTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ciproject.urls"
WSGI_APPLICATION = "ciproject.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ciproject.context_processors.version",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(envstr("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'herald.sqlite3'}", BASE_DIR)
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TZ") or "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "ciproject.storage.StaticStorage"},
    # Build artifacts (builds/artifacts.py): files under the data dir, or any
    # Django storage, e.g. HERALD_ARTIFACTS_STORAGE=storages.backends.s3.S3Storage
    # with HERALD_ARTIFACTS_STORAGE_OPTIONS='{"bucket_name": "herald"}'
    # (pip install django-storages[s3]; docs/operations.md).
    "artifacts": {
        "BACKEND": envstr("HERALD_ARTIFACTS_STORAGE") or "django.core.files.storage.FileSystemStorage",
        "OPTIONS": envjson("HERALD_ARTIFACTS_STORAGE_OPTIONS", {"location": str(DATA_DIR / "artifacts")}),
    },
}
# What a job's artifacts may take, and all the installation's together
# (0: no limit); past either, the files are left out with a log line.
HERALD_ARTIFACTS_MAX_JOB_BYTES = envsize("HERALD_ARTIFACTS_MAX_JOB_BYTES", "1g")
HERALD_ARTIFACTS_MAX_TOTAL_BYTES = envsize("HERALD_ARTIFACTS_MAX_TOTAL_BYTES", "20g")
WHITENOISE_USE_FINDERS = not (STATIC_ROOT / "staticfiles.json").exists()

HERALD_LOG_FORMAT = (envstr("HERALD_LOG_FORMAT") or "plain").lower()
if HERALD_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"HERALD_LOG_FORMAT must be plain or json, not {HERALD_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": JSON_RENAMES,
        },
    },
    "filters": {"job": {"()": "ciproject.logs.JobFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": HERALD_LOG_FORMAT, "filters": ["job"]},
    },
    "root": {"handlers": ["console"], "level": envstr("HERALD_LOG_LEVEL") or "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "docker": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "git": {"level": "WARNING"},
        # "Enqueued [herald] 12" for every webhook is noise at this level.
        "django-q": {"level": envstr("HERALD_QUEUE_LOG_LEVEL") or "WARNING"},
    },
}

# --- Herald -----------------------------------------------------------------

HERALD_HOSTNAME = envstr("HERALD_HOSTNAME") or socket.gethostname()
# Names this installation's containers, networks and images on a Docker
# engine that may be shared (another Herald, a test run): kept in the data
# dir, the same for every process of one installation.
HERALD_INSTANCE = persistent_secret("HERALD_INSTANCE", DATA_DIR / "instance_id", lambda: secrets.token_hex(4))
# Checkouts of running builds. Never inside the data dir: a pushed commit is
# hostile, and nothing of Herald's (keys, database) may sit above or beside
# a checkout, where a path resolved wrongly would find it.
WORKSPACE_DIR = Path(envstr("HERALD_WORKSPACE_DIR") or default_workspace_dir(HERALD_INSTANCE)).resolve()
# file:// and local-path clone URLs let anyone who can register a repository
# read the server's disk; only for single-user setups and tests.
HERALD_ALLOW_LOCAL_CLONES = envbool("HERALD_ALLOW_LOCAL_CLONES", False)
# /metrics answers only with this as a Bearer token (404 while unset).
HERALD_METRICS_TOKEN = envstr("HERALD_METRICS_TOKEN") or ""
HERALD_WEBHOOK_MAX_BYTES = envint("HERALD_WEBHOOK_MAX_BYTES", 25 * 1024 * 1024, minimum=1024)
# While the database is unavailable or locked, webhooks are written to a
# journal in DATA_DIR/journal (webhooks/journal.py) and replayed when it is
# back: at most this many bytes of them (then 503), retried this often.
HERALD_JOURNAL_MAX_BYTES = envint("HERALD_JOURNAL_MAX_BYTES", 256 * 1024 * 1024, minimum=1024)
HERALD_JOURNAL_RETRY_SECONDS = envfloat("HERALD_JOURNAL_RETRY_SECONDS", 1.0)
# How long a webhook waits for SQLite's write lock before it journals
# instead (forges give up on an answer after 10 s; GitHub does not resend).
HERALD_WEBHOOK_DB_WAIT_SECONDS = envfloat("HERALD_WEBHOOK_DB_WAIT_SECONDS", 2.0)
# Retention (builds.retention, hourly in housekeeping): builds older than
# HERALD_KEEP_DAYS, and past the newest HERALD_KEEP_BUILDS of a repository,
# are deleted with their logs; 0 turns either off. Never deleted: anything
# active, the newest build of every branch, the newest HERALD_KEEP_BUILDS_MIN
# of each repository. A repository may set its own days and count.
HERALD_KEEP_DAYS = envint("HERALD_KEEP_DAYS", 0, minimum=0)
HERALD_KEEP_BUILDS = envint("HERALD_KEEP_BUILDS", 0, minimum=0)
HERALD_KEEP_BUILDS_MIN = envint("HERALD_KEEP_BUILDS_MIN", 10, minimum=1)
HERALD_PRUNE_INTERVAL_SECONDS = envint("HERALD_PRUNE_INTERVAL_SECONDS", 3600, minimum=60)
HERALD_DELIVERIES_KEPT = envint("HERALD_DELIVERIES_KEPT", 200, minimum=1)
# Forge events (sign-ins, hooks, refused tokens) kept for the admin, newest first.
HERALD_FORGE_EVENTS_KEPT = envint("HERALD_FORGE_EVENTS_KEPT", 5000, minimum=1)
# Whether visitors who are not signed in may see public repositories.
HERALD_ANONYMOUS_READ = envbool("HERALD_ANONYMOUS_READ", True)

# Builds
# `build:` steps leave their layers behind as Docker's build cache for the
# next build; housekeeping removes those not used for this long (0: at once).
HERALD_BUILD_CACHE_HOURS = envint("HERALD_BUILD_CACHE_HOURS", 7 * 24, minimum=0)
# `build:` steps (and Dockerfile-only repositories) run `docker build`, whose
# RUN lines the classic builder runs without a process limit or Herald's
# capability set: an installation that builds strangers' code can refuse them.
HERALD_BUILD_STEPS = envbool("HERALD_BUILD_STEPS", True)
HERALD_MAX_TIMEOUT_MINUTES = envint("HERALD_MAX_TIMEOUT_MINUTES", 6 * 60, minimum=1)
HERALD_LOG_FLUSH_SECONDS = envfloat("HERALD_LOG_FLUSH_SECONDS", 0.25)
HERALD_LOG_CHUNK_BYTES = envint("HERALD_LOG_CHUNK_BYTES", 64 * 1024, minimum=1024)
HERALD_LOG_LINE_MAX = envint("HERALD_LOG_LINE_MAX", 16 * 1024, minimum=80)
HERALD_LOG_MAX_BYTES = envint("HERALD_LOG_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# A running job whose heartbeat is older than this is "worker lost".
# How long a running build waits for the database to come back (a restart,
# a lock held by a backup) before it gives up, saying so (builds.dbgrace).
HERALD_DB_GRACE_SECONDS = envint("HERALD_DB_GRACE_SECONDS", 120, minimum=0)
HERALD_WORKER_LOST_SECONDS = envint("HERALD_WORKER_LOST_SECONDS", 30, minimum=5)
# A worker told to stop (SIGTERM, Ctrl-C) lets running builds go on this long,
# then stops them and puts them back in the queue (builds.drain).
HERALD_DRAIN_SECONDS = envint("HERALD_DRAIN_SECONDS", 600, minimum=0)
# Builds one worker machine runs at once (its django-q2 cluster gets one
# more worker than this, kept free for short tasks).
HERALD_CONCURRENCY = envint("HERALD_CONCURRENCY", 2, minimum=1)
# Builds running at once across all worker machines; 0: no limit beyond theirs.
HERALD_MAX_RUNNING = envint("HERALD_MAX_RUNNING", 0, minimum=0)
# Labels this worker machine carries beside the automatic arch:<machine> and
# os:<system>: a job whose runs_on: names them runs only on such a worker.
HERALD_WORKER_LABELS = sorted({v.strip() for v in (envstr("HERALD_WORKER_LABELS") or "").split(",") if v.strip()})
for _label in HERALD_WORKER_LABELS:
    if label_problem(_label):
        raise ImproperlyConfigured(f"HERALD_WORKER_LABELS: {label_problem(_label)}")
# Pull a step's image when the engine lacks it: "if-not-present" or "never".
HERALD_PULL_POLICY = envstr("HERALD_PULL_POLICY") or "if-not-present"
# How the job's /repo volume gets the checkout: "bind" (the volume is the
# worker's checkout directory: no copy), "copy" (copied in: works with a
# remote engine and a worker that is not root), "auto" (bind when it can).
# Steps of jobs without services join a per-worker network sandbox on the
# isolated build bridge instead of getting networked one by one (~200 ms less
# per step); 0 attaches every step container to the bridge itself.
HERALD_NETWORK_SANDBOX = envbool("HERALD_NETWORK_SANDBOX", True)
HERALD_WORKSPACE_MODE = envstr("HERALD_WORKSPACE_MODE") or "auto"
if HERALD_WORKSPACE_MODE not in ("auto", "bind", "copy"):
    raise ImproperlyConfigured("HERALD_WORKSPACE_MODE must be auto, bind or copy")
# A failed build's workspace stays on its worker this long, so it can be
# retried from a step (builds.retry); 0: never kept. The kept workspaces of
# a worker hold at most HERALD_KEEP_WORKSPACE_MAX_BYTES between them: past
# it the oldest are removed first.
HERALD_KEEP_WORKSPACE_MINUTES = envint("HERALD_KEEP_WORKSPACE_MINUTES", 30, minimum=0)
HERALD_KEEP_WORKSPACE_MAX_BYTES = envsize("HERALD_KEEP_WORKSPACE_MAX_BYTES", "20g")

# --- Build containment --------------------------------------------------------
# Every build and service container gets these; see docs/pipeline.md. A CI
# server runs other people's code, so the defaults are strict and a value of
# 0 (or an empty list) is an explicit choice to lift a limit.


def _envlist(name, default):
    return [v.strip() for v in (envstr(name, default) or "").split(",") if v.strip()]


HERALD_MEMORY_LIMIT = envsize("HERALD_MEMORY_LIMIT", "2g")
HERALD_CPUS = envfloat("HERALD_CPUS", 2.0)
HERALD_PIDS_LIMIT = envint("HERALD_PIDS_LIMIT", 1024, minimum=0)
# Everything else is dropped: no raw sockets, no mknod, no chroot, no
# audit writes. These are what package managers and `chown` in a build need.
HERALD_CAP_ADD = [
    c.upper().removeprefix("CAP_")
    for c in _envlist("HERALD_CAP_ADD", "CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,NET_BIND_SERVICE,SETGID,SETUID")
]
# What a build may write to disk: its workspace and its containers' writable
# layers (builds.docker.usage), measured every HERALD_WORKSPACE_CHECK_SECONDS;
# past it the job ends errored. In `copy` workspace mode `du` runs in a meter
# container of HERALD_QUOTA_IMAGE (trusted, unlike a step's image).
HERALD_WORKSPACE_MAX_BYTES = envsize("HERALD_WORKSPACE_MAX_BYTES", "10g")
HERALD_WORKSPACE_CHECK_SECONDS = envfloat("HERALD_WORKSPACE_CHECK_SECONDS", 5.0)
HERALD_QUOTA_IMAGE = envstr("HERALD_QUOTA_IMAGE") or "busybox:1.36"
# uid[:gid] every step runs as; empty: the user the step's image declares.
# The checkout is owned by this user (or by the first step image's user).
HERALD_BUILD_USER = envstr("HERALD_BUILD_USER") or ""


def _check_containment():
    if HERALD_CPUS < 0:
        raise ImproperlyConfigured("HERALD_CPUS must not be negative")
    if HERALD_WORKSPACE_CHECK_SECONDS <= 0:
        raise ImproperlyConfigured("HERALD_WORKSPACE_CHECK_SECONDS must be more than 0")
    for cap in HERALD_CAP_ADD:
        if not re.fullmatch(r"[A-Z_]+", cap) or cap in ("ALL", "SYS_ADMIN"):
            raise ImproperlyConfigured(f"HERALD_CAP_ADD: {cap!r} is not a capability a build may have")
    if HERALD_BUILD_USER and not re.fullmatch(r"\d+(:\d+)?", HERALD_BUILD_USER):
        raise ImproperlyConfigured("HERALD_BUILD_USER must be a numeric uid or uid:gid")


_check_containment()

# --- Queue (django-q2) --------------------------------------------------------

HERALD_REDIS_URL = envstr("HERALD_REDIS_URL")
# The cluster's timeout must outlast the longest build (the job's own timeout
# is enforced by the runner, this is only the backstop), and retry must exceed
# the timeout or the ORM broker hands a still-running build to a second worker.
_task_timeout = HERALD_MAX_TIMEOUT_MINUTES * 60 + 600
Q_CLUSTER = {
    # Every machine of one installation must use the same name (and the same
    # SECRET_KEY: tasks are signed with it); two installations sharing a
    # Redis need different names.
    "name": envstr("HERALD_QUEUE_NAME") or "herald",
    # One spare worker so short tasks (reaper, forge status posts) never wait
    # behind builds; the runner enforces HERALD_CONCURRENCY itself.
    "workers": HERALD_CONCURRENCY + 1,
    "timeout": _task_timeout,
    "retry": _task_timeout + 600,
    "max_attempts": 1,
    "ack_failures": True,
    "bulk": 1,
    "queue_limit": HERALD_CONCURRENCY + 1,
    "poll": envfloat("HERALD_QUEUE_POLL", 0.05),
    "save_limit": 100,
    "catch_up": False,
    "label": "Django Q2",
}
if HERALD_REDIS_URL:
    Q_CLUSTER["redis"] = HERALD_REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Forges -----------------------------------------------------------------
# Base URLs are settings so GitHub Enterprise, self-hosted Gitea/Forgejo/Gogs
# and GitLab work, and so tests can point Herald at a local stand-in.
HERALD_GITHUB_URL = (envstr("HERALD_GITHUB_URL") or "https://github.com").rstrip("/")
HERALD_GITHUB_API_URL = (envstr("HERALD_GITHUB_API_URL") or "https://api.github.com").rstrip("/")
HERALD_GITHUB_CLIENT_ID = envstr("HERALD_GITHUB_CLIENT_ID") or ""
HERALD_GITHUB_CLIENT_SECRET = envstr("HERALD_GITHUB_CLIENT_SECRET") or ""
HERALD_GITEA_URL = (envstr("HERALD_GITEA_URL") or "").rstrip("/")
HERALD_GITEA_API_URL = (
    envstr("HERALD_GITEA_API_URL") or (HERALD_GITEA_URL + "/api/v1" if HERALD_GITEA_URL else "")
).rstrip("/")
HERALD_GITEA_CLIENT_ID = envstr("HERALD_GITEA_CLIENT_ID") or ""
HERALD_GITEA_CLIENT_SECRET = envstr("HERALD_GITEA_CLIENT_SECRET") or ""
HERALD_GOGS_URL = (envstr("HERALD_GOGS_URL") or "").rstrip("/")
HERALD_GITLAB_URL = (envstr("HERALD_GITLAB_URL") or "https://gitlab.com").rstrip("/")
HERALD_GITLAB_API_URL = (envstr("HERALD_GITLAB_API_URL") or HERALD_GITLAB_URL + "/api/v4").rstrip("/")
HERALD_GITLAB_CLIENT_ID = envstr("HERALD_GITLAB_CLIENT_ID") or ""
HERALD_GITLAB_CLIENT_SECRET = envstr("HERALD_GITLAB_CLIENT_SECRET") or ""
HERALD_BITBUCKET_URL = (envstr("HERALD_BITBUCKET_URL") or "https://bitbucket.org").rstrip("/")
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Sign-in with a forge (django-allauth) and forge integration ------------
# allauth does the OAuth dance (authorize redirect, `state` check, token
# exchange); Herald keeps the resulting token encrypted in
# repositories.ForgeAccount, so allauth is told not to store tokens itself.
INSTALLED_APPS += [
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    # allauth's github, gitea and gitlab provider apps, which the providers
    # in forges/<id>/oauth/ extend.
    *forges.allauth_apps(),
]
MIDDLEWARE.append("allauth.account.middleware.AccountMiddleware")
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "repositories.oauth.adapter.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "repositories.oauth.adapter.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_QUERY_EMAIL = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = envint("HERALD_FORGE_TIMEOUT", 10, minimum=1)
# The provider classes (forges/<id>/oauth/) read HERALD_<FORGE>_URL /
# _API_URL at request time (allauth's own read their URLs once, at import,
# and assume GHE's /api/v3). Their ids stay the forges' ids, and so do the
# callback URLs registered on the forges (/accounts/<id>/login/callback/).
SOCIALACCOUNT_PROVIDERS = forges.allauth_providers()
# repo: private repositories and commit statuses; admin:repo_hook: create
# and delete the webhook; read:org: organisation repositories.
SOCIALACCOUNT_PROVIDERS["github"]["SCOPE"] = (envstr("HERALD_GITHUB_SCOPES") or "repo admin:repo_hook read:org").split()
# Forge answers about a user's permission on a repository are trusted this long.
HERALD_FORGE_PERMISSION_TTL = envint("HERALD_FORGE_PERMISSION_TTL", 300, minimum=0)
# Pages of repositories read from a forge for one listing (100 per page).
HERALD_FORGE_MAX_PAGES = envint("HERALD_FORGE_MAX_PAGES", 20, minimum=1)
# Commit status posts: attempts and the first retry delay (doubled each time).
HERALD_STATUS_ATTEMPTS = envint("HERALD_STATUS_ATTEMPTS", 5, minimum=1)
HERALD_STATUS_RETRY_SECONDS = envint("HERALD_STATUS_RETRY_SECONDS", 30, minimum=1)
HERALD_STATUS_CONTEXT = envstr("HERALD_STATUS_CONTEXT") or "herald"

# --- Notifications (repositories.notifications) and email --------------------
# Each notification is its own queued task: attempts, the first retry delay
# (doubled each time), and how long one receiver or SMTP server may take.
HERALD_NOTIFY_ATTEMPTS = envint("HERALD_NOTIFY_ATTEMPTS", 5, minimum=1)
HERALD_NOTIFY_RETRY_SECONDS = envint("HERALD_NOTIFY_RETRY_SECONDS", 30, minimum=1)
HERALD_NOTIFY_TIMEOUT = envint("HERALD_NOTIFY_TIMEOUT", 5, minimum=1)
# Email goes through Django's SMTP backend; the defaults suit a local MTA.
EMAIL_HOST = envstr("EMAIL_HOST") or "localhost"
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS (STARTTLS, port 587) and EMAIL_USE_SSL (port 465): set one, not both")
EMAIL_TIMEOUT = HERALD_NOTIFY_TIMEOUT
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL") or "Herald CI <herald@localhost>"

# --- Who may sign in, throttling, Content-Security-Policy (docs: README) -----


def _forge_names(name):
    """'github:octocat,gitlab:alice' as [("github", "octocat"), …], names
    lower-cased. A bare name is allowed only while one forge is configured:
    "acme" on a self-hosted Gitea need not be the "acme" on GitHub."""
    # Forges one can sign in with: a client id and a base URL (Gitea has no default one).
    signing_in = [
        f.id
        for f in forges.every()
        if f.oauth_provider
        and globals().get(f"HERALD_{f.id.upper()}_CLIENT_ID")
        and globals().get(f"HERALD_{f.id.upper()}_URL")
    ]
    names = []
    for entry in _envlist(name, ""):
        provider, _, value = entry.rpartition(":")
        provider = provider.strip().lower()
        if not provider:
            if len(signing_in) > 1:
                raise ImproperlyConfigured(
                    f"{name}: write {signing_in[0]}:{value} — several forges are configured, and a name on one "
                    "is not the same account on another"
                )
            provider = signing_in[0] if signing_in else ""
        elif provider not in ("github", "gitea", "gitlab"):
            raise ImproperlyConfigured(f"{name}: {provider!r} is not a forge (github, gitea or gitlab)")
        names.append((provider, value.strip().lower()))
    return names


# Anyone with an account on a configured forge may sign in (and then sees
# public repositories and may enable their own). Off: only HERALD_ORGS members
# and HERALD_ADMINS.
HERALD_OPEN = envbool("HERALD_OPEN", False)
# Organisations (GitHub, Gitea) and groups (GitLab, full path) whose members may sign in.
HERALD_ORGS = _forge_names("HERALD_ORGS")
# Forge logins made staff (admin of every repository, and of /admin/) at sign-in.
HERALD_ADMINS = _forge_names("HERALD_ADMINS")

INSTALLED_APPS.append("axes")
# First, so a locked-out client is refused before a password is even checked.
AUTHENTICATION_BACKENDS.insert(0, "axes.backends.AxesStandaloneBackend")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
# Failed password sign-ins and refused API tokens, per client address, before
# a lock-out of AXES_COOLOFF_TIME hours (answered 429).
AXES_FAILURE_LIMIT = envint("HERALD_LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = envint("HERALD_LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "locked_out.html"
AXES_VERBOSE = False

# Every page: scripts, styles, images and requests from Herald itself only
# (no inline script or style: templates keep theirs in static/). The sign-in
# buttons' POST is redirected to the forge, which form-action must allow.
INSTALLED_APPS.append("csp")
MIDDLEWARE.insert(1, "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": [
            "'self'",
            *sorted(
                {
                    u
                    for u in (globals().get(f"HERALD_{f.id.upper()}_URL") for f in forges.every() if f.oauth_provider)
                    if u
                }
            ),
        ],
    },
}
