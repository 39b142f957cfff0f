from django.contrib import admin, messages
from django.utils.html import format_html

from builds.lifecycle import restart
from builds.models import Job, LogChunk, PruneRun, Schedule, Worker
from builds.schedules.forms import ScheduleForm


def status_label(status):
    """A status in its colour, as on Herald's pages (static/herald/admin.css)."""
    return format_html('<span class="herald-status status-{}">{}</span>', status, status)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "colored_status",
        "event",
        "branch",
        "short_commit",
        "created_at",
        "finished_at",
        "worker",
        "page",
    )
    # A date as "today, past 7 days, this month, this year": no query. Not
    # date_hierarchy, which lists the dates jobs exist on with a DISTINCT
    # over the whole table (0.9 s of each page load at 100,000 jobs on SQLite).
    list_filter = ("status", "event", "repository__provider", ("created_at", admin.DateFieldListFilter), "repository")
    search_fields = ("commit", "branch", "message", "author", "repository__full_name")
    list_select_related = ("repository",)
    actions = ["cancel", "restart_jobs"]
    readonly_fields = [f.name for f in Job._meta.fields] + ["page"]
    # The changelist counts the jobs its filters match for its pages; the
    # whole table's count, beside it, is one more scan of the largest table
    # for a figure nobody reads.
    show_full_result_count = False

    @admin.display(description="Status", ordering="status")
    def colored_status(self, obj):
        return status_label(obj.status)

    def has_add_permission(self, request):
        return False

    @admin.display(description="Page")
    def page(self, obj):
        return format_html('<a href="{}">open</a>', obj.get_absolute_url())

    @admin.action(description="Cancel selected jobs", permissions=["change"])
    def cancel(self, request, queryset):
        n = sum(1 for job in queryset if job.request_cancel(f"Cancelled by {request.user.get_username()} (admin)"))
        messages.info(request, f"{n} job(s) cancelled or asked to stop.")

    @admin.action(description="Restart selected jobs", permissions=["change"])
    def restart_jobs(self, request, queryset):
        new = [restart(job, user=request.user) for job in queryset.select_related("repository")]
        messages.info(request, "Restarted as " + ", ".join(str(j) for j in new))


@admin.register(LogChunk)
class LogChunkAdmin(admin.ModelAdmin):
    list_display = ("job", "seq", "created")
    raw_id_fields = ("job",)
    readonly_fields = ("job", "seq", "text", "created")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ("host", "slots", "labels", "started_at", "last_seen")


@admin.register(PruneRun)
class PruneRunAdmin(admin.ModelAdmin):
    """What retention deleted, pass by pass (builds.retention)."""

    list_display = ("started_at", "finished_at", "host", "builds", "jobs", "log_chunks", "log_bytes", "error")
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    """Checked as on the repository page (builds.schedules.forms): the
    expression, the zone, the branch and the parameters."""

    form = ScheduleForm
    list_display = (
        "__str__",
        "cron",
        "timezone",
        "branch",
        "enabled",
        "next_run_at",
        "last_run_at",
        "last_job",
        "last_error",
    )
    list_filter = ("enabled", "repository__provider", "timezone", "repository")
    search_fields = ("name", "cron", "branch", "repository__full_name")
    list_select_related = ("repository", "last_job")
    fields = ("repository", "name", "cron", "timezone", "branch", "params", "enabled", "created_by")
    readonly_fields = ("created_by", "next_run_at", "last_run_at", "last_job", "last_error", "created_at")
    raw_id_fields = ("repository",)

    def get_fields(self, request, obj=None):
        return [*self.fields, *(f for f in self.readonly_fields if f != "created_by")]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
