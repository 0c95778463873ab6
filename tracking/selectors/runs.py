"""Search runs and experiments the way MLflow's `runs/search` and `experiments/search` do.

The caller has already decided which experiments the actor may see; these selectors only apply
the filter, order, view type and paging.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from collections.abc import Callable, Iterable
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery, prefetch_related_objects

from accounts.models import User
from mlplatform.db.binary import binary_rows
from mlplatform.db.literal import with_values
from tracking.models import (
    Experiment,
    LatestMetric,
    Lifecycle,
    Param,
    Run,
    RunInput,
    RunModelLink,
    RunTag,
)
from tracking.search import (
    SearchError,
    filter_and_order_runs,
    filter_experiments,
    order_experiments,
)
from tracking.validation import MAX_RESULTS

VIEW_TYPES = {
    "ACTIVE_ONLY": [Lifecycle.ACTIVE],
    "DELETED_ONLY": [Lifecycle.DELETED],
    "ALL": [Lifecycle.ACTIVE, Lifecycle.DELETED],
}
# Prefetching binds one value per row; this keeps every query well under the parameter limits
# of SQLite builds and of PostgreSQL's protocol (65,535).
_PREFETCH_CHUNK = 5_000


def _lifecycles(view_type: str) -> list[str]:
    lifecycles = VIEW_TYPES.get(view_type.upper()) if isinstance(view_type, str) else None
    if lifecycles is None:
        raise SearchError(
            f"Invalid view type {view_type!r}; expected one of {', '.join(VIEW_TYPES)}."
        )
    return lifecycles


def _check_max_results(max_results: int) -> None:
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 1 <= max_results <= MAX_RESULTS
    ):
        raise SearchError(
            f"Invalid max_results {max_results!r}: it must be an integer between 1 and "
            f"{MAX_RESULTS}."
        )


def _query_hash(**query) -> str:
    # A token only makes sense for the query that produced it: another filter or order would
    # make its offset skip or repeat rows.
    text = json.dumps(query, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _page_token(offset: int, query_hash: str) -> str:
    raw = json.dumps({"offset": offset, "query": query_hash}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _page_offset(page_token: str | None, query_hash: str) -> int:
    if not page_token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(page_token.encode("ascii")))
    except (AttributeError, UnicodeError, binascii.Error, ValueError, RecursionError):
        raise SearchError("Invalid page token.") from None
    if not isinstance(data, dict):
        raise SearchError("Invalid page token.")
    offset = data.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 2**62:
        raise SearchError("Invalid page token.")
    if data.get("query") != query_hash:
        raise SearchError("Invalid page token: it belongs to a different search.")
    return offset


def _page(
    fetch: Callable[[int, int], list], *, offset: int, max_results: int, query_hash: str
) -> tuple[list, str | None]:
    """fetch(offset, limit): the rows of the page."""
    # One extra row tells whether another page exists, so the last page carries no token.
    rows = fetch(offset, max_results + 1)
    if len(rows) > max_results:
        return rows[:max_results], _page_token(offset + max_results, query_hash)
    return rows, None


def _sliced(qs: QuerySet) -> Callable[[int, int], list]:
    return lambda start, limit: list(qs[start : start + limit])


def _experiment_ids(experiments: Iterable[Experiment | int]) -> list[int]:
    if isinstance(experiments, QuerySet):
        return sorted(experiments.values_list("pk", flat=True))
    return sorted({e if isinstance(e, int) else e.pk for e in experiments})


def _runs(
    experiment_ids: list[int],
    filter_string: str | None,
    order_by,
    run_view_type: str,
    project_id: int | None = None,
) -> QuerySet[Run]:
    qs = Run.objects.filter(experiment__in=experiment_ids, lifecycle__in=_lifecycles(run_view_type))
    if project_id is not None:
        qs = qs.filter(experiment__project_id=project_id)
    qs = filter_and_order_runs(qs, filter_string, order_by)
    return qs.select_related("experiment", "user")


def run_queryset(
    *,
    experiments: Iterable[Experiment],
    filter_string: str | None = "",
    order_by: list[str] | None = None,
    run_view_type: str = "ACTIVE_ONLY",
) -> QuerySet[Run]:
    """The matching runs of the experiments, in search order, unsliced (for keyset pages, CSV)."""
    return _runs(_experiment_ids(experiments), filter_string, order_by, run_view_type)


class RunRow(NamedTuple):
    """The columns of a run that MLflow's wire format shows, with its user's username."""

    pk: int
    run_id: str
    name: str
    experiment_id: int
    status: str
    start_time: int
    end_time: int | None
    lifecycle: str
    artifact_uri: str
    username: str | None


_ROW_FIELDS = (
    "pk",
    "run_id",
    "name",
    "experiment_id",
    "status",
    "start_time",
    "end_time",
    "lifecycle",
    "artifact_uri",
    "username",
)


# The compiled SQL of recent searches, per process. Only small searches are kept, so the cache's
# size is bounded in bytes as well as in entries: its key and its SQL grow with the filter, the
# order_by and the experiments, and a client chooses all three.
_CACHED_SEARCHES = 256
_CACHED_SEARCH_LENGTH = 1_000  # characters of filter and order_by together
_CACHED_EXPERIMENTS = 100


def _compile_row_page(
    ids: tuple[int, ...],
    filter_string: str,
    order_by: tuple[str, ...],
    run_view_type: str,
    project_id: int | None,
    offset: int,
    limit: int,
) -> tuple[str, tuple | None]:
    """The SQL and parameters of one page of rows, the values written in (`with_values`).

    The result depends only on these arguments and the database, so a repeated search (a
    dashboard refreshing, a sweep polled for its best trial) can reuse it.
    """
    # The username by a subquery, not a join: one table fewer for the planner to order.
    username = User.objects.filter(pk=OuterRef("user_id")).values("username")[:1]
    qs = (
        _runs(list(ids), filter_string, list(order_by), run_view_type, project_id)
        .annotate(username=Subquery(username))
        .values_list(*_ROW_FIELDS)[offset : offset + limit]
    )
    sql, params = with_values(*qs.query.sql_with_params())
    return sql, None if params is None else tuple(params)


# A SearchError is not cached: it is raised again for every call.
_row_page_sql = functools.lru_cache(maxsize=_CACHED_SEARCHES)(_compile_row_page)


def _cacheable(ids: tuple[int, ...], filter_string: object, order_by: tuple) -> bool:
    texts = (filter_string, *order_by)
    if not all(isinstance(text, str) for text in texts):
        return False  # the parser's error, uncached
    length = sum(len(text) for text in texts)
    return length <= _CACHED_SEARCH_LENGTH and len(ids) <= _CACHED_EXPERIMENTS


def _row_page(
    ids, filter_string, order_by, run_view_type, project_id, offset, limit
) -> list[RunRow]:
    key = (
        tuple(ids),
        filter_string or "",
        tuple(order_by or ()),
        run_view_type,
        project_id,
        offset,
        limit,
    )
    compile_ = _row_page_sql if _cacheable(*key[:3]) else _compile_row_page
    try:
        sql, params = compile_(*key)
    except EmptyResultSet:
        # Django's word for a query that cannot match (no visible experiment, say).
        return []
    return [RunRow._make(row) for row in binary_rows(sql, params)]


def run_search(
    *,
    experiments: Iterable[Experiment | int],
    filter_string: str | None = "",
    order_by: list[str] | None = None,
    run_view_type: str = "ACTIVE_ONLY",
    max_results: int = 1000,
    page_token: str | None = None,
    prefetch: bool = True,
    project_id: int | None = None,
) -> tuple[list[Run] | list[RunRow], str | None]:
    """One page of matching runs with params, tags and latest metrics, and the next page's token.

    `experiments` (or their pks) are ones the caller may read, or, with `project_id`, those of
    them in that project: the caller's access rule settled which project the actor may read,
    and the search's own query keeps to it, with no query of its own to find the experiments.

    With prefetch=False the page comes as `RunRow`s instead, without params, tags and metrics,
    for callers that write them from rows with `run_details`: a model instance per run, and its
    experiment and user, cost more than the query that finds them.
    """
    _check_max_results(max_results)
    ids = _experiment_ids(experiments)
    query_hash = _query_hash(
        what="runs",
        experiments=ids,
        filter=filter_string or "",
        order_by=list(order_by or []),
        view=run_view_type.upper(),
    )
    offset = _page_offset(page_token, query_hash)
    if not prefetch:
        return _page(
            lambda start, n: _row_page(
                ids, filter_string, order_by, run_view_type, project_id, start, n
            ),
            offset=offset,
            max_results=max_results,
            query_hash=query_hash,
        )
    qs = _runs(ids, filter_string, order_by, run_view_type, project_id)
    runs, next_token = _page(
        _sliced(qs), offset=offset, max_results=max_results, query_hash=query_hash
    )
    for start in range(0, len(runs), _PREFETCH_CHUNK):
        prefetch_related_objects(
            runs[start : start + _PREFETCH_CHUNK], "params", "tags", "latest_metrics"
        )
    return runs, next_token


class RunDetails:
    """The params, tags and latest metrics of some runs, as rows keyed by run pk, in key order."""

    def __init__(self) -> None:
        self.params: dict[int, list[tuple[str, str]]] = {}
        self.tags: dict[int, list[tuple[str, str]]] = {}
        # (key, value, is_nan, timestamp, step); is_nan is 0 or 1 on SQLite.
        self.metrics: dict[int, list[tuple[str, float, bool, int, int]]] = {}
        # The runs with dataset inputs or logged-model links: few runs have any, and reading
        # those only for the runs that do spares the rest two queries.
        self.with_io: set[int] = set()


def _of_runs(pks: list[int]) -> tuple[str, dict]:
    """`run_id IN pks` as SQL and its parameters, by name, so every SELECT of the statement
    shares them."""
    if connection.vendor == "postgresql":
        if len(pks) == 1:
            # PostgreSQL costs a generic `= ANY($1)` as ten elements and so planned a one-run
            # read (runs/get, a search finding one run) anew every time, 0.1 ms; `= $1` is
            # costed right, and its plan is kept.
            return f"{connection.ops.quote_name('run_id')} = %(pk)s", {"pk": pks[0]}
        # One array parameter, written once for all the SELECTs: cheaper for psycopg to write
        # and PostgreSQL to parse than a list.
        return f"{connection.ops.quote_name('run_id')} = ANY(%(pks)s)", {"pks": pks}
    names = [f"r{i}" for i in range(len(pks))]
    where = ", ".join(f"%({name})s" for name in names)
    return f"{connection.ops.quote_name('run_id')} IN ({where})", dict(zip(names, pks, strict=True))


# What run_details reads, one SELECT per table, their columns in one shape: (kind, run_id, key,
# text value, number value, is_nan, timestamp, step). The metrics come first: PostgreSQL takes
# each column's type from the first SELECT that is not NULL there, pair by pair.
_PARAM, _TAG, _METRIC, _IO = range(4)
_DETAIL_SELECTS = (
    (_METRIC, LatestMetric, "key, NULL, value, is_nan, timestamp, step"),
    (_PARAM, Param, "key, value, NULL, NULL, NULL, NULL"),
    (_TAG, RunTag, "key, value, NULL, NULL, NULL, NULL"),
    (_IO, RunInput, "NULL, NULL, NULL, NULL, NULL, NULL"),
    (_IO, RunModelLink, "NULL, NULL, NULL, NULL, NULL, NULL"),
)


def _details_query(pks: list[int]) -> tuple[str, dict]:
    """Every row run_details reads for the runs, in one statement (one round trip, however many
    tables), unordered."""
    where, params = _of_runs(pks)
    quote = connection.ops.quote_name
    # Table and column names from the models and the constants above.
    selects = [
        f"SELECT {kind}, run_id, {columns} FROM {quote(model._meta.db_table)} WHERE {where}"  # noqa: S608
        for kind, model, columns in _DETAIL_SELECTS
    ]
    return " UNION ALL ".join(selects), params


def run_details(runs: list[Run] | list[RunRow]) -> RunDetails:
    """Params, tags and latest metrics of the runs, and which have inputs or outputs, in one
    query, without model instances.

    A page of runs has many of them, and rows cost much less than instances. The query is
    written out because the ORM's `values_list` spends longer building rows than the database
    spends finding them.
    """
    details = RunDetails()
    pks = [run.pk for run in runs]
    for start in range(0, len(pks), _PREFETCH_CHUNK):
        found = binary_rows(*_details_query(pks[start : start + _PREFETCH_CHUNK]))
        # Sorted here, by kind, run and key: PostgreSQL's ORDER BY of a 100-run page cost
        # about 2 ms, Python's sort of the same, nearly sorted rows 0.1 to 0.2 ms. Whole
        # rows, without a key function (half the time): (kind, run, key) is unique but for
        # a run's input and link rows, which are equal throughout. Keys come in code point
        # order, as SQLite and a C or C.UTF-8 PostgreSQL order them (MLflow's clients read
        # them into dicts).
        found.sort()
        for (kind, run_pk), rows in groupby(found, key=itemgetter(0, 1)):
            if kind == _PARAM:
                details.params[run_pk] = [(row[2], row[3]) for row in rows]
            elif kind == _TAG:
                details.tags[run_pk] = [(row[2], row[3]) for row in rows]
            elif kind == _METRIC:
                details.metrics[run_pk] = [row[2:3] + row[4:] for row in rows]
            else:
                details.with_io.add(run_pk)
    return details


def experiment_queryset(
    *,
    experiments: QuerySet[Experiment],
    filter_string: str | None = "",
    order_by: list[str] | None = None,
    view_type: str = "ACTIVE_ONLY",
) -> QuerySet[Experiment]:
    """The matching experiments among those given, in search order, unsliced."""
    qs = experiments.filter(lifecycle__in=_lifecycles(view_type))
    return order_experiments(filter_experiments(qs, filter_string), order_by)


def experiment_search(
    *,
    experiments: QuerySet[Experiment],
    filter_string: str | None = "",
    order_by: list[str] | None = None,
    view_type: str = "ACTIVE_ONLY",
    max_results: int = 1000,
    page_token: str | None = None,
) -> tuple[list[Experiment], str | None]:
    """One page of matching experiments with their tags, and the next page's token.

    `experiments` is what the actor may see, e.g. the experiments of `projects_for(actor=...)`.
    """
    _check_max_results(max_results)
    qs = experiment_queryset(
        experiments=experiments,
        filter_string=filter_string,
        order_by=order_by,
        view_type=view_type,
    )
    query_hash = _query_hash(
        what="experiments",
        filter=filter_string or "",
        order_by=list(order_by or []),
        view=view_type.upper(),
    )
    offset = _page_offset(page_token, query_hash)
    found, next_token = _page(
        _sliced(qs), offset=offset, max_results=max_results, query_hash=query_hash
    )
    for start in range(0, len(found), _PREFETCH_CHUNK):
        prefetch_related_objects(found[start : start + _PREFETCH_CHUNK], "tags")
    return found, next_token
