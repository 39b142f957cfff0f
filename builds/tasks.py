"""django-q2 tasks. Each is safe to run twice: claims are conditional UPDATEs.

Their dotted paths are stored as strings in the broker's queue
(builds.queue.TASK): rename or move one and tokens already queued point at
nothing.
"""

from django.conf import settings

from builds import drain
from builds.claim import KEPT_WORKSPACE, LABELS, WORKER_SLOTS, Claimant, claim_next_job
from builds.models import wake_next_job
from builds.queue import enqueue_token
from builds.runner import Runner
from ciproject.logs import current_job


def run_next_job():
    """Run the oldest queued job the limits allow (one build token)."""
    if drain.draining():
        # This worker is stopping: the token goes back to the broker, for
        # another worker or this machine's next cluster.
        wake_next_job()
        return "draining"
    job, why_not = claim_next_job(settings.HERALD_HOSTNAME)
    if job is None:
        if why_not == WORKER_SLOTS.code and WORKER_SLOTS.room_elsewhere(settings.HERALD_HOSTNAME):
            # Another machine is idle while this one is full: pass the token on.
            enqueue_token()
        elif why_not == LABELS.code and LABELS.room_elsewhere(Claimant(settings.HERALD_HOSTNAME)):
            # What is queued needs labels this machine lacks and another one
            # with a free slot has: the token is theirs.
            enqueue_token()
        elif why_not == "nothing-eligible" and KEPT_WORKSPACE.room_elsewhere(settings.HERALD_HOSTNAME):
            # A retry waits for the worker holding its workspace, which is free.
            enqueue_token()
        return why_not
    job_context = current_job.set(job.pk)  # in the log lines about it (HERALD_LOG_FORMAT=json)
    try:
        status = Runner(job).run()
    finally:
        current_job.reset(job_context)
    return f"{job}: {status}"
