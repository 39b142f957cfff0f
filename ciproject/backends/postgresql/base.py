"""Django's PostgreSQL backend with a health check that costs no round trip.

With CONN_HEALTH_CHECKS Django sends `SELECT 1` before the first query of
every request that reuses a connection: on the webhook path that was one
round trip in ten. An idle connection has nothing to read, so the socket
tells the same story for free: when the server has closed it (a restart,
pg_terminate_backend, an idle timeout) the socket is readable (EOF, or the
FATAL message before it). Only then is Django's `SELECT 1` asked to decide.
A connection that died without a word (a cable pulled) passes this check
just as it could pass `SELECT 1` a moment before dying; Django's errors
handling closes it after the failed request, as it would anyway.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and self._quiet()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _quiet(self):
        conn = self.connection
        if conn.closed or conn.broken:
            return False
        try:
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False
