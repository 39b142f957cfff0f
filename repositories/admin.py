"""Repositories, their secrets and accounts in the admin.

A repository is added as `manage.py addrepo` adds one (repositories/
admin_forms.py: the same questions, the same checks); the answer to the
form is the forge's webhook form filled in, with the webhook secret: the
one time it is shown. Regenerating a secret answers with the same page.
The change page and every list say only whether a secret is set.
"""

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from forges.git.hook import SOMEWHERE, install_commands
from repositories.admin_forms import NewRepositoryForm, SecretForm
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


def hook_setup_page(request, admin_site, repos, title):
    """The webhook set-up for each of `repos`, its secret shown: the answer
    to adding a repository or regenerating secrets, never stored (not in a
    message: those wait in the session or a cookie until shown)."""
    shown = []
    for repo in repos:
        webhook = repo.forge.webhook
        commands = (
            install_commands(repo.clone_url, repo.webhook_url(), repo.full_name, repo.webhook_secret)
            if repo.provider == "git"
            else []
        )
        shown.append(
            {
                "repo": repo,
                "hook": webhook.instructions(repo) if webhook else None,
                "secret": repo.webhook_secret,
                "commands": commands,
                "somewhere": SOMEWHERE if commands and SOMEWHERE in commands[0] else "",
                "change_url": reverse("admin:repositories_repository_change", args=[repo.pk]),
            }
        )
    context = {
        **admin_site.each_context(request),
        "title": title,
        "shown": shown,
        "opts": Repository._meta,
        "add_url": reverse("admin:repositories_repository_add"),
    }
    return TemplateResponse(request, "admin/repositories/repository/hook_setup.html", context)


class SecretInline(admin.TabularInline):
    model = Secret
    form = SecretForm
    extra = 0
    fields = ("name", "new_value", "allow_forks", "updated")
    readonly_fields = ("updated",)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = (
        "full_name",
        "provider",
        "active",
        "private",
        "default_branch",
        "build_timeout",
        "updated",
        "on_herald",
    )
    list_filter = ("provider", "active", "private")
    search_fields = ("full_name", "clone_url")
    readonly_fields = (
        "webhook_url_display",
        "webhook_secret_state",
        "job_counter",
        "created",
        "updated",
        "hook_id",
        "forge_id",
        "enabled_by",
    )
    inlines = [SecretInline, MembershipInline]
    actions = ["regenerate_secret", "activate", "deactivate"]
    add_fieldsets = ((None, {"fields": NewRepositoryForm._meta.fields}),)
    fieldsets = (
        (None, {"fields": ("provider", "full_name", "clone_url", "html_url", "default_branch")}),
        ("Builds", {"fields": ("active", "private", "build_timeout", "auto_cancel", "max_concurrency", "approval")}),
        ("Retention", {"fields": ("keep_days", "keep_builds")}),
        (
            "Webhook",
            {
                "fields": (
                    "webhook_url_display",
                    "webhook_secret_state",
                    "accept_sha1_signature",
                    "hook_id",
                    "forge_id",
                    "enabled_by",
                )
            },
        ),
        ("Bookkeeping", {"fields": ("job_counter", "created", "updated")}),
    )

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = NewRepositoryForm
        return super().get_form(request, obj, **kwargs)

    def get_inlines(self, request, obj):
        # Secrets and members once it exists: the add form is addrepo's.
        return self.inlines if obj is not None else []

    @admin.display(description="Page")
    def on_herald(self, obj):
        return format_html('<a href="{}">open</a>', obj.get_absolute_url())

    @admin.display(description="Webhook URL")
    def webhook_url_display(self, obj):
        return obj.webhook_url()

    @admin.display(description="Webhook secret")
    def webhook_secret_state(self, obj):
        return "set (shown once, when it was made; the action “Generate a new webhook secret” replaces it)"

    def response_add(self, request, obj, post_url_continue=None):
        if IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        return hook_setup_page(request, self.admin_site, [obj], f"{obj.full_name} added: set its webhook up")

    @admin.action(description="Generate a new webhook secret (shown once)", permissions=["change"])
    def regenerate_secret(self, request, queryset):
        repos = list(queryset)
        for repo in repos:
            repo.webhook_secret = generate_webhook_secret()
            repo.save(update_fields=["webhook_secret", "updated"])
        return hook_setup_page(request, self.admin_site, repos, "New webhook secrets: set them on the forge")

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request, queryset):
        queryset.update(active=True)

    @admin.action(description="Deactivate (history stays)", permissions=["change"])
    def deactivate(self, request, queryset):
        queryset.update(active=False)


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    """Every repository's secrets in one list: names, never values."""

    form = SecretForm
    fields = ("repository", "name", "new_value", "allow_forks", "created", "updated")
    readonly_fields = ("created", "updated")
    list_display = ("name", "repository", "allow_forks", "updated")
    list_filter = ("allow_forks", "repository__provider", "repository")
    search_fields = ("name", "repository__full_name")
    list_select_related = ("repository",)
    autocomplete_fields = ("repository",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created", "last_used")
    search_fields = ("prefix", "name", "user__username")
    list_select_related = ("user",)
    readonly_fields = ("prefix", "created", "last_used")
    fields = ("user", "name", "prefix", "created", "last_used")

    def save_model(self, request, obj, form, change):
        if not change:
            # Kept on the object for response_add, which shows it (never
            # in a message: those wait in the session until shown).
            obj.new_token = obj.set_new_token()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        if IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": f"API token for {obj.user}: copy it now",
            "opts": ApiToken._meta,
            "token": obj.new_token,
            "obj": obj,
        }
        return TemplateResponse(request, "admin/repositories/apitoken/created.html", context)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "repository", "permission", "refreshed_at")
    list_filter = ("permission", "repository__provider")
    search_fields = ("user__username", "repository__full_name")
    list_select_related = ("user", "repository")
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
    list_filter = (
        "outcome",
        "state",
        "job__repository__provider",
        ("updated", admin.DateFieldListFilter),
        "job__repository",
    )
    search_fields = ("job__repository__full_name", "job__commit", "last_error")
    list_select_related = ("job__repository",)
    show_full_result_count = False
    readonly_fields = [f.name for f in CommitStatus._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ForgeEvent)
class ForgeEventAdmin(admin.ModelAdmin):
    list_display = ("created", "provider", "kind", "ok", "message", "user", "repository")
    list_filter = ("provider", "kind", "ok", ("created", admin.DateFieldListFilter))
    search_fields = ("message", "repository__full_name", "user__username")
    list_select_related = ("user", "repository")
    readonly_fields = [f.name for f in ForgeEvent._meta.fields]

    def has_add_permission(self, request):
        return False


# Notifications register their own (repositories/notifications/admin.py).
from repositories.notifications import admin as _notifications_admin  # noqa: E402, F401
