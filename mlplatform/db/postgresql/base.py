"""Django's PostgreSQL backend, with a health check that skips connections in steady use.

With CONN_HEALTH_CHECKS, Django runs `SELECT 1` before the first query of every request, so a
one-point log-metric makes two round trips instead of one. A connection that finished a request
without an error a moment ago is almost certainly still there, so the check is skipped within
HEALTH_CHECK_BYPASS_SECONDS of that, as HikariCP skips its aliveness check shortly after a
connection's last use. An idle connection is still checked before it is
used, which is what the check is for: a database restarted or a connection dropped while the
server was quiet. A connection lost within the window fails its one request, which Django then
closes (`close_if_unusable_or_obsolete` sees the error); the next request opens a new one.
"""

from __future__ import annotations

import time

from django.db.backends.postgresql import base

HEALTH_CHECK_BYPASS_SECONDS = 0.5


class DatabaseWrapper(base.DatabaseWrapper):
    # When a request last finished on this connection with it in a good state.
    _last_good = float("-inf")

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and not self.health_check_done
            and time.monotonic() - self._last_good < HEALTH_CHECK_BYPASS_SECONDS
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self):
        # Runs as each request starts and ends. health_check_done is set only once a query ran
        # since the last call (the request that is ending used the connection); the start of a
        # request finds it reset, so an idle connection is never vouched for by this.
        used = self.health_check_done
        super().close_if_unusable_or_obsolete()
        if used and self.connection is not None and not self.errors_occurred:
            self._last_good = time.monotonic()
