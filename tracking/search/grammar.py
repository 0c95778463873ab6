"""MLflow's search grammar for runs and experiments: what a filter or order_by may say.

The grammar follows MLflow's documented syntax: AND-ed comparisons of `metrics.*`, `params.*`,
`tags.*`, `dataset.*` (name, digest, context) and run attributes, and `order_by` clauses of the
form `<key> [ASC|DESC]`. This module and `parser` are plain Python, without Django, so the
language can be read and tested alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

METRIC = "metric"
PARAM = "param"
TAG = "tag"
ATTRIBUTE = "attribute"
# A run's dataset inputs: `dataset.name`, `dataset.digest`, `dataset.context` (its input tag).
DATASET = "dataset"
DATASET_KEYS = frozenset({"name", "digest", "context"})

NUMERIC_COMPARATORS = ("=", "!=", ">", ">=", "<", "<=")
NULL_COMPARATORS = ("IS NULL", "IS NOT NULL")
LIST_COMPARATORS = ("IN", "NOT IN")
LIKE_COMPARATORS = ("LIKE", "ILIKE")

# A longer list is almost certainly a mistake, and databases cap the number of bound values.
MAX_IN_VALUES = 10_000
# SQLite refuses LIKE/GLOB patterns over 50,000 bytes; no stored value is anywhere near this.
MAX_PATTERN_BYTES = 40_000
# Integer literals with more digits become floats, so every int fits a 64-bit column.
MAX_INT_DIGITS = 18
# Filters come from clients and their compiled queries are cached: the text and the number of
# AND-ed clauses are bounded so neither memory nor the query compiler's recursion is at a
# client's mercy. A tag value (at most 8,000 characters) still fits in one comparison.
MAX_FILTER_LENGTH = 10_000
MAX_FILTER_CLAUSES = 100
# Each clause names a key (at most 250 characters, doubled when every one is a quote).
MAX_ORDER_BY_CLAUSES = 20
MAX_ORDER_BY_LENGTH = 1_000


class SearchError(ValueError):
    """A filter or order_by that does not parse or asks for something unsupported."""

    def __init__(self, detail: str, position: int | None = None, *, subject: str = "filter"):
        self.detail = detail
        self.position = position
        if position is None:
            message = detail
        else:
            message = f"Invalid {subject} at position {position}: {detail}"
        super().__init__(message)


@dataclass(frozen=True)
class Comparison:
    """One `<key> <comparator> <value>` clause of a filter, with aliases resolved."""

    kind: str  # METRIC, PARAM, TAG or ATTRIBUTE
    key: str
    comparator: str  # upper case: "=", "LIKE", "NOT IN", "IS NULL", ...
    value: str | int | float | tuple[str, ...] | None = None

    def __str__(self) -> str:
        text = f"{PREFIXES[self.kind]}.{format_key(self.key)} {self.comparator}"
        if self.comparator in NULL_COMPARATORS:
            return text
        return f"{text} {format_value(self.value)}"


@dataclass(frozen=True)
class OrderBy:
    """One `order_by` clause: sort by a key, ascending or descending."""

    kind: str
    key: str
    ascending: bool = True

    def __str__(self) -> str:
        direction = "ASC" if self.ascending else "DESC"
        return f"{PREFIXES[self.kind]}.{format_key(self.key)} {direction}"


PREFIXES = {
    METRIC: "metrics",
    PARAM: "params",
    TAG: "tags",
    ATTRIBUTE: "attributes",
    DATASET: "dataset",
}


@dataclass(frozen=True)
class Grammar:
    """What one search surface accepts: its entity prefixes and attributes."""

    entities: dict[str, str]
    numeric_attributes: frozenset[str]
    string_attributes: frozenset[str]
    aliases: dict[str, str]
    like_attributes: frozenset[str]
    null_kinds: frozenset[str]

    @property
    def attributes(self) -> frozenset[str]:
        return self.numeric_attributes | self.string_attributes

    def comparators(self, kind: str, key: str) -> tuple[str, ...]:
        if kind == METRIC:
            allowed = NUMERIC_COMPARATORS
        elif kind in (PARAM, TAG):
            allowed = ("=", "!=", *LIKE_COMPARATORS)
        elif kind == DATASET:
            allowed = ("=", "!=", *LIKE_COMPARATORS, *LIST_COMPARATORS)
        elif key in self.numeric_attributes:
            allowed = NUMERIC_COMPARATORS
        else:
            like = LIKE_COMPARATORS if key in self.like_attributes else ()
            allowed = ("=", "!=", *like, *LIST_COMPARATORS)
        if kind in self.null_kinds:
            allowed = (*allowed, *NULL_COMPARATORS)
        return allowed


_ATTRIBUTE_ENTITIES = {"attribute": ATTRIBUTE, "attributes": ATTRIBUTE, "attr": ATTRIBUTE}

RUN_GRAMMAR = Grammar(
    entities={
        "metric": METRIC,
        "metrics": METRIC,
        "param": PARAM,
        "params": PARAM,
        "parameter": PARAM,
        "parameters": PARAM,
        "tag": TAG,
        "tags": TAG,
        "run": ATTRIBUTE,
        "dataset": DATASET,
        "datasets": DATASET,
        **_ATTRIBUTE_ENTITIES,
    },
    numeric_attributes=frozenset({"start_time", "end_time"}),
    string_attributes=frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri"}),
    aliases={
        "run_uuid": "run_id",
        "created": "start_time",
        "Created": "start_time",
        "run name": "run_name",
        "Run name": "run_name",
        "Run Name": "run_name",
    },
    like_attributes=frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri"}),
    null_kinds=frozenset({METRIC, PARAM, TAG}),
)

EXPERIMENT_GRAMMAR = Grammar(
    entities={"tag": TAG, "tags": TAG, **_ATTRIBUTE_ENTITIES},
    numeric_attributes=frozenset({"creation_time", "last_update_time"}),
    string_attributes=frozenset({"name", "experiment_id"}),
    aliases={},
    like_attributes=frozenset({"name"}),
    null_kinds=frozenset({TAG}),
)


# --- formatting (the inverse of parsing) -------------------------------------------------------


def is_plain_key_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_.-/"


def format_key(key: str) -> str:
    if key and all(is_plain_key_char(ch) for ch in key):
        return key
    return "`" + key.replace("`", "``") + "`"


def format_value(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float) and math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    return repr(value)


def like_to_glob(pattern: str) -> str:
    """A LIKE pattern as a GLOB one (SQLite's case-sensitive match)."""
    out = []
    for ch in pattern:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)
