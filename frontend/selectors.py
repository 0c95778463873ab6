"""Reads the pages need beyond tracking's selectors: the runs table and comparing runs.

Every function takes objects a view has already fetched through the access rule
(project_for, experiment_for_user, run_for_user), so nothing here decides access.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, F, FilteredRelation, Max, Min, Q, QuerySet, Subquery

from tracking.filters import RunFilter
from tracking.models import Experiment, LatestMetric, Param, Run, RunStatus, RunTag
from tracking.selectors.runs import run_queryset
from tracking.selectors.summaries import KeySummary

PAGE_SIZE = 50
KEY_SAMPLE_RUNS = 200
SYSTEM_PREFIX = "system/"

# Sortable attribute columns of the runs table: URL name -> model field.
ATTRIBUTE_COLUMNS = {
    "name": "name",
    "status": "status",
    "user": "user__username",
    "start": "start_time",
    "duration": "duration",
    "end": "end_time",
    "run_id": "run_id",
}
# Attributes the table always shows; the others are columns one may choose.
FIXED_ATTRIBUTES = ("name", "status", "user", "start", "duration")
OPTIONAL_ATTRIBUTES = {"run_id": "Run ID", "end": "End time"}
DEFAULT_PARAM_COLUMNS = 4
DEFAULT_METRIC_COLUMNS = 4
# Metric names that say "judged on held-out data": what a sweep is compared by, shown first.
VALIDATION_MARKERS = ("val", "test", "eval")
# Attributes every run has. They are ordered without NULLS LAST, which for them changes nothing
# but lets the (experiment, -start_time, run_id) index give the default sort's page in order:
# 51 index entries instead of sorting every run of the experiment (17.8 ms of a 10,000-run
# experiment's page).
NOT_NULL_ATTRIBUTES = {"name", "status", "start", "run_id"}


def split_system(rows: list[KeySummary]) -> tuple[list[KeySummary], list[KeySummary]]:
    """(model metrics, system metrics): keys under `system/` are the machine's, not the model's."""
    model = [r for r in rows if not r.key.startswith(SYSTEM_PREFIX)]
    system = [r for r in rows if r.key.startswith(SYSTEM_PREFIX)]
    return model, system


@dataclass(frozen=True)
class Column:
    """A column of the runs table: an attribute, a param, a latest metric or a tag."""

    kind: str  # "attr", "param", "metric" or "tag"
    key: str

    @property
    def id(self) -> str:
        return self.key if self.kind == "attr" else f"{self.kind}s.{self.key}"

    @classmethod
    def parse(cls, value: str) -> Column | None:
        if value in ATTRIBUTE_COLUMNS:
            return cls("attr", value)
        for kind in ("param", "metric", "tag"):
            prefix = f"{kind}s."
            if value.startswith(prefix) and len(value) > len(prefix):
                return cls(kind, value[len(prefix) :])
        return None

    @property
    def label(self) -> str:
        if self.kind != "attr":
            return self.key
        return OPTIONAL_ATTRIBUTES.get(self.key, self.key.capitalize())


@dataclass
class Sort:
    column: Column
    descending: bool

    @property
    def token(self) -> str:
        return ("-" if self.descending else "") + self.column.id

    @classmethod
    def parse(cls, value: str | None) -> Sort:
        value = value or "-start"
        descending = value.startswith("-")
        column = Column.parse(value.lstrip("-"))
        if column is None:
            return cls(Column("attr", "start"), True)
        return cls(column, descending)


@dataclass(frozen=True)
class RunsQuery:
    """What the runs table and the chart view show: MLflow's filter, the quick filters, the sort."""

    filter: str = ""
    status: str = ""
    mine: bool = False
    sort: Sort = field(default_factory=lambda: Sort.parse(None))

    @classmethod
    def from_get(cls, get) -> RunsQuery:
        status = get.get("status", "")
        return cls(
            filter=get.get("filter", "").strip(),
            status=status if status in RunStatus.values else "",
            mine=get.get("mine") == "1",
            sort=Sort.parse(get.get("sort")),
        )

    @property
    def narrowed(self) -> bool:
        return bool(self.filter or self.status or self.mine)

    def state(self) -> dict[str, str]:
        return {
            "filter": self.filter,
            "status": self.status,
            "mine": "1" if self.mine else "",
            "sort": self.sort.token,
        }


def experiment_runs(*, experiment: Experiment, user, query: RunsQuery) -> QuerySet[Run]:
    """The experiment's active runs that match the query, sorted for keyset paging: the one
    query of the runs table, its CSV and the chart view. Raises SearchError for a bad filter."""
    runs = run_queryset(
        experiments=[experiment],
        filter_string=query.filter,
        order_by=None,
        run_view_type="ACTIVE_ONLY",
    )
    # The quick filters are the native API's RunFilter, so both surfaces filter alike.
    runs = RunFilter(
        {
            "status": [query.status] if query.status else [],
            "user": user.get_username() if query.mine else "",
        },
        queryset=runs,
    ).qs
    return sorted_runs(runs.select_related("user"), query.sort)


def sorted_runs(runs: QuerySet[Run], sort: Sort) -> QuerySet[Run]:
    """The runs ordered by the sort column (empty values last), then run id, for keyset paging."""
    column = sort.column
    if column.kind == "attr":
        if column.key == "duration":
            runs = runs.annotate(sort_value=F("end_time") - F("start_time"))
        else:
            runs = runs.annotate(sort_value=F(ATTRIBUTE_COLUMNS[column.key]))
    else:
        # A LEFT JOIN on the one row of the key (unique per run), which the database can hash
        # join; a correlated subquery per run is several times slower at 100,000 runs.
        relation = {"param": "params", "metric": "latest_metrics", "tag": "tags"}[column.kind]
        runs = runs.annotate(
            sort_row=FilteredRelation(relation, condition=Q(**{f"{relation}__key": column.key})),
            sort_value=F("sort_row__value"),
        )
    value = F("sort_value")
    if _never_null(column):
        order = value.desc() if sort.descending else value.asc()
    else:
        order = value.desc(nulls_last=True) if sort.descending else value.asc(nulls_last=True)
    return runs.order_by(order, "run_id")


def _never_null(column: Column) -> bool:
    return column.kind == "attr" and column.key in NOT_NULL_ATTRIBUTES


def encode_cursor(value, run_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, run_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[object, str] | None:
    """The (sort value, run id) a page ends at, or None for a token that is not ours."""
    try:
        value, run_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError, binascii.Error):
        return None
    if not isinstance(run_id, str) or not isinstance(value, str | int | float | type(None)):
        return None
    return value, run_id


def after_cursor(runs: QuerySet[Run], sort: Sort, cursor: tuple[object, str]) -> QuerySet[Run]:
    """The runs after the cursor in the sort order: keyset paging, fast on any page."""
    value, run_id = cursor
    if value is None:
        # Inside the tail of runs without a value for the column.
        return runs.filter(sort_value__isnull=True, run_id__gt=run_id)
    beyond = "sort_value__lt" if sort.descending else "sort_value__gt"
    after = Q(**{beyond: value}) | Q(sort_value=value, run_id__gt=run_id)
    return runs.filter(after if _never_null(sort.column) else after | Q(sort_value__isnull=True))


@dataclass
class RunRow:
    """A run as one row of the table, with the values of the chosen columns."""

    run: Run
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    child_count: int = 0

    def value(self, column: Column):
        if column.kind == "attr":
            return getattr(self.run, ATTRIBUTE_COLUMNS[column.key], None)
        values = {"param": self.params, "metric": self.metrics, "tag": self.tags}[column.kind]
        return values.get(column.key)


def run_rows(runs: list[Run], columns: list[Column]) -> list[RunRow]:
    """Rows for a page of runs: child counts, chosen params, metrics and tags, four queries at
    most."""
    rows = [RunRow(run=r) for r in runs]
    by_pk = {row.run.pk: row for row in rows}
    if by_pk:
        for parent_pk, count in (
            Run.objects.active()
            .filter(parent__in=by_pk)
            .values("parent")
            .annotate(n=Count("pk"))
            .values_list("parent", "n")
        ):
            by_pk[parent_pk].child_count = count
    param_keys = [c.key for c in columns if c.kind == "param"]
    metric_keys = [c.key for c in columns if c.kind == "metric"]
    if by_pk and param_keys:
        for run_pk, key, value in Param.objects.filter(
            run__in=by_pk, key__in=param_keys
        ).values_list("run_id", "key", "value"):
            by_pk[run_pk].params[key] = value
    if by_pk and metric_keys:
        for latest in LatestMetric.objects.filter(run__in=by_pk, key__in=metric_keys).only(
            "run_id", "key", "value", "is_nan"
        ):
            by_pk[latest.run_id].metrics[latest.key] = latest.display_value
    tag_keys = [c.key for c in columns if c.kind == "tag"]
    if by_pk and tag_keys:
        for run_pk, key, value in RunTag.objects.filter(
            run__in=by_pk, key__in=tag_keys
        ).values_list("run_id", "key", "value"):
            by_pk[run_pk].tags[key] = value
    return rows


@dataclass
class ColumnChoices:
    """What the column chooser offers, and the columns shown when the URL names none."""

    params: list[str]
    metrics: list[str]
    tags: list[str]
    default: list[Column]


def column_choices(*, experiment_runs: QuerySet[Run], with_tags: bool = True) -> ColumnChoices:
    """Keys of the experiment's most recent runs, and default columns chosen by what varies.

    Sampled, so the chooser costs the same at 100,000 runs as at ten. A param with one value in
    every run tells runs apart no better than none, so the defaults are the params that vary,
    and the metrics that vary, validation-like names first, then the most logged. Two queries,
    and a third for the tag keys when asked for.
    """
    recent = Subquery(experiment_runs.order_by("-start_time").values("pk")[:KEY_SAMPLE_RUNS])
    params = list(
        Param.objects.filter(run__in=recent)
        .values("key")
        .annotate(values=Count("value", distinct=True))
        .order_by("key")
        .values_list("key", "values")
    )
    metrics = list(
        LatestMetric.objects.filter(run__in=recent)
        .exclude(key__startswith=SYSTEM_PREFIX)
        .values("key")
        .annotate(runs=Count("run"), low=Min("value"), high=Max("value"))
        .order_by("key")
        .values_list("key", "runs", "low", "high")
    )
    tags = []
    if with_tags:
        tags = (
            RunTag.objects.filter(run__in=recent)
            .exclude(key__startswith="mlflow.")
            .values_list("key", flat=True)
            .order_by()
            .distinct()
        )
    varying = [key for key, values in params if values > 1] or [key for key, _ in params]
    ranked = sorted(
        metrics,
        key=lambda m: (
            m[2] == m[3] and len(metrics) > 1,  # the same in every run: last
            not any(marker in m[0].lower() for marker in VALIDATION_MARKERS),
            -m[1],
            m[0],
        ),
    )
    default = [Column("param", k) for k in varying[:DEFAULT_PARAM_COLUMNS]] + [
        Column("metric", m[0]) for m in ranked[:DEFAULT_METRIC_COLUMNS]
    ]
    return ColumnChoices(
        params=[key for key, _ in params],
        metrics=[m[0] for m in metrics],
        tags=sorted(set(tags)),
        default=default,
    )


def run_tags(*, run: Run) -> dict[str, str]:
    return dict(RunTag.objects.filter(run=run).values_list("key", "value"))


def runs_params(runs: list[Run]) -> dict[str, dict[int, str]]:
    """key -> run pk -> value, for comparing runs side by side."""
    table: dict[str, dict[int, str]] = defaultdict(dict)
    for run_pk, key, value in Param.objects.filter(run__in=runs).values_list(
        "run_id", "key", "value"
    ):
        table[key][run_pk] = value
    return dict(sorted(table.items()))


def runs_tags(runs: list[Run]) -> dict[str, dict[int, str]]:
    """key -> run pk -> value of the runs' own tags (not MLflow's), for comparing runs."""
    table: dict[str, dict[int, str]] = defaultdict(dict)
    for run_pk, key, value in (
        RunTag.objects.filter(run__in=runs)
        .exclude(key__startswith="mlflow.")
        .values_list("run_id", "key", "value")
    ):
        table[key][run_pk] = value
    return dict(sorted(table.items()))


def runs_metric_keys(runs: list[Run]) -> list[str]:
    keys = LatestMetric.objects.filter(run__in=runs).values_list("key", flat=True)
    return sorted(set(keys.order_by().distinct()))


@dataclass(frozen=True)
class Grouping:
    """`params.<key>` or `tags.<key>`: the chart view draws one aggregated curve per value."""

    kind: str  # "param" or "tag"
    key: str

    @property
    def id(self) -> str:
        return f"{self.kind}s.{self.key}"

    @classmethod
    def parse(cls, value: str) -> Grouping | None:
        for kind in ("param", "tag"):
            prefix = f"{kind}s."
            if value.startswith(prefix) and len(value) > len(prefix):
                return cls(kind, value[len(prefix) :])
        return None


NO_VALUE = "(none)"


def run_groups(runs: list[Run], grouping: Grouping) -> dict[int, str]:
    """Run pk -> the run's value of the grouping key (NO_VALUE without one), in one query."""
    model = Param if grouping.kind == "param" else RunTag
    values = dict(
        model.objects.filter(run__in=runs, key=grouping.key).values_list("run_id", "value")
    )
    return {run.pk: values.get(run.pk, NO_VALUE) for run in runs}


def chart_keys(runs: list[Run]) -> tuple[list[str], list[str], list[str]]:
    """Param keys, tag keys (without MLflow's own) and metric keys (model metrics first, then
    system metrics) of the runs, in three queries."""
    if not runs:
        return [], [], []
    params = Param.objects.filter(run__in=runs).values_list("key", flat=True)
    tags = RunTag.objects.filter(run__in=runs).exclude(key__startswith="mlflow.")
    metrics = LatestMetric.objects.filter(run__in=runs).values_list("key", flat=True)
    metric_keys = sorted(set(metrics.order_by().distinct()))
    return (
        sorted(set(params.order_by().distinct())),
        sorted(set(tags.values_list("key", flat=True).order_by().distinct())),
        [k for k in metric_keys if not k.startswith(SYSTEM_PREFIX)]
        + [k for k in metric_keys if k.startswith(SYSTEM_PREFIX)],
    )


def colour_indexes(runs: list[Run]) -> dict[int, int]:
    """Run pk -> its colour's index: by start time, so re-sorting the view keeps every run's
    colour, and the first 20 runs never share one (charts.js holds the palette)."""
    ordered = sorted(runs, key=lambda run: (run.start_time, run.run_id))
    return {run.pk: i for i, run in enumerate(ordered)}
