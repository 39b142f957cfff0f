"""What monitoring asks of a running Herald: /healthz, /readyz, /metrics.

/healthz and /readyz need no authentication and say nothing secret. /metrics
(Prometheus' text format, built with prometheus-client) answers only with
HERALD_METRICS_TOKEN as a Bearer token, and 404 while that is unset. Every
figure is read from the database at scrape time, so any web process of
any number answers the same, whatever worker machines run the builds.
"""

import hmac
from datetime import timedelta

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.brokers import get_broker
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder

from builds import constants as C
from builds.models import Job, Worker
from ciproject import __version__
from repositories.models import CommitStatus
from webhooks.models import Delivery

# Build durations, in seconds: from a trivial build to the longest timeout.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

_migrated = False


@require_GET
@never_cache
def healthz(request):
    """Liveness: the process answers. Touches nothing else."""
    return JsonResponse({"status": "ok", "version": __version__})


@require_GET
@never_cache
def readyz(request):
    """Readiness: the database answers, every migration is applied, the
    queue's broker answers. 503 with the reason otherwise."""
    problem = _not_ready()
    body = {"status": "unavailable" if problem else "ok", "version": __version__}
    if problem:
        body["reason"] = problem
    return JsonResponse(body, status=503 if problem else 200)


def _not_ready():
    global _migrated
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrated:
            # Loading the migrations costs tens of milliseconds: once they
            # are all applied they stay so for this process's life (an
            # upgrade restarts it).
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if pending:
                return f"{len(pending)} database migrations are not applied: run manage.py migrate"
            _migrated = True
    except DatabaseError as e:
        return f"the database does not answer ({type(e).__name__})"
    if settings.HERALD_REDIS_URL:
        try:
            if not get_broker().ping():
                return "the queue's Redis does not answer"
        except Exception as e:  # redis' errors, whatever the version
            return f"the queue's Redis does not answer ({type(e).__name__})"
    return ""


@require_GET
@never_cache
def metrics(request):
    token = settings.HERALD_METRICS_TOKEN
    if not token:
        return HttpResponse("Not found\n", status=404, content_type="text/plain")
    # Wrong tokens count as failed sign-ins for django-axes, as API tokens do.
    credentials = {"username": None}
    if AxesProxyHandler.is_locked(request, credentials):
        return HttpResponse(
            "Too many invalid tokens from this address; try again later.\n", status=429, content_type="text/plain"
        )
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        if given:
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        return HttpResponse(
            "A Bearer token is needed (HERALD_METRICS_TOKEN).\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    # The format Prometheus asks for (OpenMetrics or the classic text).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)


class DatabaseCollector:
    """prometheus-client's custom collector: one set of queries a scrape."""

    def collect(self):
        now = timezone.now()
        yield from self.jobs(now)
        yield self.durations()
        yield self.workers(now)

        deliveries = GaugeMetricFamily(
            "herald_webhook_deliveries",
            "Webhook deliveries on record (housekeeping trims old ones)",
            labels=["forge", "outcome"],
        )
        for row in Delivery.objects.order_by().values("provider", "outcome").annotate(n=Count("id")):
            deliveries.add_metric([row["provider"], row["outcome"]], row["n"])
        yield deliveries

        posts = GaugeMetricFamily(
            "herald_commit_status_posts", "Commit statuses for the forges, by outcome", labels=["outcome"]
        )
        for row in CommitStatus.objects.order_by().values("outcome").annotate(n=Count("id")):
            posts.add_metric([row["outcome"]], row["n"])
        yield posts

        stored = Job.objects.aggregate(b=Sum("log_bytes"))["b"] or 0
        yield GaugeMetricFamily(
            "herald_log_stored_bytes", "Bytes of build log stored (counted when a job ends)", value=stored
        )

    def jobs(self, now):
        by_status = GaugeMetricFamily("herald_jobs", "Jobs on record by status", labels=["status"])
        counts = dict(Job.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status, _ in C.STATUS_CHOICES:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        yield GaugeMetricFamily("herald_queue_length", "Jobs waiting for a worker", value=counts.get(C.QUEUED, 0))
        oldest = Job.objects.filter(status=C.QUEUED).aggregate(t=Min("created_at"))["t"]
        yield GaugeMetricFamily(
            "herald_queue_oldest_age_seconds",
            "How long the oldest queued job has waited",
            value=(now - oldest).total_seconds() if oldest else 0,
        )
        running = GaugeMetricFamily("herald_running_builds", "Builds running, by worker", labels=["worker"])
        for worker, n in Job.objects.filter(status=C.RUNNING).order_by().values_list("worker").annotate(n=Count("id")):
            running.add_metric([worker], n)
        yield running

    def durations(self):
        """A histogram of finished builds' durations by repository and final
        status, counted by the database (one row per repository and status)."""
        family = HistogramMetricFamily(
            "herald_build_duration_seconds", "Finished builds' durations", labels=["repository", "status"]
        )
        finished = Job.objects.filter(
            status__in=C.FINAL_STATUSES, started_at__isnull=False, finished_at__isnull=False
        ).order_by()
        within = {
            f"le_{b}": Count("id", filter=Q(finished_at__lte=F("started_at") + timedelta(seconds=b)))
            for b in DURATION_BUCKETS
        }
        took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        rows = finished.values("repository__full_name", "status").annotate(total=Count("id"), sum=Sum(took), **within)
        for row in rows:
            buckets = [(str(b), row[f"le_{b}"]) for b in DURATION_BUCKETS] + [("+Inf", row["total"])]
            total = row["sum"] or timedelta(0)
            family.add_metric([row["repository__full_name"], row["status"]], buckets, sum_value=total.total_seconds())
        return family

    def workers(self, now):
        return GaugeMetricFamily(
            "herald_workers_online", "Worker machines that reported recently", value=Worker.online().count()
        )
