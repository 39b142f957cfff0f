from django.contrib import admin, messages
from django.db.models import Prefetch
from django.utils.html import format_html_join

from builds.models import Job
from webhooks.models import Delivery
from webhooks.pages import shown_request
from webhooks.replay import replay


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "received_at",
        "provider",
        "event",
        "outcome",
        "status_code",
        "repository_name",
        "reason",
        "job_links",
    )
    list_filter = ("outcome", "provider", ("received_at", admin.DateFieldListFilter), "event", "repository")
    search_fields = ("delivery_id", "repository_name", "reason")
    show_full_result_count = False  # as for jobs, and a date filter for the same reason (builds/admin.py)
    # What was received is shown masked, as the deliveries page shows it:
    # records kept from before bodies were masked on arrival may hold the
    # webhook secret (webhooks/masking.py).
    exclude = ("headers", "body")
    readonly_fields = [
        {"headers": "masked_headers", "body": "masked_body"}.get(f.name, f.name) for f in Delivery._meta.fields
    ] + ["job_links"]
    actions = ["replay"]

    def view_on_site(self, obj):
        # Not the admin's redirect: a delivery for no known repository has
        # no page, and then the button is not shown.
        return obj.get_absolute_url()

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        # The list shows each delivery's jobs as links: their number is all it reads.
        qs = super().get_queryset(request).prefetch_related(Prefetch("jobs", queryset=Job.objects.only("id", "number")))
        if request.resolver_match and request.resolver_match.url_name.endswith("_changelist"):
            # Nor does it show what was received: up to 256 KB a row.
            qs = qs.defer("body", "headers")
        return qs

    def _shown(self, obj):
        return shown_request(obj, obj.repository.webhook_secret if obj.repository else "")

    @admin.display(description="headers")
    def masked_headers(self, obj):
        return format_html_join("\n", "{}: {}<br>", self._shown(obj)["headers"])

    @admin.display(description="body")
    def masked_body(self, obj):
        return self._shown(obj)["body"]

    @admin.display(description="Jobs")
    def job_links(self, obj):
        return format_html_join(
            ", ", '<a href="{}">#{}</a>', ((j.get_absolute_url(), j.number) for j in obj.jobs.all())
        )

    @admin.action(description="Replay selected deliveries", permissions=["change"])
    def replay(self, request, queryset):
        for delivery in queryset:
            response, new = replay(delivery)
            level = messages.INFO if response.status_code < 400 else messages.WARNING
            messages.add_message(
                request,
                level,
                f"{delivery}: replayed → {response.status_code} {new.outcome if new else ''} {new.reason if new else ''}",
            )
