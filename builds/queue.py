"""The build queue (django-q2): tokens, not job ids.

Each token is a task (TASK) that runs the oldest queued job the claim rules
allow (builds.claim), whichever job that is by then. A job is created first
and its token is enqueued with its transaction (enqueue_in_transaction); a
job that ends enqueues a token for the slot it freed (builds.models), and
the reaper tops tokens up should one be lost (the Redis broker delivers at
most once).

This module imports no models: builds.models enqueues from here.
"""

import functools

from django.conf import settings
from django.db import transaction
from django_q.brokers import get_broker
from django_q.tasks import async_task

# Stored as a string in every queued token: builds.tasks.run_next_job must
# keep this path.
TASK = "builds.tasks.run_next_job"


def enqueue_token(count=1):
    for _ in range(count):
        async_task(TASK, task_name="herald-build", group="builds", broker=_broker())


@functools.cache
def _broker():
    # One per process: django-q2 builds a broker per async_task otherwise
    # (its settings are read once at import anyway).
    return get_broker()


def enqueue_in_transaction():
    """Enqueue a build token as part of the current transaction's outcome.

    With the ORM broker on the same database the task row is written inside
    the transaction: it commits with the job or not at all, so no accepted
    delivery can lose its task. A separate broker (Redis) must wait for the
    commit, or a worker could look for a job it cannot see yet.
    """
    if not settings.HERALD_REDIS_URL and settings.Q_CLUSTER.get("orm") == "default":
        enqueue_token()
    else:
        transaction.on_commit(enqueue_token)
