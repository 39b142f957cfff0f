"""A repository's notifications (email, a signed webhook, a Slack-compatible
incoming webhook) and what became of each one sent (for the admin).
Registered with the repositories app by the import at the end of
repositories/models.py."""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models

from ciproject.crypto import EncryptedTextField

EMAIL, WEBHOOK, SLACK = "email", "webhook", "slack"
KIND_CHOICES = [
    (EMAIL, "Email"),
    (WEBHOOK, "Webhook (signed JSON)"),
    (SLACK, "Slack-compatible incoming webhook"),
]

FAILURE_AND_FIXED, FAILURE, FIXED, ALWAYS = "failure_fixed", "failure", "fixed", "always"
WHEN_CHOICES = [
    (FAILURE_AND_FIXED, "On failure and when fixed"),
    (FAILURE, "On failure"),
    (FIXED, "When fixed"),
    (ALWAYS, "Always"),
]

DEFAULT_BRANCH, ALL_BRANCHES = "default", "all"
BRANCH_CHOICES = [
    (DEFAULT_BRANCH, "The default branch only"),
    (ALL_BRANCHES, "Every branch, tag and pull request"),
]


class Notification(models.Model):
    repository = models.ForeignKey("repositories.Repository", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=10, choices=KIND_CHOICES)
    # An email address, or a webhook's URL; for Slack, whose URL is itself
    # the credential, only a shortened form to recognise it by.
    target = models.CharField(max_length=500)
    # A webhook's signing secret, or Slack's full URL; never shown back.
    secret = EncryptedTextField(blank=True, editable=False)
    when = models.CharField(max_length=20, choices=WHEN_CHOICES, default=FAILURE_AND_FIXED)
    branches = models.CharField(max_length=10, choices=BRANCH_CHOICES, default=DEFAULT_BRANCH)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["repository", "id"]

    def __str__(self):
        return f"{self.repository}: {self.get_kind_display()} {self.target}"

    def set_slack_url(self, url):
        self.secret = url
        self.target = shorten(url)


def shorten(url):
    """An incoming webhook's URL without its secret part: scheme and host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


class NotificationDelivery(models.Model):
    """One notification sent (or tried) for one build: a matrix build has
    one, its first job's, whatever the number of its jobs."""

    QUEUED, SENDING, RETRYING, SENT, FAILED = "queued", "sending", "retrying", "sent", "failed"
    OUTCOMES = [(o, o) for o in (QUEUED, SENDING, RETRYING, SENT, FAILED)]

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    job = models.ForeignKey("builds.Job", on_delete=models.CASCADE, related_name="notification_deliveries")
    status = models.CharField(max_length=20, help_text="The build's result it reports.")
    previous_status = models.CharField(max_length=20, blank=True, help_text="The result of the build before.")
    outcome = models.CharField(max_length=20, choices=OUTCOMES, default=QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.IntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "notification deliveries"
        # A build is reported once per notification, however many of its
        # jobs (or redelivered tasks) see it end.
        constraints = [models.UniqueConstraint("notification", "job", name="notificationdelivery_unique_build")]

    def __str__(self):
        return f"{self.notification} for job {self.job_id}: {self.outcome}"
