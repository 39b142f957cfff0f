from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from builds import api, artifact_views, badges, views
from builds.schedules import api as schedule_api
from builds.schedules import views as schedule_views
from ciproject import health
from repositories import views as repository_views
from repositories.notifications import api as notification_api
from repositories.notifications import views as notification_views
from webhooks import pages as webhook_pages
from webhooks import views as webhook_views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("favicon.ico", views.favicon, name="favicon"),
    # Before "repository": its <path:> would swallow the "/deliveries" suffix.
    path("repos/<path:full_name>/deliveries/", webhook_pages.deliveries, name="repository-deliveries"),
    path("deliveries/<int:delivery_id>/replay", webhook_pages.replay_delivery, name="delivery-replay"),
    path("repos/<path:full_name>/run", views.run_now, name="run-now"),
    path("repos/<path:full_name>/notifications", notification_views.notifications, name="notifications"),
    path(
        "notifications/<int:notification_id>/delete", notification_views.notification_delete, name="notification-delete"
    ),
    path("repos/<path:full_name>/schedules/new", schedule_views.schedule_new, name="schedule-new"),
    path("schedules/<int:schedule_id>/", schedule_views.schedule_edit, name="schedule-edit"),
    path("schedules/<int:schedule_id>/delete", schedule_views.schedule_delete, name="schedule-delete"),
    path("repos/<path:full_name>/", repository_views.repository, name="repository"),
    path("jobs/<int:job_id>/", views.job, name="job"),
    path("jobs/<int:job_id>/log.txt", views.job_log_txt, name="job-log-txt"),
    path("jobs/<int:job_id>/artifacts/<int:artifact_id>/<str:name>", artifact_views.download, name="job-artifact"),
    path("jobs/<int:job_id>/cancel", views.job_cancel, name="job-cancel"),
    path("jobs/<int:job_id>/restart", views.job_restart, name="job-restart"),
    path("jobs/<int:job_id>/retry", views.job_retry, name="job-retry"),
    path("jobs/<int:job_id>/approve", views.job_approve, name="job-approve"),
    path("jobs/<int:job_id>/decline", views.job_decline, name="job-decline"),
    path("webhooks/<str:provider>/", webhook_views.receive, name="webhook"),
    path("api/jobs/<int:job_id>/", api.job_detail, name="api-job"),
    path("api/jobs/<int:job_id>/log", api.job_log, name="api-job-log"),
    path("api/jobs/<int:job_id>/tests", api.job_tests, name="api-job-tests"),
    path("api/jobs/<int:job_id>/artifacts", artifact_views.api_list, name="api-job-artifacts"),
    path("api/jobs/<int:job_id>/log/lines", api.job_log_lines, name="api-job-log-lines"),
    path("api/jobs/<int:job_id>/log/search", api.job_log_search, name="api-job-log-search"),
    path("api/jobs/<int:job_id>/cancel", api.job_cancel, name="api-job-cancel"),
    path("api/jobs/<int:job_id>/restart", api.job_restart, name="api-job-restart"),
    path("api/jobs/<int:job_id>/retry", api.job_retry, name="api-job-retry"),
    path("api/jobs/<int:job_id>/approve", api.job_approve, name="api-job-approve"),
    path("api/jobs/<int:job_id>/decline", api.job_decline, name="api-job-decline"),
    path("api/lint", api.lint, name="api-lint"),
    path("api/repos/<path:full_name>/jobs/", api.repo_jobs, name="api-repo-jobs"),
    path("api/repos/<path:full_name>/builds", api.repo_builds, name="api-repo-builds"),
    path(
        "api/repos/<path:full_name>/notifications", notification_api.repo_notifications, name="api-repo-notifications"
    ),
    path("api/notifications/<int:notification_id>", notification_api.notification_detail, name="api-notification"),
    path("api/repos/<path:full_name>/schedules", schedule_api.repo_schedules, name="api-repo-schedules"),
    path("api/schedules/<int:schedule_id>", schedule_api.schedule_detail, name="api-schedule"),
    path("badges/<path:full_name>.svg", badges.badge, name="badge"),
    path("login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/repositories/", repository_views.forge_repositories, name="forge-repositories"),
    path(
        "account/repositories/<str:provider>/enable",
        repository_views.forge_repository_enable,
        name="forge-repository-enable",
    ),
    path(
        "account/repositories/<str:provider>/disable",
        repository_views.forge_repository_disable,
        name="forge-repository-disable",
    ),
    # django-allauth: /accounts/<forge>/login/ and …/login/callback/ (OAuth).
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
]
