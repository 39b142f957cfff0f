from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

import forges
from builds.models import Job
from repositories.models import Repository

ACCEPTED, IGNORED, REJECTED, DUPLICATE, ERROR = "accepted", "ignored", "rejected", "duplicate", "error"
OUTCOME_CHOICES = [(o, o) for o in (ACCEPTED, IGNORED, REJECTED, DUPLICATE, ERROR)]

# What is kept of a request body: enough to replay a push, bounded for abuse.
BODY_KEEP_BYTES = 256 * 1024
REJECTED_BODY_KEEP_BYTES = 8 * 1024


class Delivery(models.Model):
    """One webhook request as Herald received it, whatever became of it."""

    provider = models.CharField(max_length=20, choices=forges.choices())
    delivery_id = models.CharField(max_length=100, blank=True, help_text="The forge's delivery id.")
    event = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=20, choices=OUTCOME_CHOICES)
    reason = models.CharField(max_length=500, blank=True)
    status_code = models.PositiveSmallIntegerField(default=200)
    # Indexed by delivery_repo_recent below.
    repository = models.ForeignKey(
        Repository, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    repository_name = models.CharField(max_length=255, blank=True, help_text="As named by the payload.")
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField(blank=True)
    body_size = models.PositiveIntegerField(default=0)
    body_truncated = models.BooleanField(default=False)
    jobs = models.ManyToManyField(Job, blank=True, related_name="deliveries")
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    authenticated = models.BooleanField(
        default=False, help_text="The request proved it knew the repository's webhook secret."
    )
    journal_entry = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Received while the database was away: its file in the webhook journal, replayed later.",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # A forge redelivering the same id must not build twice; only the
            # accepted record counts, so a delivery rejected for a wrong
            # secret can succeed once the secret is fixed.
            models.UniqueConstraint(
                "provider",
                "delivery_id",
                condition=models.Q(outcome="accepted") & ~models.Q(delivery_id=""),
                name="delivery_unique_accepted",
            ),
            # A journaled delivery is recorded once: a replay that finds its
            # record (a crash between the commit and removing the file)
            # only removes the file.
            models.UniqueConstraint(
                fields=["journal_entry"], condition=~models.Q(journal_entry=""), name="delivery_unique_journal_entry"
            ),
        ]
        indexes = [models.Index(fields=["repository", "-received_at"], name="delivery_repo_recent")]

    def __str__(self):
        return f"{self.provider} {self.event} {self.delivery_id or self.pk}"

    def get_absolute_url(self):
        """It on its repository's deliveries page (None for a delivery that
        named no repository Herald has: it has no page but the admin's)."""
        if self.repository_id is None:
            return None
        url = reverse("repository-deliveries", args=[self.repository.full_name])
        return f"{url}?provider={self.repository.provider}&delivery={self.pk}"

    def save_with_jobs(self, job_ids):
        """Save this new delivery and link the jobs it made or matched."""
        self.save(force_insert=True)
        # One INSERT: a new delivery has no links yet for jobs.add() to look up.
        Delivery.jobs.through.objects.bulk_create(
            [Delivery.jobs.through(delivery_id=self.pk, job_id=job_id) for job_id in job_ids]
        )
        return self

    @classmethod
    def trim(cls, keep=None):
        """Keep the newest `keep` deliveries per repository (and unmatched),
        counting those that proved they knew the webhook secret apart from
        those that did not: anyone can send the second kind, and a flood of
        them must not push the forge's own deliveries out of the record."""
        keep = keep or settings.HERALD_DELIVERIES_KEPT
        crowded = (
            cls.objects.order_by()
            .values("repository", "authenticated")
            .annotate(n=models.Count("id"))
            .filter(n__gt=keep)
            .values_list("repository", "authenticated")
        )
        for rid, authenticated in list(crowded):
            qs = cls.objects.filter(repository_id=rid, authenticated=authenticated).order_by("-received_at", "-id")
            ids = list(qs.values_list("pk", flat=True)[keep : keep + 5000])
            if ids:
                cls.objects.filter(pk__in=ids).delete()
