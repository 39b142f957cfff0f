"""django-q2's `qcluster`, with a cluster that drains on SIGTERM (builds.drain).

It replaces django-q2's command of the same name (builds comes before
django_q in INSTALLED_APPS), so `manage.py qcluster` — what `serve`, the
systemd unit and people run — always drains.
"""

import logging
import os
import signal

from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands import qcluster

from builds import drain
from builds.durations import format_duration
from builds.schedules import firing

log = logging.getLogger(__name__)


class DrainingCluster(Cluster):
    def sig_handler(self, signum, frame):
        if drain.draining():
            # The second signal arrives while the first one's handler waits
            # for the sentinel (in stop() below): running builds stop now.
            log.warning("Stopping running builds now; they go back in the queue")
            drain.begin(0)
            return
        seconds = settings.HERALD_DRAIN_SECONDS
        log.warning(
            "%s: draining. Running builds get up to %s to finish (HERALD_DRAIN_SECONDS), then go back "
            "in the queue; %s again stops them now",
            signal.Signals(signum).name,
            format_duration(seconds),
            signal.Signals(signum).name,
        )
        drain.begin(seconds)
        # django-q2's own stop: the pusher stops and each worker ends its
        # task before it exits. No timeout of django-q2 applies meanwhile
        # (the sentinel no longer counts down task timers once stopping):
        # the builds' own timeouts and the drain deadline do.
        super().sig_handler(signum, frame)


class Command(qcluster.Command):
    def handle(self, *args, **options):
        # As django-q2's handle(), with DrainingCluster.
        settings.SECRET_KEY  # noqa: B018 - tasks are signed with it: fail now, not at the first task
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        drain.prepare()
        # The periodic check of the repositories' schedules, should this be
        # the installation's first cluster (or someone deleted it).
        firing.install()
        cluster = DrainingCluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
