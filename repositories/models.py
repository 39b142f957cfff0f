import hashlib
import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F
from django.db.models.functions import Lower

from ciproject.crypto import EncryptedTextField

GITHUB, GITEA, GOGS, GITLAB, BITBUCKET = "github", "gitea", "gogs", "gitlab", "bitbucket"
PROVIDER_CHOICES = [
    (GITHUB, "GitHub"),
    (GITEA, "Gitea / Forgejo"),
    (GOGS, "Gogs"),
    (GITLAB, "GitLab"),
    (BITBUCKET, "Bitbucket Cloud"),
]

FULL_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
SECRET_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def generate_webhook_secret():
    return secrets.token_hex(32)


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
        raise ValidationError(
            "Local clone URLs (file:// or a path) are refused unless HERALD_ALLOW_LOCAL_CLONES=1."
        )
    if re.match(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:[^/]", url):
        return url  # scp-like ssh: git@host:owner/name.git
    raise ValidationError(
        "Unsupported clone URL; use https://, ssh://, git:// or git@host:owner/name.git."
    )


class RepositoryQuerySet(models.QuerySet):
    def by_name(self, provider, full_name):
        # Forges treat owner/name case-insensitively; the unique constraint
        # below indexes lower(full_name), and this filter uses that index.
        return self.alias(lname=Lower("full_name")).filter(
            provider=provider, lname=full_name.lower()
        )

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
    provider = models.CharField(max_length=20, choices=PROVIDER_CHOICES, default=GITHUB)
    full_name = models.CharField(
        max_length=200, help_text='"owner/name" exactly as the forge shows it.'
    )
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
    job_counter = models.PositiveIntegerField(default=0, editable=False)
    # Forge integration (OAuth-enabled repositories).
    forge_id = models.CharField(max_length=100, blank=True)
    hook_id = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = RepositoryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "repositories"
        ordering = ["full_name"]
        constraints = [
            models.UniqueConstraint(
                "provider", Lower("full_name"), name="repository_unique_provider_name"
            )
        ]

    def __str__(self):
        return self.full_name

    @property
    def owner(self):
        return self.full_name.split("/", 1)[0]

    @property
    def name(self):
        return self.full_name.split("/", 1)[-1]

    def clean(self):
        if not FULL_NAME_RE.match(self.full_name or ""):
            raise ValidationError({"full_name": 'Use "owner/name".'})
        try:
            check_clone_url(self.clone_url)
        except ValidationError as e:
            raise ValidationError({"clone_url": e.messages})
        if self.build_timeout < 1 or self.build_timeout > settings.HERALD_MAX_TIMEOUT_MINUTES:
            raise ValidationError(
                {"build_timeout": f"Between 1 and {settings.HERALD_MAX_TIMEOUT_MINUTES} minutes."}
            )

    def next_job_number(self):
        """Reserve the next per-repository job number.

        Must run inside the transaction that creates the job: the UPDATE takes
        the row lock (PostgreSQL) or the write lock (SQLite, IMMEDIATE), so
        concurrent webhooks are serialised here and never share a number.
        """
        assert not transaction.get_autocommit(), "call inside transaction.atomic()"
        table = connection.ops.quote_name(Repository._meta.db_table)
        with connection.cursor() as cursor:
            # One round trip: both SQLite (3.35+) and PostgreSQL do RETURNING.
            cursor.execute(
                f"UPDATE {table} SET job_counter = job_counter + 1 WHERE id = %s RETURNING job_counter",
                [self.pk],
            )
            self.job_counter = cursor.fetchone()[0]
        return self.job_counter

    def release_job_number(self, number):
        """Give back the number just reserved (same transaction, lock held)."""
        Repository.objects.filter(pk=self.pk, job_counter=number).update(job_counter=F("job_counter") - 1)
        self.job_counter = number - 1

    def webhook_url(self):
        return f"{settings.HERALD_BASE_URL}/webhooks/{self.provider}/"

    def web_url(self):
        if self.html_url:
            return self.html_url.rstrip("/")
        from repositories.forges import forge_web_url

        return forge_web_url(self.provider, self.full_name)

    def commit_url(self, sha):
        base = self.web_url()
        if not base:
            return ""
        if self.provider == GITLAB:
            return f"{base}/-/commit/{sha}"
        if self.provider == BITBUCKET:
            return f"{base}/commits/{sha}"
        return f"{base}/commit/{sha}"

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


def permits(permission, needed):
    return permission is not None and Membership.LEVELS[permission] >= Membership.LEVELS[needed]


class Secret(models.Model):
    """A repository secret, exposed to build steps as an environment variable."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=100)
    value = EncryptedTextField()
    allow_forks = models.BooleanField(
        default=False, help_text="Pull requests from forks may read this secret."
    )
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
