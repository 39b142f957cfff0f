"""Adding a notification: the one set of checks behind the settings page's
form and the API."""

import secrets
from urllib.parse import urlsplit

from django import forms
from django.core.validators import validate_email

from repositories.notifications.models import (
    BRANCH_CHOICES,
    DEFAULT_BRANCH,
    EMAIL,
    FAILURE_AND_FIXED,
    KIND_CHOICES,
    SLACK,
    WEBHOOK,
    WHEN_CHOICES,
    Notification,
)

MIN_SECRET = 16
MAX_PER_REPOSITORY = 50


def check_url(url):
    """An http(s) URL with a host; anything else gets the reason."""
    if len(url) > 500:
        raise forms.ValidationError("The URL is longer than 500 characters.")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise forms.ValidationError("A URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise forms.ValidationError("This is not a URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise forms.ValidationError("Use an http:// or https:// URL.")
    if not parts.hostname:
        raise forms.ValidationError("The URL has no host.")
    return url


class NotificationForm(forms.Form):
    kind = forms.ChoiceField(choices=KIND_CHOICES)
    target = forms.CharField(
        max_length=500,
        label="Address or URL",
        help_text="An email address; the webhook's URL; or the incoming webhook URL Slack, Mattermost, "
        "Rocket.Chat or Discord (…/slack) gave you.",
    )
    secret = forms.CharField(
        required=False,
        max_length=200,
        label="Signing secret",
        help_text="Webhooks only: the key of the X-Herald-Signature-256 HMAC; empty: Herald makes one and shows it once.",
    )
    # Optional for the API: the defaults when left out.
    when = forms.ChoiceField(choices=WHEN_CHOICES, initial=FAILURE_AND_FIXED, required=False)
    branches = forms.ChoiceField(choices=BRANCH_CHOICES, initial=DEFAULT_BRANCH, required=False)

    def __init__(self, *args, repository, **kwargs):
        super().__init__(*args, **kwargs)
        self.repository = repository

    def clean(self):
        data = super().clean()
        data["when"] = data.get("when") or FAILURE_AND_FIXED
        data["branches"] = data.get("branches") or DEFAULT_BRANCH
        kind, target = data.get("kind"), (data.get("target") or "").strip()
        if not kind or not target:
            return data
        if kind == EMAIL:
            try:
                validate_email(target)
            except forms.ValidationError:
                self.add_error("target", "Enter one valid email address.")
        else:
            try:
                check_url(target)
            except forms.ValidationError as e:
                self.add_error("target", e)
        secret = data.get("secret") or ""
        if secret and kind != WEBHOOK:
            self.add_error("secret", "Only webhooks are signed; leave the secret empty.")
        elif secret and len(secret) < MIN_SECRET:
            self.add_error("secret", f"Use at least {MIN_SECRET} characters.")
        if self.repository.notifications.count() >= MAX_PER_REPOSITORY:
            raise forms.ValidationError(f"A repository has at most {MAX_PER_REPOSITORY} notifications.")
        data["target"] = target
        return data

    def save(self, user=None):
        """The new Notification, and the signing secret Herald made for it
        (to be shown once) or ""."""
        data = self.cleaned_data
        notification = Notification(
            repository=self.repository,
            kind=data["kind"],
            when=data["when"],
            branches=data["branches"],
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        made = ""
        if data["kind"] == SLACK:
            notification.set_slack_url(data["target"])
        else:
            notification.target = data["target"]
        if data["kind"] == WEBHOOK:
            notification.secret = data["secret"] or secrets.token_hex(32)
            made = "" if data["secret"] else notification.secret
        notification.save()
        return notification, made

    def reasons(self):
        """The errors as one line: 'target: Enter one valid email address.'"""
        return "; ".join(
            f"{field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors)
            for field, errors in self.errors.items()
        )
