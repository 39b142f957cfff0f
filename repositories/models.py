import hashlib
import logging
import re
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, connections, models, transaction
from django.db.models.functions import Lower
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

import forges
from ciproject.crypto import EncryptedTextField
from forges.client import BadCredentials, ForgeError, NotAdmin, NotFound, client_class, client_for

log = logging.getLogger(__name__)

FULL_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
SECRET_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def generate_webhook_secret():
    return secrets.token_hex(32)


def webhook_url(provider):
    """Where a forge posts a repository's events: what the hook Herald
    installs points to, what addrepo prints and the repository page shows."""
    return settings.HERALD_BASE_URL + reverse("webhook", args=[provider])


def check_clone_url(url, allow_local=None):
    """Raise ValidationError for a URL git must not be handed.

    Git treats a leading "-" as an option and "<transport>::address" as a
    remote helper (ext:: runs arbitrary commands, fd:: reads descriptors), so
    both are refused outright; file:// and bare paths would let whoever can
    register a repository read the server's disk.
    """
    if allow_local is None:
        allow_local = settings.HERALD_ALLOW_LOCAL_CLONES
    url = (url or "").strip()
    if not url:
        raise ValidationError("The clone URL is empty.")
    if url.startswith("-"):
        raise ValidationError("A clone URL may not start with '-'.")
    if any(c in url for c in "\0\n\r") or " " in url:
        raise ValidationError("A clone URL may not contain spaces or control characters.")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*::", url):
        raise ValidationError("Remote-helper URLs (ext::, fd::, …) are not allowed.")
    lower = url.lower()
    if lower.startswith(("https://", "http://", "ssh://", "git://")):
        return url
    if lower.startswith("file://") or url.startswith(("/", ".", "~")):
        if allow_local:
            return url
        raise ValidationError("Local clone URLs (file:// or a path) are refused unless HERALD_ALLOW_LOCAL_CLONES=1.")
    if re.match(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:[^/]", url):
        return url  # scp-like ssh: git@host:owner/name.git
    raise ValidationError("Unsupported clone URL; use https://, ssh://, git:// or git@host:owner/name.git.")


# Which pull requests wait for approval (status `blocked`) before they run.
APPROVE_FORKS, APPROVE_OUTSIDERS, APPROVE_NONE = "forks", "outsiders", "none"
APPROVAL_CHOICES = [
    (APPROVE_FORKS, "Pull requests from forks"),
    (APPROVE_OUTSIDERS, "Pull requests by anyone without push rights"),
    (APPROVE_NONE, "None: every pull request runs at once"),
]


class RepositoryQuerySet(models.QuerySet):
    def by_name(self, provider, full_name):
        # Forges treat owner/name case-insensitively; the unique constraint
        # below indexes lower(full_name), and this filter uses that index.
        return self.alias(lname=Lower("full_name")).filter(provider=provider, lname=full_name.lower())

    def for_webhook(self, provider, full_name):
        """by_name(...).first() for every webhook, through Manager.raw():
        measured, 95 µs against 310-460 µs for the ORM's query building (a
        fifth of an accepted webhook's 1.4 ms, make bench (a)). The same
        index: (provider, lower(full_name))."""
        table = self.model._meta.db_table
        rows = self.raw(
            f"SELECT * FROM {table} WHERE provider = %s AND lower(full_name) = %s LIMIT 1",
            [provider, full_name.lower()],
        )
        return next(iter(rows), None)

    def visible_to(self, user):
        if user.is_authenticated and user.is_staff:
            return self.all()
        if settings.HERALD_ANONYMOUS_READ or user.is_authenticated:
            q = models.Q(private=False)
        else:
            q = models.Q(pk__in=[])
        if user.is_authenticated:
            q |= models.Q(pk__in=Membership.objects.filter(user=user).values("repository"))
        return self.filter(q)


class Repository(models.Model):
    provider = models.CharField(max_length=20, choices=forges.choices(), default="github")
    full_name = models.CharField(max_length=200, help_text='"owner/name" exactly as the forge shows it.')
    clone_url = models.CharField(max_length=500, help_text="Where the worker clones from.")
    html_url = models.URLField(blank=True, help_text="The repository's page on the forge.")
    default_branch = models.CharField(max_length=200, default="main")
    active = models.BooleanField(default=True, help_text="Inactive repositories receive no builds.")
    private = models.BooleanField(
        default=True, help_text="Private repositories are shown only to their members and staff."
    )
    webhook_secret = EncryptedTextField(default=generate_webhook_secret, editable=False)
    build_timeout = models.PositiveIntegerField(
        default=60, help_text="Minutes before a running build is stopped as timed_out."
    )
    auto_cancel = models.BooleanField(
        default=True,
        help_text="A new push to a branch (or PR) cancels its older queued or running builds.",
    )
    max_concurrency = models.PositiveIntegerField(
        default=0, help_text="Builds of this repository running at once; 0 means no limit of its own."
    )
    keep_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Delete builds older than this many days; empty: the installation's HERALD_KEEP_DAYS.",
    )
    keep_builds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Keep at most this many builds; empty: the installation's HERALD_KEEP_BUILDS.",
    )
    approval = models.CharField(
        max_length=20,
        choices=APPROVAL_CHOICES,
        default=APPROVE_FORKS,
        help_text="Which pull requests wait for someone with push rights to approve them before anything runs.",
    )
    accept_sha1_signature = models.BooleanField(
        default=False,
        help_text="Also accept the legacy SHA-1 X-Hub-Signature (only old GitHub Enterprise servers need it).",
    )
    job_counter = models.PositiveIntegerField(default=0, editable=False)
    # The matrix of the last pipeline read, so a webhook can create (and
    # answer with) every job of a matrix build before the file is read.
    matrix_hint = models.JSONField(default=list, blank=True, editable=False)
    # The runs_on: labels of the last pipeline read, per matrix combination
    # (builds.routing): a new job's are predicted from it at no cost to the
    # webhook. {"": labels} for a build without a matrix; {} before any.
    runs_on_hint = models.JSONField(default=dict, blank=True, editable=False)
    # Forge integration (OAuth-enabled repositories).
    forge_id = models.CharField(max_length=100, blank=True)
    hook_id = models.CharField(max_length=100, blank=True)
    enabled_by = models.ForeignKey(
        "ForgeAccount",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="enabled_repositories",
        help_text="The forge account whose token installs the hook, posts commit statuses and clones.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = RepositoryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "repositories"
        ordering = ["full_name"]
        constraints = [models.UniqueConstraint("provider", Lower("full_name"), name="repository_unique_provider_name")]

    def __str__(self):
        return self.full_name

    def get_absolute_url(self):
        # With the forge: two forges may each have an "owner/name".
        return f"{reverse('repository', args=[self.full_name])}?provider={self.provider}"

    @property
    def owner(self):
        return self.full_name.split("/", 1)[0]

    @property
    def name(self):
        return self.full_name.split("/", 1)[-1]

    def clean_fields(self, exclude=None):
        # Here rather than in clean(), which cannot tell which fields a form
        # edits: the settings form (four fields) must not fail on a clone
        # URL that only later became unacceptable (local clones switched off).
        errors = {}
        try:
            super().clean_fields(exclude)
        except ValidationError as e:
            errors = e.update_error_dict(errors)
        exclude = {*(exclude or ()), *errors}
        try:
            if "full_name" not in exclude and not FULL_NAME_RE.match(self.full_name or ""):
                raise ValidationError({"full_name": 'Use "owner/name".'})
            if "clone_url" not in exclude:
                try:
                    check_clone_url(self.clone_url)
                except ValidationError as e:
                    raise ValidationError({"clone_url": e.messages}) from None
            if "build_timeout" not in exclude and not 1 <= self.build_timeout <= settings.HERALD_MAX_TIMEOUT_MINUTES:
                raise ValidationError(
                    {"build_timeout": f"Between 1 and {settings.HERALD_MAX_TIMEOUT_MINUTES} minutes."}
                )
        except ValidationError as e:
            errors = e.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def next_job_number(self):
        """Reserve the next per-repository job number (inside the transaction
        that creates the job).

        PostgreSQL: the repository's own sequence, so concurrent webhooks
        for one repository never queue on its row (a rolled-back webhook
        may leave a gap; numbers never repeat). SQLite: a counter column;
        its writers are serialised anyway.
        """
        assert not transaction.get_autocommit(), "call inside transaction.atomic()"
        sql, params = self.next_number_sql()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            self.job_counter = cursor.fetchone()[0]
        return self.job_counter

    def next_number_sql(self):
        """(sql, params) of the statement next_job_number runs; on
        PostgreSQL a SELECT that create_job folds into its own query."""
        if connection.vendor == "postgresql":
            # The sequence, unless jobs were numbered past it some other way
            # (an import, a restored backup): then past those, and the
            # sequence is moved on. The MAX is one probe of the
            # (repository, number) index.
            seq = self.job_sequence_name()
            return (
                "SELECT CASE WHEN n.v >= m.v THEN n.v ELSE setval(%s, m.v) END"
                " FROM (SELECT nextval(%s) AS v) n,"
                " (SELECT COALESCE(MAX(number), 0) + 1 AS v FROM builds_job WHERE repository_id = %s) m",
                [seq, seq, self.pk],
            )
        table = connection.ops.quote_name(Repository._meta.db_table)
        return (
            f"UPDATE {table} SET job_counter = MAX(job_counter,"
            " (SELECT COALESCE(MAX(number), 0) FROM builds_job WHERE repository_id = %s)) + 1"
            " WHERE id = %s RETURNING job_counter",
            [self.pk, self.pk],
        )

    def job_sequence_name(self):
        return f"herald_repository_{int(self.pk)}_jobs"

    def webhook_url(self):
        return webhook_url(self.provider)

    def suggested_clone_url(self):
        """The forge's https clone URL for full_name (what addrepo and the
        admin's add form use when given none), "" when Herald cannot tell:
        plain git, or a forge whose address is not configured."""
        forge = self.forge
        web = forge.web_url(self.full_name) if forge and forge.links and self.full_name else ""
        return f"{web}.git" if web else ""

    @property
    def forge(self):
        return forges.get(self.provider)

    def web_url(self):
        if not self.forge.links:
            return ""
        if self.html_url:
            return self.html_url.rstrip("/")
        return self.forge.web_url(self.full_name)

    def commit_url(self, sha):
        return self.forge.commit_url(self.web_url(), sha)

    def pr_url(self, number):
        return self.forge.pr_url(self.web_url(), number)

    def clone_env(self):
        """Environment for `git fetch` that authenticates as the account that
        enabled the repository: an http.extraHeader scoped to the forge's host
        (git's GIT_CONFIG_COUNT), so the token never appears in a URL, on a
        command line or in the build log. Empty for public repositories and
        repositories without a forge account."""
        account = self.enabled_by
        if not self.private or account is None or not account.token or account.revoked_at:
            return {}
        url = self.clone_url.strip()
        if not url.lower().startswith(("https://", "http://")):
            return {}
        parts = urlsplit(url)
        header = client_class(self.provider).clone_auth_header(account.login, account.token)
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{parts.scheme}://{parts.netloc}/.extraHeader",
            "GIT_CONFIG_VALUE_0": header,
        }

    def permission_for(self, user):
        """'admin', 'push', 'pull' or None."""
        if user.is_authenticated and (user.is_superuser or user.is_staff):
            return Membership.ADMIN
        if user.is_authenticated:
            m = self.memberships.filter(user=user).values_list("permission", flat=True).first()
            if m:
                return m
        if not self.private and (settings.HERALD_ANONYMOUS_READ or user.is_authenticated):
            return Membership.PULL
        return None


class Membership(models.Model):
    """What a user may do with a repository, as the forge told us."""

    PULL, PUSH, ADMIN = "pull", "push", "admin"
    LEVELS = {PULL: 1, PUSH: 2, ADMIN: 3}
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="memberships")
    permission = models.CharField(
        max_length=10, choices=[(PULL, "read"), (PUSH, "write"), (ADMIN, "admin")], default=PULL
    )
    refreshed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint("user", "repository", name="membership_unique")]

    def __str__(self):
        return f"{self.user} → {self.repository} ({self.permission})"

    @classmethod
    def set(cls, user, repository, permission):
        """Record the forge's answer; None removes the membership."""
        if permission is None:
            cls.objects.filter(user=user, repository=repository).delete()
            return None
        membership, _ = cls.objects.update_or_create(
            user=user, repository=repository, defaults={"permission": permission}
        )
        return membership


def permits(permission, needed):
    return permission is not None and Membership.LEVELS[permission] >= Membership.LEVELS[needed]


class Secret(models.Model):
    """A repository secret, exposed to build steps as an environment variable."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=100)
    value = EncryptedTextField()
    allow_forks = models.BooleanField(default=False, help_text="Pull requests from forks may read this secret.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint("repository", "name", name="secret_unique_name")]

    def __str__(self):
        return f"{self.repository}:{self.name}"

    def clean(self):
        if not SECRET_NAME_RE.match(self.name or ""):
            raise ValidationError({"name": "Letters, digits and _, not starting with a digit."})


class ApiToken(models.Model):
    """A personal API token; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused after this time; empty: never.")
    read_only = models.BooleanField(default=False, help_text="Reads only: no cancel, restart, approve or run.")

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash(token):
        return hashlib.sha256(token.encode()).hexdigest()

    def set_new_token(self):
        """Give this row a fresh token; returns it (the only time it is seen)."""
        token = "hci_" + secrets.token_urlsafe(32)
        self.digest, self.prefix = self.hash(token), token[:8]
        return token

    @classmethod
    def issue(cls, user, name=""):
        row = cls(user=user, name=name)
        token = row.set_new_token()
        row.save()
        return token


class ForgeAccount(models.Model):
    """A user's account on a forge and the OAuth token Herald acts with.

    allauth performs the sign-in but is configured not to store tokens (it
    would keep them in plain text); the token lives here, encrypted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="forge_accounts")
    provider = models.CharField(max_length=20, choices=forges.choices())
    uid = models.CharField(max_length=100, help_text="The user's id on the forge.")
    login = models.CharField(max_length=200)
    token = EncryptedTextField(blank=True, editable=False)
    refresh_token = EncryptedTextField(blank=True, editable=False)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the forge rejected the token; the user must sign in again."
    )
    permissions_refreshed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint("provider", "uid", name="forgeaccount_unique_uid")]

    def __str__(self):
        return f"{self.login} on {self.get_provider_display()}"

    @property
    def usable(self):
        return bool(self.token) and self.revoked_at is None

    @classmethod
    def remember(cls, user, provider, uid, login, token, refresh_token="", expires_at=None):
        """Store (or replace) the token a successful sign-in produced."""
        account, _ = cls.objects.update_or_create(
            provider=provider,
            uid=str(uid),
            defaults={
                "user": user,
                "login": login or "",
                "token": token or "",
                "refresh_token": refresh_token or "",
                "token_expires_at": expires_at,
                "revoked_at": None,
            },
        )
        return account

    # A token this close to its expiry is renewed before it is used.
    RENEW_MARGIN = timedelta(minutes=2)

    def client(self):
        """A client for the forge's API with this account's token, renewed
        first if it is about to expire, and renewed once more if the forge
        answers 401 anyway (a clock off, a forge that shortened the expiry)."""
        self.renew_token_if_expiring()
        client = client_for(self.provider, self.token)
        if self._renewable():
            client.on_unauthorized = self._token_after_unauthorized
        return client

    def _renewable(self):
        return self.revoked_at is None and bool(self.refresh_token)

    def _expiring(self):
        return (
            self._renewable()
            and self.token_expires_at is not None
            and self.token_expires_at <= timezone.now() + self.RENEW_MARGIN
        )

    def _token_after_unauthorized(self):
        old = self.token
        self.renew_token_if_expiring(force=True)
        return self.token if self.token != old and self.revoked_at is None else None

    def renew_token_if_expiring(self, force=False):
        """GitLab's, Gitea's and GitHub Apps' tokens expire (after 2 h, 1 h,
        8 h); the refresh token the sign-in stored gets a new one, so users
        are not sent to sign in again and commit statuses keep flowing.
        `force`: renew whatever the recorded expiry says (the forge just
        answered 401). Two processes renewing at once: the forge accepts the
        refresh token once, and the one it refuses takes the other's new
        token instead of marking the account revoked."""
        if not (self._expiring() or (force and self._renewable())):
            return
        fields = ["token", "refresh_token", "token_expires_at", "revoked_at", "updated"]
        old_token = self.token
        self.refresh_from_db(fields=fields)
        if self.token != old_token or not (self._expiring() or (force and self._renewable())):
            return  # renewed by another process meanwhile, or revoked
        seen = self.updated
        try:
            token, refresh_token, expires_in = client_class(self.provider).refresh(self.refresh_token)
        except BadCredentials as e:
            current = ForgeAccount.objects.filter(pk=self.pk).values_list("updated", flat=True).first()
            if current is not None and current != seen:
                self.refresh_from_db(fields=fields)  # renewed by another process meanwhile
                return
            self.mark_revoked(f"the forge refused to renew the expired token ({e.message})")
            return
        except ForgeError as e:
            # Unreachable or rate limited: the current token may still work;
            # the next use tries again.
            log.warning("could not renew %s's %s token: %s", self.login, self.provider, e)
            return
        now = timezone.now()
        self.token, self.refresh_token = token, refresh_token
        self.token_expires_at = now + timedelta(seconds=expires_in) if expires_in else None
        self.save(update_fields=["token", "refresh_token", "token_expires_at", "updated"])

    def mark_revoked(self, reason="the forge rejected the token"):
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ForgeAccount.objects.filter(pk=self.pk).update(revoked_at=self.revoked_at)
            ForgeEvent.record(
                self.provider, "token", f"{self.login}: {reason}; must sign in again", ok=False, user=self.user
            )

    # --- what the forge says about repositories --------------------------

    def list_repositories(self):
        """The repositories the token can see (with the user's permission on
        each), and Herald's memberships brought up to date from them."""
        repos = list(self.client().repositories(max_pages=settings.HERALD_FORGE_MAX_PAGES))
        self.sync_memberships(repos)
        return repos

    def sync_memberships(self, forge_repos):
        by_name = {r.full_name.lower(): r for r in forge_repos}
        known = Repository.objects.filter(provider=self.provider)
        with transaction.atomic():
            for repo in known.alias(lname=Lower("full_name")).filter(lname__in=list(by_name)):
                permission = by_name[repo.full_name.lower()].permission
                Membership.set(self.user, repo, permission)
            # Repositories this forge no longer shows the user: access is gone.
            Membership.objects.filter(user=self.user, repository__provider=self.provider).exclude(
                repository__in=known.alias(lname=Lower("full_name")).filter(lname__in=list(by_name))
            ).delete()
            self.permissions_refreshed_at = timezone.now()
            ForgeAccount.objects.filter(pk=self.pk).update(permissions_refreshed_at=self.permissions_refreshed_at)

    def refresh_permission(self, repository):
        """Ask the forge again what this user may do with one repository."""
        try:
            forge_repo = self.client().repository(repository.full_name)
        except NotFound:
            Membership.objects.filter(user=self.user, repository=repository).delete()
            return None
        Membership.set(self.user, repository, forge_repo.permission)
        return forge_repo.permission

    # --- enabling and disabling ------------------------------------------

    def enable(self, full_name):
        """Create (or re-activate) the Repository and install a fresh webhook.

        Forge calls happen before the database is touched, so a refusal leaves
        no half-enabled repository behind."""
        client = self.client()
        forge_repo = client.repository(full_name)
        if forge_repo.permission != Membership.ADMIN:
            raise NotAdmin(
                f"You need admin rights on {forge_repo.full_name} to enable it "
                f"(you have {forge_repo.permission or 'no'} access); ask one of its admins."
            )
        try:
            clone_url = check_clone_url(forge_repo.clone_url)
        except ValidationError as e:
            raise NotAdmin(
                f"{forge_repo.full_name}: the forge's clone URL is unusable: {' '.join(e.messages)}"
            ) from None
        repo = Repository.objects.by_name(self.provider, forge_repo.full_name).first()
        if repo is not None and repo.hook_id:
            # Replace rather than trust the old hook: it carries the old
            # secret, and may have been deleted by hand on the forge.
            try:
                client.delete_hook(repo.full_name, repo.hook_id)
            except NotFound:
                pass
        secret = generate_webhook_secret()
        hook_id = client.create_hook(forge_repo.full_name, webhook_url(self.provider), secret)
        with transaction.atomic():
            if repo is None:
                repo = Repository(provider=self.provider, full_name=forge_repo.full_name)
            repo.full_name = forge_repo.full_name
            repo.clone_url = clone_url
            repo.html_url = forge_repo.html_url or ""
            repo.default_branch = forge_repo.default_branch or repo.default_branch
            repo.private = forge_repo.private
            repo.forge_id = str(forge_repo.forge_id or "")
            repo.hook_id = str(hook_id)
            repo.webhook_secret = secret
            repo.enabled_by = self
            repo.active = True
            repo.save()
            Membership.set(self.user, repo, Membership.ADMIN)
        ForgeEvent.record(
            self.provider,
            "hook",
            f"{repo.full_name} enabled by {self.login} (hook {hook_id})",
            user=self.user,
            repository=repo,
        )
        return repo

    def disable(self, repository):
        """Delete the forge's hook and deactivate; the build history stays.

        Returns a warning when the hook could not be deleted (the repository
        is deactivated anyway, so its deliveries are ignored)."""
        warning = ""
        if repository.hook_id:
            try:
                self.client().delete_hook(repository.full_name, repository.hook_id)
            except NotFound:
                pass  # already deleted by hand on the forge
            except ForgeError as e:
                warning = f"The webhook could not be deleted on the forge ({e}); remove it there by hand."
                if e.status == 401:
                    self.mark_revoked()
        Repository.objects.filter(pk=repository.pk).update(active=False, hook_id="")
        repository.active, repository.hook_id = False, ""
        ForgeEvent.record(
            self.provider,
            "hook",
            f"{repository.full_name} disabled by {self.login}" + (f"; {warning}" if warning else ""),
            ok=not warning,
            user=self.user,
            repository=repository,
        )
        return warning


class ForgeEvent(models.Model):
    """Something between Herald and a forge an admin may need to read:
    sign-in failures, hooks installed or refused, revoked tokens."""

    provider = models.CharField(max_length=20, choices=forges.choices())
    kind = models.CharField(max_length=20)  # signin, token, hook, permission
    ok = models.BooleanField(default=True)
    message = models.CharField(max_length=500)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    repository = models.ForeignKey(Repository, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.provider} {self.kind}: {self.message}"

    @classmethod
    def record(cls, provider, kind, message, ok=True, user=None, repository=None):
        user = user if getattr(user, "is_authenticated", False) else None
        return cls.objects.create(
            provider=provider or "", kind=kind, ok=ok, message=str(message)[:500], user=user, repository=repository
        )

    @classmethod
    def trim(cls, keep=None):
        """Keep the newest `keep` events (housekeeping runs this)."""
        keep = keep or settings.HERALD_FORGE_EVENTS_KEPT
        oldest_kept = list(cls.objects.order_by("-id").values_list("id", flat=True)[keep - 1 : keep])
        if oldest_kept:
            cls.objects.filter(id__lt=oldest_kept[0]).delete()


class CommitStatus(models.Model):
    """One commit status Herald posts to a forge for a job (queued, running,
    finished), with what became of it; the posting is a queued task."""

    QUEUED, RETRYING, SENT, FAILED, SUPERSEDED, SKIPPED = (
        "queued",
        "retrying",
        "sent",
        "failed",
        "superseded",
        "skipped",
    )
    OUTCOMES = [(o, o) for o in (QUEUED, RETRYING, SENT, FAILED, SUPERSEDED, SKIPPED)]

    job = models.ForeignKey("builds.Job", on_delete=models.CASCADE, related_name="commit_statuses")
    job_status = models.CharField(max_length=20, help_text="The job's status this reports.")
    # 0 queued, 1 running, 2 finished: a post never overwrites a later one.
    rank = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=20, help_text="The state sent to the forge.")
    description = models.CharField(max_length=140)
    target_url = models.URLField(max_length=500)
    context = models.CharField(max_length=255)
    outcome = models.CharField(max_length=20, choices=OUTCOMES, default=QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.IntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "commit statuses"

    def __str__(self):
        return f"job {self.job_id} {self.state}: {self.outcome}"


def create_job_sequence(repository, using="default"):
    """PostgreSQL: the sequence next_job_number draws from, starting after
    the repository's highest job number."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    name = conn.ops.quote_name(repository.job_sequence_name())
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST(COALESCE(MAX(number), 0), %s) + 1 FROM builds_job WHERE repository_id = %s",
            [repository.job_counter, repository.pk],
        )
        start = cursor.fetchone()[0]
        cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {name} START WITH {int(start)}")


def drop_job_sequence(repository, using="default"):
    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    with conn.cursor() as cursor:
        cursor.execute(f"DROP SEQUENCE IF EXISTS {conn.ops.quote_name(repository.job_sequence_name())}")


@receiver(post_save, sender=Repository, dispatch_uid="repository-job-sequence")
def _repository_saved(sender, instance, created, using, **kwargs):
    if created:
        create_job_sequence(instance, using)


@receiver(post_delete, sender=Repository, dispatch_uid="repository-job-sequence-drop")
def _repository_deleted(sender, instance, using, **kwargs):
    drop_job_sequence(instance, using)


# The notification models live with the rest of notifications; importing
# them here registers them with this app.
from repositories.notifications.models import Notification, NotificationDelivery  # noqa: E402, F401
