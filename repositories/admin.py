from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from repositories.models import (
    ApiToken,
    CommitStatus,
    ForgeAccount,
    ForgeEvent,
    Membership,
    Repository,
    Secret,
    generate_webhook_secret,
)


def _show_secret_once(request, repo, secret):
    messages.warning(
        request,
        format_html(
            "Webhook secret for {}: <code class='secret'>{}</code> — copy it into the forge's hook now; "
            "Herald will not show it again. Payload URL: <code>{}</code>",
            repo.full_name,
            secret,
            repo.webhook_url(),
        ),
    )


class SecretInline(admin.TabularInline):
    model = Secret
    extra = 0
    fields = ("name", "new_value", "allow_forks", "updated")
    readonly_fields = ("updated",)

    class form(forms.ModelForm):
        new_value = forms.CharField(
            required=False,
            widget=forms.PasswordInput(render_value=False),
            help_text="Write-only: leave empty to keep the stored value.",
        )

        class Meta:
            model = Secret
            fields = ("name", "allow_forks")

        def clean(self):
            data = super().clean()
            if not self.instance.pk and not data.get("new_value"):
                raise forms.ValidationError("A new secret needs a value.")
            return data

        def save(self, commit=True):
            if self.cleaned_data.get("new_value"):
                self.instance.value = self.cleaned_data["new_value"]
            return super().save(commit)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ("full_name", "provider", "active", "private", "default_branch", "build_timeout", "updated")
    list_filter = ("provider", "active", "private")
    search_fields = ("full_name", "clone_url")
    readonly_fields = ("webhook_url_display", "job_counter", "created", "updated", "hook_id", "forge_id", "enabled_by")
    inlines = [SecretInline, MembershipInline]
    actions = ["regenerate_secret", "activate", "deactivate"]
    fieldsets = (
        (None, {"fields": ("provider", "full_name", "clone_url", "html_url", "default_branch")}),
        ("Builds", {"fields": ("active", "private", "build_timeout", "auto_cancel", "max_concurrency")}),
        ("Retention", {"fields": ("keep_days", "keep_builds")}),
        ("Webhook", {"fields": ("webhook_url_display", "accept_sha1_signature", "hook_id", "forge_id", "enabled_by")}),
        ("Bookkeeping", {"fields": ("job_counter", "created", "updated")}),
    )

    @admin.display(description="Webhook URL")
    def webhook_url_display(self, obj):
        return obj.webhook_url() if obj.pk else "(shown after saving)"

    def response_add(self, request, obj, post_url_continue=None):
        _show_secret_once(request, obj, obj.webhook_secret)
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Generate a new webhook secret (shown once)")
    def regenerate_secret(self, request, queryset):
        for repo in queryset:
            repo.webhook_secret = generate_webhook_secret()
            repo.save(update_fields=["webhook_secret", "updated"])
            _show_secret_once(request, repo, repo.webhook_secret)

    @admin.action(description="Activate")
    def activate(self, request, queryset):
        queryset.update(active=True)

    @admin.action(description="Deactivate (history stays)")
    def deactivate(self, request, queryset):
        queryset.update(active=False)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created", "last_used")
    readonly_fields = ("prefix", "created", "last_used")
    fields = ("user", "name", "prefix", "created", "last_used")

    def save_model(self, request, obj, form, change):
        if not change:
            token = obj.set_new_token()
            messages.warning(
                request,
                format_html(
                    "API token for {}: <code class='secret'>{}</code> — copy it now; it is not shown again.",
                    obj.user,
                    token,
                ),
            )
        super().save_model(request, obj, form, change)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "repository", "permission", "refreshed_at")
    list_filter = ("permission",)
    autocomplete_fields = ["user", "repository"]


@admin.register(ForgeAccount)
class ForgeAccountAdmin(admin.ModelAdmin):
    list_display = ("login", "provider", "user", "revoked_at", "permissions_refreshed_at", "updated")
    list_filter = ("provider",)
    search_fields = ("login", "user__username")
    # The token is never shown: it is write-only, set by signing in.
    readonly_fields = (
        "user",
        "provider",
        "uid",
        "login",
        "token_expires_at",
        "permissions_refreshed_at",
        "created",
        "updated",
    )
    fields = readonly_fields + ("revoked_at",)

    def has_add_permission(self, request):
        return False


@admin.register(CommitStatus)
class CommitStatusAdmin(admin.ModelAdmin):
    list_display = ("job", "state", "description", "outcome", "attempts", "response_code", "last_error", "updated")
    list_filter = ("outcome", "state")
    search_fields = ("job__repository__full_name", "job__commit", "last_error")
    list_select_related = ("job__repository",)
    readonly_fields = [f.name for f in CommitStatus._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ForgeEvent)
class ForgeEventAdmin(admin.ModelAdmin):
    list_display = ("created", "provider", "kind", "ok", "message", "user", "repository")
    list_filter = ("provider", "kind", "ok")
    search_fields = ("message",)
    readonly_fields = [f.name for f in ForgeEvent._meta.fields]

    def has_add_permission(self, request):
        return False


# Notifications register their own (repositories/notifications/admin.py).
from repositories.notifications import admin as _notifications_admin  # noqa: E402, F401
