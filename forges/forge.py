"""What Herald knows about a forge without talking to it: its name, where
its pages are, how it names commit states, and where its webhook adapter,
API client and OAuth provider live (dotted paths, imported on first use:
the description is read while settings load, before Django's apps are)."""

from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(eq=False)
class Forge:
    # In /webhooks/<id>/, in the database (Repository.provider: never
    # change one) and allauth's provider id (/accounts/<id>/login/).
    id: str
    # For people: form choices, the admin, the repository page.
    name: str
    # Where it is listed (choices, sign-in buttons).
    position: int
    # On the sign-in button, when shorter than `name`.
    short_name: str = ""
    # What the forge calls the groups HERALD_ORGS names.
    organisation_word: str = "organisation"
    # Appended to a repository's web URL.
    commit_path: str = "/commit/{sha}"
    pr_path: str = "/pull/{number}"
    # False for a forge with no web pages (plain git): a repository of it
    # links nowhere (Repository.web_url), whatever web URL it was given.
    links: bool = True
    # Herald status → the forge's commit status state.
    statuses: dict = field(default_factory=dict)
    # Dotted paths; "" when the forge has none.
    webhook_path: str = ""
    client_path: str = ""
    # Herald's allauth provider class, and allauth's own provider app it
    # extends (which must be in INSTALLED_APPS for allauth to register it).
    oauth_provider: str = ""
    oauth_app: str = ""
    oauth_settings: dict = field(default_factory=dict)

    def __post_init__(self):
        self.short_name = self.short_name or self.name

    def __repr__(self):
        return f"<Forge {self.id}>"

    def setting(self, suffix):
        """HERALD_<ID>_<suffix>, "" when not set."""
        return getattr(settings, f"HERALD_{self.id.upper()}_{suffix}", "") or ""

    @property
    def base_url(self):
        return self.setting("URL")

    @property
    def client_id(self):
        return self.setting("CLIENT_ID")

    @property
    def client_secret(self):
        return self.setting("CLIENT_SECRET")

    @property
    def sign_in_configured(self):
        # Without a base URL (Gitea has no default one) there is nowhere to
        # send the user.
        return bool(self.oauth_provider and self.client_id and self.client_secret and self.base_url)

    def web_url(self, full_name):
        base = self.base_url
        return f"{base}/{full_name}" if base else ""

    def commit_url(self, web_url, sha):
        return f"{web_url}{self.commit_path.format(sha=sha)}" if web_url else ""

    def pr_url(self, web_url, number):
        return f"{web_url}{self.pr_path.format(number=number)}" if web_url and number else ""

    def state_for(self, status):
        """The commit status state to post for a Herald status. Waiting for
        approval is "pending" wherever queued is: the forge then shows the
        pull request's check as not done, never as passed or failed."""
        return self.statuses.get("queued" if status == "blocked" else status, "error")

    @cached_property
    def webhook(self):
        """The webhook adapter (forges/webhook.py), or None."""
        return import_string(self.webhook_path)() if self.webhook_path else None

    @cached_property
    def client(self):
        """The API client class (forges/client.py), or None."""
        return import_string(self.client_path) if self.client_path else None
