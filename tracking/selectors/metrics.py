"""Reading metric histories: paged in step order, or evenly sampled across runs."""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Sequence

from django.db.models import Count, F, Q, Subquery, Window
from django.db.models.functions import RowNumber

from mlplatform.db.compiled import CompiledRead
from tracking.errors import InvalidInput
from tracking.models import Metric, Run
from tracking.store import RunRef

MAX_HISTORY_PAGE = 25_000
MAX_SAMPLED_PER_RUN = 2_500
MAX_RUNS_PER_SAMPLE = 100


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
    *, run: Run | RunRef, key: str, max_results: int | None = None, page_token: str | None = None
) -> tuple[list[PointRow], str | None]:
    """One page of a key's points as (step, timestamp, value, is_nan), and the next page's token.

    `run` is a Run the caller may read, or a RunRef by MLflow's id within a project whose
    reading the caller has checked (no run there reads as no points).

    The order is MLflow's (step, timestamp, value) and is exactly the primary key's, so a page
    is one index-only range scan with no sort, however long the history and however deep the page.
    """
    limit = MAX_HISTORY_PAGE if max_results is None else max_results
    if not 1 <= limit <= MAX_HISTORY_PAGE:
        raise InvalidInput(
            f"max_results must be between 1 and {MAX_HISTORY_PAGE}.", field="max_results"
        )
    if isinstance(run, RunRef) and run.pk is None and not page_token:
        # The first page of a token's read, the everyday case: the same query, compiled once.
        rows = _first_page_in_project(limit + 1).rows(
            run_id=run.run_id, project_id=run.project_id, key=key
        )
        return _page(rows, limit)
    points = Metric.objects.filter(_of_run(run), key=key).order_by(*_POINT_COLUMNS)
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
    return _page(list(points.values_list(*_POINT_COLUMNS)[: limit + 1]), limit)


def _of_run(run: Run | RunRef) -> Q:
    if isinstance(run, RunRef):
        # A scalar subquery, evaluated once: joined instead, the planner no longer knows the
        # points come in the primary key's order and sorts every page.
        return Q(run_id=Subquery(Run.objects.filter(run.q()).order_by().values("pk")[:1]))
    return Q(run=run)


@functools.lru_cache(maxsize=16)
def _first_page_in_project(rows: int) -> CompiledRead:
    """metric_history_rows' first page of a run by MLflow's id in a project, `rows` long (the
    limit is part of the SQL, and clients ask for a few page sizes)."""

    def build(run_id: str, project_id: int, key: str):
        of_run = _of_run(RunRef.in_project(run_id, project_id))
        points = Metric.objects.filter(of_run, key=key).order_by(*_POINT_COLUMNS)
        return points.values_list(*_POINT_COLUMNS)[:rows]

    return CompiledRead(build, run_id="run-id-sample", project_id=-7_654_321, key="key-sample")


def _page(page: list[PointRow], limit: int) -> tuple[list[PointRow], str | None]:
    """The page and the next one's token, from `limit` + 1 rows."""
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


def ntile_first_indices(total: int, buckets: int) -> list[int]:
    """The positions SQL's NTILE(buckets) over `total` ordered rows starts a bucket at, plus the
    last row, as MLflow's store samples a history: the first `total % buckets` buckets hold one
    row more; the last row replaces the last bucket's first row when the sample is full."""
    if total <= buckets:
        return list(range(total))
    size, larger = divmod(total, buckets)
    firsts = [b * (size + 1) if b < larger else larger + b * size for b in range(buckets)]
    if firsts[-1] != total - 1:
        firsts[-1] = total - 1
    return firsts


def metric_history_sampled(
    *,
    runs: Sequence[Run],
    key: str,
    max_results: int = MAX_SAMPLED_PER_RUN,
    start_step: int | None = None,
    end_step: int | None = None,
) -> list[tuple[Run, Metric]]:
    """Up to `max_results` points of each run's history, sampled as MLflow's server samples
    them (by row in (step, timestamp, value) order, first and last kept), runs in given order."""
    if not 1 <= max_results <= MAX_SAMPLED_PER_RUN:
        raise InvalidInput(
            f"max_results must be between 1 and {MAX_SAMPLED_PER_RUN}.", field="max_results"
        )
    if (start_step is None) != (end_step is None):
        raise InvalidInput(
            "If either start step or end step are specified, both must be specified.",
            field="start_step",
        )
    if start_step is not None and start_step > end_step:
        raise InvalidInput(
            "end_step must be greater than start_step. "
            f"Found start_step={start_step} and end_step={end_step}.",
            field="end_step",
        )
    if not runs:
        return []
    base = Metric.objects.filter(run__in=runs, key=key)
    if start_step is not None:
        base = base.filter(step__gte=start_step, step__lte=end_step)
    totals = dict(base.values_list("run_id").annotate(total=Count("*")).order_by())
    order = ("step", "timestamp", "value", "is_nan")
    result: list[tuple[Run, Metric]] = []
    for run in runs:
        total = totals.get(run.pk, 0)
        if not total:
            continue
        wanted = ntile_first_indices(total, max_results)
        points = base.filter(run_id=run.pk).order_by(*order)
        if len(wanted) == total:
            rows = list(points)
        else:
            # Positions in MLflow's order; the window keeps the database from sending every row.
            numbered = points.annotate(
                position=Window(RowNumber(), order_by=[F(name).asc() for name in order])
            )
            rows = list(numbered.filter(position__in=[i + 1 for i in wanted]).order_by(*order))
        result.extend((run, point) for point in rows)
    return result
