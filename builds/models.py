import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.storage import storages
from django.db import models, transaction
from django.db.models import F
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from builds import constants as C
from builds import labels
from builds.queue import enqueue_token
from builds.schedules.cron import MAX_LENGTH as CRON_MAX_LENGTH
from builds.schedules.cron import check_cron, check_timezone, next_time
from repositories.commit_status import queue_commit_status
from repositories.models import Repository
from repositories.notifications import queue_notifications

log = logging.getLogger(__name__)


class Job(models.Model):
    # Its own index too, although the composite ones below start with it:
    # SQLite lists a page of recent jobs across repositories from it in
    # ~3 ms, against ~120 ms through job_unique_number.
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="jobs")
    number = models.PositiveIntegerField()
    event = models.CharField(max_length=20, choices=C.EVENT_CHOICES, default=C.PUSH)
    ref = models.CharField(max_length=255, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    tag = models.CharField(max_length=255, blank=True)
    commit = models.CharField(max_length=40)
    message = models.TextField(blank=True)
    author = models.CharField(max_length=255, blank=True)
    # Pull requests
    pr_number = models.PositiveIntegerField(null=True, blank=True)
    pr_title = models.CharField(max_length=500, blank=True)
    source_branch = models.CharField(max_length=255, blank=True)
    target_branch = models.CharField(max_length=255, blank=True)
    source_repo = models.CharField(
        max_length=255, blank=True, help_text="owner/name of the fork a pull request comes from."
    )
    from_fork = models.BooleanField(default=False)
    source_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="Clone URL of a fork without a PR ref on the forge (built from the forge's base URL, never taken from a payload).",
    )

    status = models.CharField(max_length=20, choices=C.STATUS_CHOICES, default=C.QUEUED)
    reason = models.CharField(max_length=500, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="Host that ran the job.")
    cancel_requested = models.BooleanField(default=False)
    restarted_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="restarts"
    )
    triggered_by = models.CharField(max_length=150, blank=True)
    # "Run now": the parameter values asked for, by name, as validated
    # against the commit's .herald.yml (builds.parameters); a push has none
    # and gets the file's defaults.
    params = models.JSONField(default=dict, blank=True)
    # Path filters (builds/changes.py): a push's previous commit ("" for a
    # new branch, a force push, a tag…) and the files the forge's payload
    # listed as changed (None: unknown, the worker diffs before..commit).
    before = models.CharField(max_length=40, blank=True)
    changed_files = models.JSONField(null=True, blank=True)
    # Pull requests from outside wait `blocked` until someone with push
    # rights decides (see builds.lifecycle.approve / decline).
    approved_by = models.CharField(max_length=150, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    declined_by = models.CharField(max_length=150, blank=True)
    # Matrix builds: the job that read the pipeline expands it into siblings
    # that point back at it; `matrix` is this job's combination.
    group = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="matrix_jobs")
    matrix = models.JSONField(default=dict, blank=True)
    # Bytes of log stored, counted when the log is closed (/metrics sums it).
    log_bytes = models.PositiveBigIntegerField(default=0)
    # Times a worker claimed it: more than one when it was put back in the
    # queue (its worker shut down, or died once). A worker that lost its job
    # learns it from this number too, should the job run again elsewhere.
    attempts = models.PositiveIntegerField(default=0)
    # Times its worker died under it (the reaper): requeued after the
    # first, errored after the second, so a flapping machine can't loop a
    # build for ever.
    losses = models.PositiveIntegerField(default=0)
    # The worker labels it needs (its pipeline's runs_on:), as one sorted,
    # comma-separated string so the claim can select the jobs a worker may
    # run with an IN on both databases (builds.labels); "" for any worker.
    runs_on = models.CharField(max_length=1100, blank=True)
    # Whether runs_on was read from the commit's pipeline (by the worker that
    # claimed the job) or is a prediction (builds.lifecycle.predict_runs_on):
    # a prediction no online worker can meet does not hold the job back.
    runs_on_read = models.BooleanField(default=False)
    # Times a worker claimed it, read runs_on: and found it lacks a label
    # (Job.hand_back): neither an attempt nor a loss.
    handbacks = models.PositiveIntegerField(default=0)
    # A failed build's workspace kept on its worker for a retry from a step
    # (builds.retry): which worker holds it ("" once it is gone or taken
    # over; kept_until stays, to say when it expired), how big it was when
    # kept (the worker's cap adds these up), and the digest of the pipeline
    # file it ran (a retry refuses a workspace whose file changed since).
    workspace_kept_on = models.CharField(max_length=255, blank=True)
    workspace_kept_until = models.DateTimeField(null=True, blank=True)
    workspace_kept_bytes = models.PositiveBigIntegerField(default=0)
    pipeline_digest = models.CharField(max_length=64, blank=True)
    # A retry: the failed job whose kept workspace it adopts, and the step
    # it starts at (the ones before are carried over).
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    from_step = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint("repository", "number", name="job_unique_number"),
        ]
        indexes = [
            models.Index(fields=["repository", "branch", "-id"], name="job_repo_branch"),
            models.Index(fields=["repository", "status"], name="job_repo_status"),
            models.Index(fields=["repository", "event", "ref", "commit"], name="job_repo_dedupe"),
            # The active jobs a new push or pull request supersedes (every
            # webhook looks): small, since only active jobs are in them, and
            # more specific than job_repo_dedupe, which SQLite took for these
            # lookups and so read every push of the repository.
            models.Index(
                fields=["repository", "event", "branch"],
                condition=models.Q(status__in=C.ACTIVE_STATUSES),
                name="job_active_branch",
            ),
            models.Index(
                fields=["repository", "event", "pr_number"],
                condition=models.Q(status__in=C.ACTIVE_STATUSES),
                name="job_active_pr",
            ),
            # A plain index (db_index=True would add a LIKE index on PostgreSQL).
            models.Index(fields=["status"], name="job_status"),
        ]

    def __str__(self):
        return f"{self.repository.full_name}#{self.number}"

    def get_absolute_url(self):
        return reverse("job", args=[self.pk])

    def absolute_url(self):
        return settings.HERALD_BASE_URL + self.get_absolute_url()

    def trigger_fields(self):
        """What triggered this job, as keyword arguments for another one."""
        return {name: getattr(self, name) for name in C.TRIGGER_FIELDS}

    @property
    def short_commit(self):
        return self.commit[:7]

    @property
    def is_final(self):
        return self.status in C.FINAL_STATUSES

    @property
    def duration(self):
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return end - self.started_at

    # --- state changes ------------------------------------------------------
    # Each is a conditional UPDATE on the expected current status: whoever
    # wins the race (worker, reaper, a cancel from the UI) decides, and the
    # loser learns it from the row count instead of overwriting the result.

    def claim(self, worker):
        now = timezone.now()
        claimed = Job.objects.filter(pk=self.pk, status=C.QUEUED, cancel_requested=False).update(
            status=C.RUNNING, started_at=now, heartbeat_at=now, worker=worker, attempts=F("attempts") + 1, reason=""
        )
        if claimed:
            self.status, self.started_at, self.heartbeat_at, self.worker = C.RUNNING, now, now, worker
            self.attempts, self.reason = self.attempts + 1, ""
            queue_commit_status(self)
        return bool(claimed)

    def finish(self, status, exit_code=None, reason=""):
        assert status in C.FINAL_STATUSES
        now = timezone.now()
        # This attempt only: a worker that lost the job must not end the
        # next one.
        done = Job.objects.filter(pk=self.pk, status=C.RUNNING, attempts=self.attempts).update(
            status=status, exit_code=exit_code, reason=reason[:500], finished_at=now
        )
        if done:
            self.status, self.exit_code, self.reason, self.finished_at = status, exit_code, reason[:500], now
            transaction.on_commit(lambda: report_end_and_wake_next(self))
        return bool(done)

    def requeue(self, reason, *, lost=False, stale_before=None):
        """Put this running attempt back in the queue: its worker shut down
        (builds.drain) or, `lost`, died (the reaper, whose `stale_before`
        makes sure the heartbeat is still as old as it saw). The log stays,
        with the reason in it; the steps go (the next attempt makes its own)."""
        # A cancel asked for meanwhile wins: the job ends instead.
        still = Job.objects.filter(pk=self.pk, status=C.RUNNING, attempts=self.attempts, cancel_requested=False)
        if stale_before is not None:
            still = still.filter(heartbeat_at__lt=stale_before)
        return self._back_in_queue(still, reason, losses=F("losses") + int(lost))

    def hand_back(self, reason, runs_on):
        """Put this running attempt back in the queue, unstarted, because
        this worker lacks labels the commit's pipeline asks for; `runs_on`
        (builds.labels.key) routes the next claim. Not an attempt (the
        claim's count is taken back) and not a loss."""
        still = Job.objects.filter(pk=self.pk, status=C.RUNNING, attempts=self.attempts, cancel_requested=False)
        return self._back_in_queue(
            still,
            reason,
            runs_on=runs_on,
            runs_on_read=True,
            attempts=F("attempts") - 1,
            handbacks=F("handbacks") + 1,
        )

    def _back_in_queue(self, still, reason, **changes):
        """`still` (this job, as long as it is the attempt we think) queued
        again with `reason` and `changes`, its steps gone; whether it was."""
        with transaction.atomic():
            done = still.update(
                status=C.QUEUED, reason=reason[:500], started_at=None, heartbeat_at=None, worker="", **changes
            )
            if done:
                JobStep.objects.filter(job=self).delete()
                self.refresh_from_db(fields=["status", "reason", "started_at", "heartbeat_at", "worker", *changes])
                transaction.on_commit(wake_next_job)
        return bool(done)

    @property
    def labels_needed(self):
        return labels.split(self.runs_on)

    def request_cancel(self, reason="Cancelled"):
        """Cancel a queued or blocked job at once; ask the worker to stop a
        running one."""
        now = timezone.now()
        if Job.objects.filter(pk=self.pk, status__in=(C.QUEUED, C.BLOCKED)).update(
            status=C.CANCELLED, reason=reason[:500], finished_at=now, cancel_requested=True
        ):
            self.refresh_from_db()
            transaction.on_commit(lambda: report_end_and_wake_next(self))
            return True
        if Job.objects.filter(pk=self.pk, status=C.RUNNING).update(cancel_requested=True, reason=reason[:500]):
            self.refresh_from_db()
            return True
        return False


def report_end_and_wake_next(job):
    """Run once a job reaches a final status: queue its commit status for
    the forge and its build's notifications, and wake a worker for the slot
    it freed."""
    queue_commit_status(job)
    queue_notifications(job)
    wake_next_job()


def wake_next_job():
    """Enqueue a build token if any job is queued, so a worker takes the
    slot a job just freed."""
    if Job.objects.filter(status=C.QUEUED).exists():
        try:
            enqueue_token()
        except Exception:  # the reaper tops tokens up; never fail a finish on it
            log.exception("could not enqueue the next build token")


class JobStep(models.Model):
    """One step of a job's pipeline; its section of the log starts at
    `first_seq` (the writer flushes at step boundaries)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="steps")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=C.STATUS_CHOICES, default=C.QUEUED)
    exit_code = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    first_seq = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint("job", "number", name="jobstep_unique_number")]

    def __str__(self):
        return f"{self.job_id}:{self.number} {self.name}"

    @property
    def duration(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class LogChunk(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    text = models.TextField()
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint("job", "seq", name="logchunk_unique_seq")]

    def __str__(self):
        return f"{self.job_id}:{self.seq}"


class TestReport(models.Model):
    """A job's test results, read from the JUnit XML files its pipeline's
    reports: globs found in the workspace (builds.reports). The totals
    count every test; only the failed and errored ones are kept, capped."""

    __test__ = False  # not a pytest class, whatever its name

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="test_report")
    files = models.PositiveIntegerField(default=0)
    tests = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    duration = models.FloatField(default=0)  # seconds, as the reports say
    cases_dropped = models.PositiveIntegerField(default=0)  # failed cases past the cap, not kept

    def __str__(self):
        return f"{self.job_id}: {self.tests} tests"

    def summary(self, names=3):
        """'41 passed, 2 failed (test_parser, test_lexer)': the commit status's words."""
        parts = [f"{self.passed} passed"]
        parts += [f"{n} {what}" for n, what in ((self.failed, "failed"), (self.errors, "errored")) if n]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        text = ", ".join(parts)
        failing = list(self.cases.values_list("name", flat=True)[: names + 1])
        if failing:
            shown = ", ".join(failing[:names]) + (", …" if len(failing) > names else "")
            text += f" ({shown})"
        return text


class TestCaseFailure(models.Model):
    """A test that failed or errored, as its report told it (masked)."""

    __test__ = False

    report = models.ForeignKey(TestReport, on_delete=models.CASCADE, related_name="cases")
    kind = models.CharField(max_length=10, choices=[("failed", "failed"), ("errored", "errored")])
    suite = models.CharField(max_length=255, blank=True)
    classname = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=500)
    message = models.TextField(blank=True)
    output = models.TextField(blank=True)

    class Meta:
        ordering = ["report", "id"]

    def __str__(self):
        return f"{self.classname}.{self.name}" if self.classname else self.name


class Worker(models.Model):
    """A machine running `manage.py qcluster`, as last reported by itself."""

    host = models.CharField(max_length=255, unique=True)
    slots = models.PositiveIntegerField(default=1)
    # HERALD_WORKER_LABELS and the automatic arch:… and os:…, sorted (builds.labels).
    labels = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["host"]

    def __str__(self):
        return self.host

    @classmethod
    def online(cls):
        cutoff = timezone.now() - timezone.timedelta(seconds=settings.HERALD_WORKER_LOST_SECONDS * 2)
        return cls.objects.filter(last_seen__gte=cutoff)


class PruneRun(models.Model):
    """One pass of the retention pruner (builds.retention), for the admin."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    host = models.CharField(max_length=255, blank=True)
    builds = models.PositiveIntegerField(default=0, help_text="Builds (a matrix build counts once) deleted.")
    jobs = models.PositiveIntegerField(default=0)
    log_chunks = models.PositiveBigIntegerField(default=0)
    log_bytes = models.PositiveBigIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "retention prune"

    def __str__(self):
        return f"prune at {self.started_at:%Y-%m-%d %H:%M}: {self.builds} builds"


class Schedule(models.Model):
    """A repository's builds at the times of a cron expression, in a time
    zone, on a branch (blank: the default branch), with parameters
    (builds.schedules). `next_run_at` is the one time it waits for: fired
    once when it has passed, however late (see builds.schedules.firing)."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=100)
    cron = models.CharField(
        "cron expression",
        max_length=CRON_MAX_LENGTH,
        validators=[check_cron],
        help_text="minute hour day-of-month month day-of-week, e.g. 0 3 * * mon-fri",
    )
    timezone = models.CharField(
        "time zone", max_length=64, default="UTC", validators=[check_timezone], help_text="e.g. Europe/Paris"
    )
    branch = models.CharField(max_length=255, blank=True, help_text="blank: the repository's default branch")
    params = models.JSONField(
        "parameters", default=dict, blank=True, help_text='values for the pipeline\'s parameters: {"NAME": "value"}'
    )
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # auto_now_add: the field `timezone` above hides django.utils.timezone here.
    created_at = models.DateTimeField(auto_now_add=True)
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # Why the last firing started no build (a branch gone, parameters the
    # pipeline no longer declares, the repository unreadable); blank when it did.
    last_error = models.CharField(max_length=500, blank=True, editable=False)

    class Meta:
        ordering = ["repository", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "name"],
                name="schedule_unique_name",
                violation_error_message="This repository already has a schedule of that name.",
            )
        ]
        # What the minute's check reads: the enabled schedules that are due.
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="schedule_due")]

    # Written by the workers only (and next_run_at by an edit of the timing).
    FIRING = ("next_run_at", "last_run_at", "last_job", "last_error")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._saved_timing = self._timing()

    def __str__(self):
        return f"{self.repository.full_name}: {self.name}"

    def save(self, *args, **kwargs):
        # A new expression, zone or enabling counts from now: a schedule
        # switched back on after a week runs at its next time, not at once.
        # Any other edit keeps the time it waits for (it may be due).
        retimed = self._timing() != self._saved_timing or (self.enabled and self.next_run_at is None)
        if retimed:
            self.next_run_at = self.next_after(timezone.now()) if self.enabled else None
        fields = kwargs.get("update_fields")
        if fields is None and not self._state.adding:
            # The firing's columns belong to the workers (claim, record: UPDATEs
            # of their own): an edit that wrote back the due time it read
            # while a worker claimed it would have the schedule fire twice.
            fields = [f.name for f in self._meta.concrete_fields if not f.primary_key and f.name not in self.FIRING]
        if fields is not None:
            kwargs["update_fields"] = {*fields, "next_run_at"} if retimed else set(fields)
        super().save(*args, **kwargs)
        self._saved_timing = self._timing()

    def _timing(self):
        return (self.cron, self.timezone, self.enabled)

    def next_after(self, moment):
        return next_time(self.cron, self.timezone, moment)

    @property
    def next_run_local(self):
        """next_run_at in the schedule's own time zone."""
        return self.next_run_at and self.next_run_at.astimezone(ZoneInfo(self.timezone))

    def claim(self, now):
        """Take this schedule's due run: whoever moves next_run_at from the
        value this object read wins. Two workers checking at once, or a
        check racing an edit, both read the same due time: the conditional
        UPDATE lets one of them through, the other learns from the count."""
        due, following = self.next_run_at, self.next_after(now)
        claimed = Schedule.objects.filter(pk=self.pk, enabled=True, next_run_at=due).update(
            next_run_at=following, last_run_at=now
        )
        if claimed:
            self.next_run_at, self.last_run_at = following, now
        return bool(claimed)

    def record(self, job=None, error=""):
        """The outcome of a claimed run: its first job, or why there is none."""
        self.last_job, self.last_error = job, error[:500]
        Schedule.objects.filter(pk=self.pk).update(last_job=job, last_error=self.last_error)


class Artifact(models.Model):
    """A file a job's artifacts: globs collected from its workspace
    (builds.artifacts), kept in the STORAGES["artifacts"] storage under
    `stored` — a name Herald made (the job's id and a counter), never one
    the build chose. `path` is the workspace path as shown to users: masked,
    printable."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=1000)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    stored = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "path"]

    def __str__(self):
        return f"{self.job_id}: {self.path}"

    def get_absolute_url(self):
        return reverse("job-artifact", args=[self.job_id, self.pk, self.name])

    def absolute_url(self):
        return settings.HERALD_BASE_URL + self.get_absolute_url()

    @property
    def name(self):
        """The base name: the download's file name."""
        return self.path.rsplit("/", 1)[-1]


def artifact_storage():
    return storages["artifacts"]


@receiver(post_delete, sender=Artifact, dispatch_uid="artifact-stored-file")
def _delete_stored_artifact(sender, instance, using, **kwargs):
    """The stored file goes with its row, however the row goes: a job's
    delete (its cascade), retention's queryset deletes, the admin's bulk
    action. A post_delete signal because Model.delete() is called for none
    of those: Django sends the signal for every row a cascade or a queryset
    deletes (having a receiver turns its fast delete off, which is the
    point). After the commit: a rolled-back delete keeps its file."""
    stored = instance.stored
    transaction.on_commit(lambda: _forget(stored), using=using)


def _forget(stored):
    try:
        artifact_storage().delete(stored)
    except Exception:
        # The row is gone; a file left behind is only disk space, logged.
        log.exception("could not delete the stored artifact %s", stored)
