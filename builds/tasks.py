"""django-q2 tasks. Each is safe to run twice: claims are conditional UPDATEs.

Their dotted paths are stored as strings in the broker's queue
(builds.queue.TASK): rename or move one and tokens already queued point at
nothing.
"""

from django.conf import settings

from builds import constants as C
from builds.claim import claim_next_job
from builds.models import Job, Worker
from builds.queue import enqueue_token
from builds.runner import Runner


def run_next_job():
    """Run the oldest queued job the limits allow (one build token)."""
    job, why_not = claim_next_job(settings.HERALD_HOSTNAME)
    if job is None:
        if why_not == "host-full" and _other_host_has_room():
            # Another machine is idle while this one is full: pass the token on.
            enqueue_token()
        return why_not
    status = Runner(job).run()
    return f"{job}: {status}"


def _other_host_has_room():
    for w in Worker.online().exclude(host=settings.HERALD_HOSTNAME):
        if Job.objects.filter(status=C.RUNNING, worker=w.host).count() < w.slots:
            return True
    return False
