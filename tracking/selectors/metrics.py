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


# One point of a history as the database returns it: step, timestamp, value, is_nan.
PointRow = tuple[int, int, float, bool]
_POINT_COLUMNS = ("step", "timestamp", "value", "is_nan")


def _encode_token(row: PointRow) -> str:
    step, timestamp, value, is_nan = row
    position = {"s": step, "t": timestamp, "v": value, "n": bool(is_nan)}
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def _decode_token(token: str) -> PointRow:
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
        step, timestamp, value, is_nan = position["s"], position["t"], position["v"], position["n"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError, RecursionError):
        raise InvalidInput("Invalid page_token.", field="page_token") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (step, timestamp)):
        raise InvalidInput("Invalid page_token.", field="page_token")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput("Invalid page_token.", field="page_token")
    if not isinstance(is_nan, bool):
        raise InvalidInput("Invalid page_token.", field="page_token")
    return step, timestamp, float(value), is_nan


def metric_history_rows(
    *, run: Run, key: str, max_results: int | None = None, page_token: str | None = None
) -> tuple[list[PointRow], str | None]:
    """One page of a key's points as (step, timestamp, value, is_nan), and the next page's token.

    The order is MLflow's (step, timestamp, value) and is exactly the primary key's, so a page
    is one index-only range scan with no sort, however long the history and however deep the page.
    """
    limit = MAX_HISTORY_PAGE if max_results is None else max_results
    if not 1 <= limit <= MAX_HISTORY_PAGE:
        raise InvalidInput(
            f"max_results must be between 1 and {MAX_HISTORY_PAGE}.", field="max_results"
        )
    points = Metric.objects.filter(run=run, key=key).order_by(*_POINT_COLUMNS)
    if page_token:
        step, timestamp, value, is_nan = _decode_token(page_token)
        # Keyset paging: stable under concurrent appends. The leading step__gte gives the index
        # scan its start; the OR spells the row comparison (a, b, c, d) > (...) portably.
        after = (
            Q(step__gt=step)
            | Q(step=step, timestamp__gt=timestamp)
            | Q(step=step, timestamp=timestamp, value__gt=value)
            | Q(step=step, timestamp=timestamp, value=value, is_nan__gt=is_nan)
        )
        points = points.filter(Q(step__gte=step) & after)
    page = list(points.values_list(*_POINT_COLUMNS)[: limit + 1])
    if len(page) <= limit:
        return page, None
    del page[limit:]
    return page, _encode_token(page[-1])


def metric_history(
    *, run: Run, key: str, max_results: int | None = None, page_token: str | None = None
) -> tuple[list[Metric], str | None]:
    """One page of a key's points as unsaved Metric instances, and the token of the next page."""
    rows, token = metric_history_rows(
        run=run, key=key, max_results=max_results, page_token=page_token
    )
    points = [
        Metric(run=run, key=key, step=step, timestamp=timestamp, value=value, is_nan=is_nan)
        for step, timestamp, value, is_nan in rows
    ]
    return points, token


def run_points_page(
    *, run: Run, key: str | None, offset: int, limit: int
) -> tuple[list[Metric], bool]:
    """`limit` of a run's points (of one key, or all) from `offset`, in the primary key's order
    after run (key, step, timestamp, value), and whether more follow.

    One row more than asked tells whether more follow: counting the points of a run with
    millions of them would cost more than reading the page. Only the key's columns are read,
    so PostgreSQL answers from the index alone (an index-only scan), the rows the offset skips
    included.
    """
    order = ("key", *_POINT_COLUMNS)
    points = Metric.objects.filter(run=run)
    if key is not None:
        points = points.filter(key=key)
    fetched = list(points.only(*order).order_by(*order)[offset : offset + limit + 1])
    return fetched[:limit], len(fetched) > limit


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
