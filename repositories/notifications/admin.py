"""Notifications in the admin (imported by repositories/admin.py): add and
change them (the secret write-only), and read what became of each one sent."""

import secrets

from django import forms
from django.contrib import admin
from django.core.validators import validate_email

from repositories.notifications.forms import MIN_SECRET, check_url
from repositories.notifications.models import EMAIL, SLACK, WEBHOOK, Notification, NotificationDelivery


class NotificationAdminForm(forms.ModelForm):
    new_secret = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        label="Secret",
        help_text="Webhook: its signing secret (empty: keep it, or make one for a new webhook). "
        "Slack: the incoming webhook URL (the target then shows it shortened). Never shown again.",
    )

    class Meta:
        model = Notification
        fields = ("repository", "kind", "target", "when", "branches", "enabled")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].required = False
        self.fields["target"].help_text = "An email address or a webhook's URL; for Slack, leave it empty."

    def clean(self):
        data = super().clean()
        kind, target, new = data.get("kind"), (data.get("target") or "").strip(), data.get("new_secret") or ""
        try:
            if kind == EMAIL:
                validate_email(target)
            elif kind == WEBHOOK:
                check_url(target)
                if new and len(new) < MIN_SECRET:
                    self.add_error("new_secret", f"Use at least {MIN_SECRET} characters.")
            elif kind == SLACK:
                if new:
                    check_url(new)
                elif not (self.instance.pk and self.instance.kind == SLACK and self.instance.secret):
                    self.add_error("new_secret", "Give the incoming webhook URL.")
        except forms.ValidationError as e:
            self.add_error("new_secret" if kind == SLACK else "target", e)
        data["target"] = target
        return data

    def save(self, commit=True):
        n = super().save(commit=False)
        new = self.cleaned_data.get("new_secret") or ""
        if n.kind == SLACK:
            if new:
                n.set_slack_url(new)
            else:
                n.set_slack_url(n.secret)
        elif n.kind == WEBHOOK:
            n.secret = new or (n.secret if self.initial.get("kind") == WEBHOOK else "") or secrets.token_hex(32)
        else:
            n.secret = ""
        if commit:
            n.save()
        return n


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    form = NotificationAdminForm
    list_display = ("repository", "kind", "target", "when", "branches", "enabled", "created")
    list_filter = ("kind", "when", "branches", "enabled", "repository__provider", "repository")
    search_fields = ("repository__full_name", "target")
    list_select_related = ("repository",)


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "job",
        "notification",
        "status",
        "previous_status",
        "outcome",
        "attempts",
        "response_code",
        "last_error",
        "updated",
    )
    list_filter = (
        "outcome",
        "notification__kind",
        "status",
        ("updated", admin.DateFieldListFilter),
        "notification__repository",
    )
    show_full_result_count = False  # one a job and notification: as long as the job list (builds/admin.py)
    search_fields = ("job__repository__full_name", "job__commit", "last_error")
    list_select_related = ("job__repository", "notification__repository")
    readonly_fields = [f.name for f in NotificationDelivery._meta.fields]

    def has_add_permission(self, request):
        return False
