"""The per-job disk quota, HERALD_WORKSPACE_MAX_BYTES (issue 12: a full disk
ends the job, not Herald).

The watchdog measures what the build occupies (builds.docker.usage: the
workspace, its containers' writable layers) every
HERALD_WORKSPACE_CHECK_SECONDS, and once more when a step ends (a step
quicker than the interval must not slip past). Past the limit the job is
stopped like a cancelled one — container killed, later steps skipped,
everything removed — and ends `errored` with the reason.

A check costs a walk of the workspace: for 50,000 files (200 MB), 0.2-0.3 s
in `bind` mode and 0.2 s for `du` in the meter in `copy` mode, measured on
a busy 2-core machine; listing the job's containers with their sizes, 1 ms.
A workspace of very many files is checked less often, so checks never take
more than a tenth of the build's time. In `copy` mode the meter container
adds about 0.27 s to a job's start.

Whatever cannot be measured (a path longer than the system takes, a
directory the walk may not read) stops the build too: skipping it would
let a build hide anything there.
"""

import logging
import time

from django.conf import settings

from builds.docker.usage import Unmeasurable, disk_usage

log = logging.getLogger(__name__)


def format_size(n):
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    return f"{n / 2**20:.1f} MiB"


class Quota:
    def __init__(self, checkout):
        self.checkout = checkout  # the worker's directory holding the clone
        self.limit = settings.HERALD_WORKSPACE_MAX_BYTES  # 0: none
        self.interval = settings.HERALD_WORKSPACE_CHECK_SECONDS
        self.usage = None  # builds.docker.usage.JobUsage, once the job's Docker environment is open
        self.next_check = 0.0  # the first tick measures: the clone counts too
        self.used = 0
        self.reason = ""

    def due(self, now):
        return bool(self.limit) and now >= self.next_check

    def exceeded(self):
        """Measure; True (with the reason set) when past the limit."""
        started = time.monotonic()
        try:
            self.used = self.usage.measure(self.checkout) if self.usage else disk_usage(self.checkout)
        except Unmeasurable as e:
            self.reason = f"The workspace could not be measured for its quota (HERALD_WORKSPACE_MAX_BYTES): {e}"
            return True
        except Exception as e:
            # An engine hiccup (a container removed while listed): the next
            # check measures again.
            log.warning("could not measure the workspace of %s: %s", self.checkout, e)
        cost = time.monotonic() - started
        self.next_check = time.monotonic() + max(self.interval, 10 * cost)
        if self.used <= self.limit:
            return False
        self.reason = (
            f"The workspace exceeded its quota: {format_size(self.used)} written, "
            f"HERALD_WORKSPACE_MAX_BYTES={format_size(self.limit)}"
        )
        return True
