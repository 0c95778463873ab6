"""MLflow's filter and order grammar for logged models, turned into ORM queries.

`metrics.accuracy > 0.9 AND params.lr = '0.01' AND tags.team = 'rl' AND name LIKE 'clf%'`:
comparisons joined by AND, on attributes (`name`, `model_id`, `model_type`, `status`,
`source_run_id`, `creation_time`/`creation_timestamp`, `last_updated_timestamp`), `metrics.*`
(any logged point, optionally on the given datasets), `params.*` and `tags.*`. Order by
attributes or `metrics.<key>` (the model's latest point), then newest first and model id, as
MLflow's server does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import OrderBy

from tracking.models import (
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParam,
    LoggedModelStatus,
    LoggedModelTag,
)
from tracking.search import SearchError

METRIC, PARAM, TAG, ATTRIBUTE = "metrics", "params", "tags", "attributes"
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
# MLflow's attribute names (and their aliases) onto our fields.
_STRING_ATTRIBUTES = {
    "name": "name",
    "model_id": "model_id",
    "model_type": "model_type",
    "status": "status",
    "source_run_id": "source_run__run_id",
    "status_message": "status_message",
}
_NUMERIC_ATTRIBUTES = {
    "creation_timestamp_ms": "created_time",
    "creation_timestamp": "created_time",
    "creation_time": "created_time",
    "last_updated_timestamp_ms": "updated_time",
    "last_updated_timestamp": "updated_time",
}
# The wire's enum names and our own both name a status in filters.
_STATUS_NAMES = {
    "LOGGED_MODEL_PENDING": LoggedModelStatus.PENDING,
    "LOGGED_MODEL_READY": LoggedModelStatus.READY,
    "LOGGED_MODEL_UPLOAD_FAILED": LoggedModelStatus.FAILED,
}


@dataclass(frozen=True)
class ModelComparison:
    kind: str
    key: str
    op: str
    value: str | float | tuple[str, ...]


@dataclass(frozen=True)
class ModelOrder:
    kind: str
    key: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
      | (?P<list>\((?:[^()'"]|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")*\))
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
      | (?P<word>(?:[A-Za-z_][\w]*\.)?(?:`[^`]+`|"[^"]+"|[\w.\-/:]+))
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SearchError(f"Invalid filter string: {text!r}: unexpected {text[pos:][:20]!r}.")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _unquote(value: str) -> str:
    quote = value[0]
    body = value[1:-1]
    if quote == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)


def _entity(identifier: str) -> tuple[str, str]:
    if "." in identifier and identifier.split(".", 1)[0] in (METRIC, PARAM, TAG, ATTRIBUTE):
        kind, key = identifier.split(".", 1)
    else:
        if re.match(r"^[a-z]+\.", identifier):
            raise SearchError(
                f"Invalid entity type: {identifier.split('.', 1)[0]!r}. Expected one of "
                f"{[METRIC, PARAM, TAG, ATTRIBUTE]}."
            )
        kind, key = ATTRIBUTE, identifier
    if len(key) >= 2 and key[0] == key[-1] and key[0] in '`"':
        key = key[1:-1]
    if not key:
        raise SearchError(f"Invalid identifier {identifier!r}.")
    if kind == ATTRIBUTE and key not in _STRING_ATTRIBUTES and key not in _NUMERIC_ATTRIBUTES:
        raise SearchError(f"Invalid attribute key {key!r} for logged models.")
    return kind, key


def _numeric(kind: str, key: str) -> bool:
    return kind == METRIC or (kind == ATTRIBUTE and key in _NUMERIC_ATTRIBUTES)


def _parse_list(text: str) -> tuple[str, ...]:
    inner = text[1:-1].strip()
    items = re.findall(r"""\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*(?:,|$)""", inner)
    rebuilt = ",".join(items).replace(" ", "")
    if not items or rebuilt != re.sub(r"\s", "", inner).rstrip(","):
        raise SearchError(f"Invalid list {text!r}: expected quoted strings separated by commas.")
    return tuple(_unquote(item.strip()) for item in items)


def parse_model_filter(text: str | None) -> list[ModelComparison]:
    """The comparisons of a logged-models filter; SearchError says what is wrong."""
    if not text or not text.strip():
        return []
    tokens = _tokens(text)
    comparisons: list[ModelComparison] = []
    i = 0
    while True:
        if i >= len(tokens) or tokens[i][0] != "word":
            raise SearchError(
                f"Invalid filter string: {text!r}. Expected a list of comparisons separated by "
                "'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01')."
            )
        kind, key = _entity(tokens[i][1])
        i += 1
        if i >= len(tokens):
            raise SearchError(f"Invalid filter string: {text!r}: a comparison is incomplete.")
        op_kind, op = tokens[i]
        op = op.upper()
        if op_kind == "word" and op == "NOT" and i + 1 < len(tokens):
            if tokens[i + 1][1].upper() != "IN":
                raise SearchError(f"Invalid comparison operator in {text!r}.")
            op, i = "NOT IN", i + 1
        elif op_kind == "op":
            op = "!=" if op == "<>" else op
        elif not (op_kind == "word" and op in ("LIKE", "ILIKE", "IN")):
            raise SearchError(f"Invalid comparison operator {tokens[i][1]!r} in {text!r}.")
        i += 1
        allowed = NUMERIC_OPS if _numeric(kind, key) else STRING_OPS
        if op not in allowed:
            raise SearchError(
                f"Invalid comparison operator for {kind}.{key}: {op!r}. Expected one of {allowed}."
            )
        if i >= len(tokens):
            raise SearchError(f"Invalid filter string: {text!r}: a comparison has no value.")
        value_kind, raw = tokens[i]
        i += 1
        value: str | float | tuple[str, ...]
        if op in ("IN", "NOT IN"):
            if value_kind != "list":
                raise SearchError(f"{op} needs a list of strings, like ('a', 'b').")
            value = _parse_list(raw)
        elif _numeric(kind, key):
            if value_kind != "number":
                raise SearchError(f"Expected a number for {kind}.{key}, got {raw!r}.")
            value = float(raw)
        else:
            if value_kind != "string":
                raise SearchError(f"Expected a quoted string for {kind}.{key}, got {raw!r}.")
            value = _unquote(raw)
        comparisons.append(ModelComparison(kind, key, op, value))
        if i >= len(tokens):
            return comparisons
        if tokens[i][0] != "word" or tokens[i][1].upper() != "AND":
            raise SearchError(
                f"Invalid filter string: {text!r}. Expected a list of comparisons separated by "
                "'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01')."
            )
        i += 1


def _like_regex(pattern: str) -> str:
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return "^" + "".join(parts) + "$"


def string_condition(field: str, op: str, value) -> Q:
    """`field <op> value` for MLflow's string comparators (=, !=, LIKE, ILIKE, IN, NOT IN)."""
    if op == "=":
        return Q(**{field: value})
    if op == "!=":
        return ~Q(**{field: value})
    if op == "LIKE":
        return Q(**{f"{field}__regex": _like_regex(value)})
    if op == "ILIKE":
        return Q(**{f"{field}__iregex": _like_regex(value)})
    if op == "IN":
        return Q(**{f"{field}__in": list(value)})
    if op == "NOT IN":
        return ~Q(**{f"{field}__in": list(value)})
    raise SearchError(f"{op} is not supported here.")


_NUMERIC_LOOKUPS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "=": "exact"}


def _numeric_q(field: str, op: str, value: float) -> Q:
    if op == "!=":
        return ~Q(**{field: value})
    return Q(**{f"{field}__{_NUMERIC_LOOKUPS[op]}": value})


def _status(value):
    def one(v: str) -> str:
        return _STATUS_NAMES.get(v, v)

    return tuple(one(v) for v in value) if isinstance(value, tuple) else one(value)


def _dataset_q(datasets: list[dict] | None) -> Q | None:
    if not datasets:
        return None
    condition = Q(pk__in=[])
    for dataset in datasets:
        one = Q(dataset_name=dataset["dataset_name"])
        if dataset.get("dataset_digest"):
            one &= Q(dataset_digest=dataset["dataset_digest"])
        condition |= one
    return condition


def filter_models(
    models: QuerySet[LoggedModel],
    comparisons: list[ModelComparison],
    datasets: list[dict] | None = None,
) -> QuerySet[LoggedModel]:
    """Models matching every comparison (and, with `datasets`, with metrics on one of them)."""
    on_datasets = _dataset_q(datasets)
    has_metric = False
    for c in comparisons:
        if c.kind == ATTRIBUTE:
            if c.key in _NUMERIC_ATTRIBUTES:
                models = models.filter(_numeric_q(_NUMERIC_ATTRIBUTES[c.key], c.op, c.value))
            else:
                value = _status(c.value) if c.key == "status" else c.value
                models = models.filter(string_condition(_STRING_ATTRIBUTES[c.key], c.op, value))
        elif c.kind == METRIC:
            has_metric = True
            points = LoggedModelMetric.objects.filter(
                model=OuterRef("pk"), key=c.key, is_nan=False
            ).filter(_numeric_q("value", c.op, c.value))
            if on_datasets is not None:
                points = points.filter(on_datasets)
            models = models.filter(Exists(points))
        else:
            row_model = LoggedModelParam if c.kind == PARAM else LoggedModelTag
            rows = row_model.objects.filter(model=OuterRef("pk"), key=c.key).filter(
                string_condition("value", c.op, c.value)
            )
            models = models.filter(Exists(rows))
    if on_datasets is not None and not has_metric:
        models = models.filter(
            Exists(LoggedModelMetric.objects.filter(on_datasets, model=OuterRef("pk")))
        )
    return models


def parse_model_order(clauses: list) -> list[ModelOrder]:
    """MLflow's order_by objects: `{"field_name", "ascending", "dataset_name", ...}`."""
    orders = []
    for i, clause in enumerate(clauses):
        if not isinstance(clause, dict) or not isinstance(clause.get("field_name"), str):
            raise SearchError(f"Invalid order_by[{i}]: expected an object with a field_name.")
        name = clause["field_name"]
        ascending = clause.get("ascending", True)
        if not isinstance(ascending, bool):
            raise SearchError(f"Invalid order_by[{i}].ascending: expected true or false.")
        if "." in name:
            kind, key = name.split(".", 1)
            if kind != METRIC:
                raise SearchError(
                    f"Invalid order by field name: {name}. Only metrics are supported."
                )
        else:
            kind, key = ATTRIBUTE, name
            if key not in _STRING_ATTRIBUTES and key not in _NUMERIC_ATTRIBUTES:
                raise SearchError(f"Invalid order by field name: {name}")
        dataset_name, dataset_digest = clause.get("dataset_name"), clause.get("dataset_digest")
        for value, what in ((dataset_name, "dataset_name"), (dataset_digest, "dataset_digest")):
            if value is not None and not isinstance(value, str):
                raise SearchError(f"Invalid order_by[{i}].{what}: expected a string.")
        orders.append(ModelOrder(kind, key, ascending, dataset_name or None, dataset_digest))
    return orders


def order_models(models: QuerySet[LoggedModel], orders: list[ModelOrder]) -> QuerySet[LoggedModel]:
    """Sorted as MLflow's server sorts: missing values last, then newest first, then model id."""
    terms: list[OrderBy] = []
    fields = set()
    for n, order in enumerate(orders):
        if order.kind == ATTRIBUTE:
            field = _NUMERIC_ATTRIBUTES.get(order.key) or _STRING_ATTRIBUTES[order.key]
            fields.add(field)
            expression = F(field)
        else:
            points = LoggedModelMetric.objects.filter(model=OuterRef("pk"), key=order.key)
            if order.dataset_name:
                points = points.filter(dataset_name=order.dataset_name)
            if order.dataset_digest:
                points = points.filter(dataset_digest=order.dataset_digest)
            latest = points.order_by("-timestamp", "-step", "run__run_id").values("value")[:1]
            alias = f"_order_metric_{n}"
            models = models.alias(**{alias: Subquery(latest)})
            expression = F(alias)
        terms.append(
            expression.asc(nulls_last=True) if order.ascending else expression.desc(nulls_last=True)
        )
    if "created_time" not in fields:
        terms.append(F("created_time").desc())
    if "model_id" not in fields:
        terms.append(F("model_id").asc())
    return models.order_by(*terms)
