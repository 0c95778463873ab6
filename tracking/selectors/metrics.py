"""Reading metric histories: paged in step order, or evenly sampled across runs."""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Q

from tracking.errors import InvalidInput
from tracking.models import Metric, Run

MAX_HISTORY_PAGE = 25_000
MAX_SAMPLED_PER_RUN = 2_500
MAX_RUNS_PER_SAMPLE = 100
# Above this many distinct sampled steps the single IN query would grow too large.
_MAX_IN_STEPS = 2_500


def _encode_token(position: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def _decode_token(token: str) -> tuple[int, int, int]:
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
        step, timestamp, pk = position["s"], position["t"], position["i"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError):
        raise InvalidInput("Invalid page_token.", field="page_token") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (step, timestamp, pk)):
        raise InvalidInput("Invalid page_token.", field="page_token")
    return step, timestamp, pk


def metric_history(
    *, run: Run, key: str, max_results: int | None = None, page_token: str | None = None
) -> tuple[list[Metric], str | None]:
    """One page of a key's points in (step, timestamp) order, and the token of the next page."""
    limit = MAX_HISTORY_PAGE if max_results is None else max_results
    if not 1 <= limit <= MAX_HISTORY_PAGE:
        raise InvalidInput(
            f"max_results must be between 1 and {MAX_HISTORY_PAGE}.", field="max_results"
        )
    points = Metric.objects.filter(run=run, key=key).order_by("step", "timestamp", "pk")
    if page_token:
        step, timestamp, pk = _decode_token(page_token)
        # Keyset paging: stable under concurrent appends and cheap however deep the page.
        points = points.filter(
            Q(step__gt=step)
            | Q(step=step, timestamp__gt=timestamp)
            | Q(step=step, timestamp=timestamp, pk__gt=pk)
        )
    page = list(points.only("key", "step", "timestamp", "value", "is_nan")[: limit + 1])
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    last = page[-1]
    return page, _encode_token({"s": last.step, "t": last.timestamp, "i": last.pk})


def evenly_spaced(items: Sequence[int], count: int) -> list[int]:
    """At most `count` items spread evenly over the sorted `items`, always the first and last."""
    total = len(items)
    if total <= count:
        return list(items)
    if count == 1:
        return [items[-1]]
    picked = {round(i * (total - 1) / (count - 1)) for i in range(count)}
    return [items[i] for i in sorted(picked)]


def metric_history_sampled(
    *,
    runs: Sequence[Run],
    key: str,
    max_results: int = MAX_SAMPLED_PER_RUN,
    start_step: int | None = None,
    end_step: int | None = None,
) -> list[tuple[Run, Metric]]:
    """Each run's points at up to `max_results` evenly spaced steps that exist in its history."""
    if not 1 <= max_results <= MAX_SAMPLED_PER_RUN:
        raise InvalidInput(
            f"max_results must be between 1 and {MAX_SAMPLED_PER_RUN}.", field="max_results"
        )
    if (start_step is None) != (end_step is None):
        raise InvalidInput(
            "If either start_step or end_step is given, both must be given.", field="start_step"
        )
    if start_step is not None and start_step > end_step:
        raise InvalidInput(
            f"end_step must not be less than start_step (start_step={start_step}, "
            f"end_step={end_step}).",
            field="end_step",
        )
    if not runs:
        return []
    base = Metric.objects.filter(run__in=runs, key=key)
    if start_step is not None:
        base = base.filter(step__gte=start_step, step__lte=end_step)
    steps_by_run: dict[int, list[int]] = defaultdict(list)
    for run_pk, step in base.values_list("run_id", "step").distinct().order_by("run_id", "step"):
        steps_by_run[run_pk].append(step)
    sampled = {pk: set(evenly_spaced(steps, max_results)) for pk, steps in steps_by_run.items()}
    all_steps = set().union(*sampled.values()) if sampled else set()
    if not all_steps:
        return []
    fields = ("run_id", "key", "step", "timestamp", "value", "is_nan")
    order = ("step", "timestamp", "value")
    if len(all_steps) <= _MAX_IN_STEPS:
        rows = list(base.filter(step__in=all_steps).only(*fields).order_by("run_id", *order))
    else:
        rows = []
        for pk, steps in sampled.items():
            rows.extend(base.filter(run_id=pk, step__in=steps).only(*fields).order_by(*order))
    by_pk = {run.pk: run for run in runs}
    result: list[tuple[Run, Metric]] = []
    taken: dict[int, int] = defaultdict(int)
    for point in rows:
        if point.step in sampled.get(point.run_id, ()) and taken[point.run_id] < max_results:
            taken[point.run_id] += 1
            result.append((by_pk[point.run_id], point))
    result.sort(key=lambda pair: (pair[0].run_id, pair[1].step, pair[1].timestamp))
    return result
