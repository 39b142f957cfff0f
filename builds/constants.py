"""Job statuses and trigger events, shown verbatim in the API and the UI."""

BLOCKED = "blocked"  # a pull request from outside, waiting for someone with push rights
QUEUED = "queued"
RUNNING = "running"
SUCCESS = "success"
FAILED = "failed"  # the build ran and exited non-zero
ERRORED = "errored"  # Herald could not run it; always with a reason
CANCELLED = "cancelled"
TIMED_OUT = "timed_out"
SKIPPED = "skipped"  # every step filtered out by `when:`

STATUS_CHOICES = [
    (BLOCKED, "blocked"),
    (QUEUED, "queued"),
    (RUNNING, "running"),
    (SUCCESS, "success"),
    (FAILED, "failed"),
    (ERRORED, "errored"),
    (CANCELLED, "cancelled"),
    (TIMED_OUT, "timed out"),
    (SKIPPED, "skipped"),
]
# Not final: a blocked job still ends (approved and run, declined, or
# superseded), but only a queued one is ever claimed.
ACTIVE_STATUSES = (BLOCKED, QUEUED, RUNNING)
FINAL_STATUSES = (SUCCESS, FAILED, ERRORED, CANCELLED, TIMED_OUT, SKIPPED)

PUSH = "push"
TAG = "tag"
PULL_REQUEST = "pull_request"
MANUAL = "manual"
API = "api"
CRON = "cron"  # a repository's schedule (builds.schedules)
EVENT_CHOICES = [
    (PUSH, "push"),
    (TAG, "tag"),
    (PULL_REQUEST, "pull request"),
    (MANUAL, "manual"),
    (API, "api"),
    (CRON, "cron"),
]

# What triggered a job: the Job columns a forge event fills in, in the
# order the API lists them. A restart and a matrix build's siblings copy
# them all (Job.trigger_fields); a pull request adds the second set, and
# "run now" the parameter values (so a rebuild runs with the same ones),
# and a push what it changed (so a rebuild filters paths the same way).
EVENT_FIELDS = ("event", "ref", "branch", "tag", "commit", "message", "author")
PULL_REQUEST_FIELDS = (
    "pr_number",
    "pr_title",
    "source_branch",
    "target_branch",
    "source_repo",
    "from_fork",
    "source_url",
)
# A push's previous commit (or "") and the files the forge listed as
# changed (None: unknown; the worker diffs, builds/changes.py).
CHANGE_FIELDS = ("before", "changed_files")
TRIGGER_FIELDS = EVENT_FIELDS + PULL_REQUEST_FIELDS + ("params",) + CHANGE_FIELDS
# Beyond this many changed files path filters do not look: everything runs.
MAX_CHANGED_FILES = 3000

# Docker labels put on everything a job creates, so the reaper can find it.
LABEL_JOB = "org.herald-ci.job"
LABEL_WORKER = "org.herald-ci.worker"
LABEL_INSTANCE = "org.herald-ci.instance"
