"""A running build outlives a database blip.

A worker's writes while it runs a build (log chunks, step rows, the final
status) go through `Grace.call`: when the database is unreachable or locked
the call is retried, with the connection reopened, until it works or the
database has been away for HERALD_DB_GRACE_SECONDS; then DatabaseGone says
so, with how long. The build's container keeps running meanwhile, and its
output waits in the log writer's buffer (bounded: see LogWriter.write).
"""

import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)

UNAVAILABLE = (OperationalError, InterfaceError)


class DiskFull(Exception):
    """The database's disk is full: waiting won't help, freeing space will
    (the runner removes the job's workspace and container first)."""

    def __init__(self, what):
        super().__init__(f"no space left on device while {what}")


def is_disk_full(error):
    text = str(error).lower()
    return "disk is full" in text or "no space left on device" in text or "could not extend file" in text


class DatabaseGone(Exception):
    """The database stayed away longer than the grace period."""

    def __init__(self, seconds):
        self.seconds = seconds
        super().__init__(f"the database was unavailable for {seconds:.0f} s")


class Grace:
    """One build's patience with the database (shared by its writers)."""

    def __init__(self, seconds=None, wait_for_space=False):
        self.seconds = settings.HERALD_DB_GRACE_SECONDS if seconds is None else seconds
        # False: a full disk raises DiskFull at once (a build's log won't
        # fit); True: wait for room like for a database that is away.
        self.wait_for_space = wait_for_space
        self.down_since = None

    def away_for(self):
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since

    def failed(self, error, what="writing to the database"):
        """Note a failure; raise DatabaseGone once the grace is over, and
        DiskFull at once."""
        if is_disk_full(error) and not self.wait_for_space:
            raise DiskFull(what) from error
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("database unavailable, retrying for up to %s s: %s", self.seconds, error)
        if not connection.in_atomic_block:
            connection.close()  # the next query opens a new one
        if self.away_for() > self.seconds:
            raise DatabaseGone(self.away_for()) from error

    def ok(self):
        if self.down_since is not None:
            log.warning("database back after %.0f s", self.away_for())
        self.down_since = None

    def call(self, fn, *args, what="writing to the database", **kwargs):
        """fn(*args, **kwargs), retried while the database is away."""
        pause = 0.2
        while True:
            try:
                result = fn(*args, **kwargs)
            except UNAVAILABLE as e:
                self.failed(e, what)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            self.ok()
            return result
