"""The summary figures of `/healthz`: the Celery queue's backlog, and how far behind the metric
summaries are, kept briefly in the shared cache."""

from __future__ import annotations

import contextlib

from django.core.cache import cache
from kombu.exceptions import ChannelError

from mlplatform.celery import app
from tracking.selectors.summaries import stale_summary_figures

HEALTH_CACHE_KEY = "summary:health"
# Load balancers poll /healthz every few seconds; the stale scan reads every key of every run.
HEALTH_CACHE_SECONDS = 10


def queue_backlog() -> int:
    """Messages waiting in the Celery queue; raises when the broker cannot be reached."""
    queue = app.conf.task_default_queue
    with app.connection_for_read() as conn:
        # Fail fast: kombu would otherwise retry a dead broker forever.
        conn.ensure_connection(max_retries=1, timeout=2)
        try:
            # Redis: LLEN of the queue; the embedded broker: its message files.
            return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
        except ChannelError:
            # Redis deletes an empty list, so an idle queue does not exist at all.
            return 0


def summary_health(*, use_cache: bool = True, backlog: bool = True) -> dict:
    """Queue backlog, stale keys, and how long the oldest stale summary has been waiting.

    The backlog is None when not asked for (the broker is known to be down) or unreadable.
    """
    figures = None
    if use_cache:
        try:
            figures = cache.get(HEALTH_CACHE_KEY)
        except Exception:
            figures = None
    if figures is None:
        figures = stale_summary_figures()
        # Redis down: the broker check reports it, and the figures are right uncached.
        with contextlib.suppress(Exception):
            cache.set(HEALTH_CACHE_KEY, figures, HEALTH_CACHE_SECONDS)
    queued: int | None = None
    if backlog:
        try:
            queued = queue_backlog()
        except Exception:
            # The broker's own health is reported beside this; an unreadable backlog is unknown.
            queued = None
    return {"backlog": queued, **figures}
