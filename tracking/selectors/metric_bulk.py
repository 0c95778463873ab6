"""The full history of one metric key for several runs at once (MLflow's get-history-bulk)."""

from __future__ import annotations

from tracking.models import Metric, Run

MAX_HISTORY_RESULTS = 25_000


def metric_history_bulk(*, runs: list[Run], key: str, max_results: int) -> list[tuple[Run, Metric]]:
    """(run, point) pairs: runs by id, each run's points by time, step and value, at most
    `max_results` in all, as MLflow's server pages them."""
    max_results = min(max_results, MAX_HISTORY_RESULTS)
    pairs: list[tuple[Run, Metric]] = []
    for run in sorted(runs, key=lambda r: r.run_id):
        if len(pairs) >= max_results:
            break
        points = Metric.objects.filter(run=run, key=key).order_by("timestamp", "step", "value")
        pairs.extend((run, point) for point in points[: max_results - len(pairs)])
    return pairs
