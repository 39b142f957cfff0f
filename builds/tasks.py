"""django-q2 tasks. Each is safe to run twice: claims are conditional UPDATEs.

Their dotted paths are stored as strings in the broker's queue
(builds.queue.TASK): rename or move one and tokens already queued point at
nothing.
"""

from django.conf import settings

from builds.claim import WORKER_SLOTS, claim_next_job
from builds.queue import enqueue_token
from builds.runner import Runner


def run_next_job():
    """Run the oldest queued job the limits allow (one build token)."""
    job, why_not = claim_next_job(settings.HERALD_HOSTNAME)
    if job is None:
        if why_not == WORKER_SLOTS.code and WORKER_SLOTS.room_elsewhere(settings.HERALD_HOSTNAME):
            # Another machine is idle while this one is full: pass the token on.
            enqueue_token()
        return why_not
    status = Runner(job).run()
    return f"{job}: {status}"
