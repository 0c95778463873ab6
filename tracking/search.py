"""MLflow's search grammar for runs and experiments, turned into ORM queries.

One hand-written parser serves every surface (MLflow `runs/search` and `experiments/search`, the
native API, the runs table), so a filter means the same thing everywhere. The grammar follows
MLflow's documented syntax: AND-ed comparisons of `metrics.*`, `params.*`, `tags.*` and run
attributes, and `order_by` clauses of the form `<key> [ASC|DESC]`. Keys may be quoted with
backticks or double quotes, strings with single or double quotes; a quote character inside is
written twice, as in SQL.

Any input either parses or raises SearchError, never another exception, because the text comes
straight from clients.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import (
    Case,
    Exists,
    F,
    FilteredRelation,
    IntegerField,
    Lookup,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Length
from django.db.models.lookups import LessThanOrEqual

from tracking.models import (
    INDEXED_VALUE_LENGTH,
    Experiment,
    ExperimentTag,
    LatestMetric,
    Param,
    Run,
    RunTag,
)

METRIC = "metric"
PARAM = "param"
TAG = "tag"
ATTRIBUTE = "attribute"

NUMERIC_COMPARATORS = ("=", "!=", ">", ">=", "<", "<=")
NULL_COMPARATORS = ("IS NULL", "IS NOT NULL")
LIST_COMPARATORS = ("IN", "NOT IN")
LIKE_COMPARATORS = ("LIKE", "ILIKE")

# A longer list is almost certainly a mistake, and databases cap the number of bound values.
MAX_IN_VALUES = 10_000
# SQLite refuses LIKE/GLOB patterns over 50,000 bytes; no stored value is anywhere near this.
MAX_PATTERN_BYTES = 40_000
# Integer literals with more digits become floats, so every int fits a 64-bit column.
_MAX_INT_DIGITS = 18


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
        text = f"{_PREFIXES[self.kind]}.{_format_key(self.key)} {self.comparator}"
        if self.comparator in NULL_COMPARATORS:
            return text
        return f"{text} {_format_value(self.value)}"


@dataclass(frozen=True)
class OrderBy:
    """One `order_by` clause: sort by a key, ascending or descending."""

    kind: str
    key: str
    ascending: bool = True

    def __str__(self) -> str:
        direction = "ASC" if self.ascending else "DESC"
        return f"{_PREFIXES[self.kind]}.{_format_key(self.key)} {direction}"


_PREFIXES = {METRIC: "metrics", PARAM: "params", TAG: "tags", ATTRIBUTE: "attributes"}


@dataclass(frozen=True)
class _Grammar:
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
        elif key in self.numeric_attributes:
            allowed = NUMERIC_COMPARATORS
        else:
            like = LIKE_COMPARATORS if key in self.like_attributes else ()
            allowed = ("=", "!=", *like, *LIST_COMPARATORS)
        if kind in self.null_kinds:
            allowed = (*allowed, *NULL_COMPARATORS)
        return allowed


_ATTRIBUTE_ENTITIES = {"attribute": ATTRIBUTE, "attributes": ATTRIBUTE, "attr": ATTRIBUTE}

RUN_GRAMMAR = _Grammar(
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

EXPERIMENT_GRAMMAR = _Grammar(
    entities={"tag": TAG, "tags": TAG, **_ATTRIBUTE_ENTITIES},
    numeric_attributes=frozenset({"creation_time", "last_update_time"}),
    string_attributes=frozenset({"name", "experiment_id"}),
    aliases={},
    like_attributes=frozenset({"name"}),
    null_kinds=frozenset({TAG}),
)


# --- formatting (the inverse of parsing) -------------------------------------------------------


def _is_plain_key_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_.-/"


def _format_key(key: str) -> str:
    if key and all(_is_plain_key_char(ch) for ch in key):
        return key
    return "`" + key.replace("`", "``") + "`"


def _format_value(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_format_value(v) for v in value) + ")"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float) and math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    return repr(value)


# --- the scanner -------------------------------------------------------------------------------


class _Scanner:
    """Reads a filter or order_by clause left to right, raising SearchError with a position."""

    def __init__(self, text: str, subject: str):
        self.text = text
        self.pos = 0
        self.subject = subject

    def error(self, detail: str, position: int | None = None) -> SearchError:
        return SearchError(detail, self.pos if position is None else position, subject=self.subject)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def fragment(self, position: int | None = None) -> str:
        """The text at a position, for error messages."""
        start = self.pos if position is None else position
        if start >= len(self.text):
            return f"the end of the {self.subject}"
        end = start
        while end < len(self.text) and not self.text[end].isspace() and end - start < 20:
            end += 1
        return repr(self.text[start : max(end, start + 1)])

    def read_word(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] == "_"
        ):
            self.pos += 1
        return self.text[start : self.pos]

    def read_quoted(self) -> str:
        """A quoted string; the quote character doubled stands for itself, as in SQL."""
        quote = self.text[self.pos]
        start = self.pos
        self.pos += 1
        parts = []
        while True:
            end = self.text.find(quote, self.pos)
            if end < 0:
                raise self.error(f"unterminated quoted string starting with {quote}", start)
            parts.append(self.text[self.pos : end])
            self.pos = end + 1
            if self.peek() == quote:
                parts.append(quote)
                self.pos += 1
            else:
                return "".join(parts)

    def read_number(self) -> int | float | None:
        """A numeric literal, or None (position unchanged) when there is none here."""
        text, start = self.text, self.pos
        i = start
        if i < len(text) and text[i] in "+-":
            i += 1
        digits_start = i
        while i < len(text) and text[i] in "0123456789":
            i += 1
        int_digits = i - digits_start
        is_float = False
        if i < len(text) and text[i] == ".":
            i += 1
            frac_start = i
            while i < len(text) and text[i] in "0123456789":
                i += 1
            if int_digits == 0 and i == frac_start:
                return None
            is_float = True
        elif int_digits == 0:
            return None
        if i < len(text) and text[i] in "eE":
            j = i + 1
            if j < len(text) and text[j] in "+-":
                j += 1
            exp_start = j
            while j < len(text) and text[j] in "0123456789":
                j += 1
            if j == exp_start:
                raise self.error("malformed number: the exponent has no digits", start)
            i = j
            is_float = True
        if i < len(text) and (text[i].isalnum() or text[i] in "_.`'\""):
            raise self.error(f"malformed number {self.fragment(start)}", start)
        literal = text[start:i]
        self.pos = i
        if not is_float and int_digits <= _MAX_INT_DIGITS:
            return int(literal)
        return float(literal)


# --- parsing -----------------------------------------------------------------------------------


def _check_characters(text: str, subject: str) -> None:
    # Neither database can store or compare these, so they can never match anything.
    for index, ch in enumerate(text):
        if ch == "\x00" or "\ud800" <= ch <= "\udfff":
            raise SearchError(f"character {ch!r} is not allowed", index, subject=subject)


def _parse_key(scanner: _Scanner, grammar: _Grammar) -> tuple[str, str]:
    """`entity.key`, or a bare attribute name; returns (kind, key) with aliases resolved."""
    start = scanner.pos
    ch = scanner.peek()
    if ch in ("`", '"'):
        word = scanner.read_quoted()
    else:
        word = scanner.read_word()
        if not word:
            raise scanner.error(
                "expected a key such as metrics.acc, params.lr, tags.team or an attribute, "
                f"got {scanner.fragment()}"
            )
    if scanner.peek() != ".":
        return ATTRIBUTE, _attribute_name(scanner, grammar, word, start)

    kind = grammar.entities.get(word.lower())
    if kind is None:
        prefixes = ", ".join(sorted({f"{_PREFIXES[k]}." for k in grammar.entities.values()}))
        raise scanner.error(f"unknown key type {word!r}; expected one of {prefixes}", start)
    scanner.pos += 1
    key_start = scanner.pos
    if scanner.peek() in ("`", '"'):
        key = scanner.read_quoted()
    else:
        while not scanner.at_end() and _is_plain_key_char(scanner.peek()):
            scanner.pos += 1
        key = scanner.text[key_start : scanner.pos]
    if not key:
        raise scanner.error(f"expected a key after {word}., got {scanner.fragment()}", key_start)
    if kind == ATTRIBUTE:
        key = _attribute_name(scanner, grammar, key, key_start)
    return kind, key


def _attribute_name(scanner: _Scanner, grammar: _Grammar, name: str, position: int) -> str:
    name = grammar.aliases.get(name, name)
    if name not in grammar.attributes:
        valid = ", ".join(sorted(grammar.attributes))
        raise scanner.error(f"unknown attribute {name!r}; expected one of {valid}", position)
    return name


def _parse_comparator(scanner: _Scanner) -> str:
    text, pos = scanner.text, scanner.pos
    for symbol in ("!=", ">=", "<=", "=", ">", "<"):
        if text.startswith(symbol, pos):
            scanner.pos += len(symbol)
            return symbol
    word = scanner.read_word().upper()
    if word in ("LIKE", "ILIKE", "IN"):
        return word
    if word in ("NOT", "IS"):
        scanner.skip_space()
        second_pos = scanner.pos
        second = scanner.read_word().upper()
        if word == "NOT" and second == "IN":
            return "NOT IN"
        if word == "IS" and second == "NULL":
            return "IS NULL"
        if word == "IS" and second == "NOT":
            scanner.skip_space()
            third_pos = scanner.pos
            if scanner.read_word().upper() == "NULL":
                return "IS NOT NULL"
            raise scanner.error(f"expected NULL, got {scanner.fragment(third_pos)}", third_pos)
        expected = "IN" if word == "NOT" else "NULL or NOT NULL"
        raise scanner.error(f"expected {expected}, got {scanner.fragment(second_pos)}", second_pos)
    raise scanner.error(
        "expected a comparator (=, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, "
        f"IS NOT NULL), got {scanner.fragment(pos)}",
        pos,
    )


def _parse_string(scanner: _Scanner, what: str) -> str:
    if scanner.peek() in ("'", '"'):
        return scanner.read_quoted()
    raise scanner.error(f"expected a quoted string for {what}, got {scanner.fragment()}")


def _parse_list(scanner: _Scanner, what: str) -> tuple[str, ...]:
    if scanner.peek() != "(":
        raise scanner.error(
            f"expected a parenthesised list of quoted strings for {what}, got {scanner.fragment()}"
        )
    scanner.pos += 1
    values = []
    while True:
        scanner.skip_space()
        values.append(_parse_string(scanner, what))
        if len(values) > MAX_IN_VALUES:
            raise scanner.error(f"a list may hold at most {MAX_IN_VALUES} values")
        scanner.skip_space()
        if scanner.peek() == ",":
            scanner.pos += 1
        elif scanner.peek() == ")":
            scanner.pos += 1
            return tuple(values)
        else:
            raise scanner.error(f"expected ',' or ')', got {scanner.fragment()}")


def _parse_comparison(scanner: _Scanner, grammar: _Grammar) -> Comparison:
    kind, key = _parse_key(scanner, grammar)
    what = f"{_PREFIXES[kind]}.{_format_key(key)}"
    scanner.skip_space()
    comparator_pos = scanner.pos
    comparator = _parse_comparator(scanner)
    allowed = grammar.comparators(kind, key)
    if comparator not in allowed:
        raise scanner.error(
            f"{comparator} is not supported for {what}; use one of {', '.join(allowed)}",
            comparator_pos,
        )
    if comparator in NULL_COMPARATORS:
        return Comparison(kind, key, comparator)
    scanner.skip_space()
    if comparator in LIST_COMPARATORS:
        return Comparison(kind, key, comparator, _parse_list(scanner, what))
    if kind == METRIC or (kind == ATTRIBUTE and key in grammar.numeric_attributes):
        number = scanner.read_number()
        if number is None:
            raise scanner.error(f"expected a number for {what}, got {scanner.fragment()}")
        return Comparison(kind, key, comparator, number)
    value = _parse_string(scanner, what)
    if comparator in LIKE_COMPARATORS and len(_like_to_glob(value).encode()) > MAX_PATTERN_BYTES:
        raise scanner.error(f"the {comparator} pattern for {what} is too long", comparator_pos)
    return Comparison(kind, key, comparator, value)


def _parse(text: str, grammar: _Grammar) -> list[Comparison]:
    if not isinstance(text, str):
        raise SearchError("The filter must be a string.")
    _check_characters(text, "filter")
    scanner = _Scanner(text, "filter")
    comparisons: list[Comparison] = []
    scanner.skip_space()
    if scanner.at_end():
        return comparisons
    while True:
        comparisons.append(_parse_comparison(scanner, grammar))
        scanner.skip_space()
        if scanner.at_end():
            return comparisons
        word_pos = scanner.pos
        word = scanner.read_word().upper()
        if word == "OR":
            raise scanner.error("OR is not supported; combine conditions with AND", word_pos)
        if word != "AND":
            raise scanner.error(
                f"expected AND or the end of the filter, got {scanner.fragment(word_pos)}",
                word_pos,
            )
        scanner.skip_space()


def parse_filter(text: str) -> list[Comparison]:
    """The comparisons of a runs filter, e.g. `metrics.acc > 0.9 and params.lr = '0.01'`."""
    return _parse(text, RUN_GRAMMAR)


def parse_experiment_filter(text: str) -> list[Comparison]:
    """The comparisons of an experiments filter, e.g. `name LIKE 'bert%' and tags.team = 'rl'`."""
    return _parse(text, EXPERIMENT_GRAMMAR)


def _parse_order_clause(clause: object, grammar: _Grammar) -> OrderBy:
    if not isinstance(clause, str):
        raise SearchError("Each order_by clause must be a string.")
    subject = f"order_by clause {clause!r}"
    _check_characters(clause, subject)
    scanner = _Scanner(clause, subject)
    scanner.skip_space()
    kind, key = _parse_key(scanner, grammar)
    scanner.skip_space()
    ascending = True
    if not scanner.at_end():
        direction_pos = scanner.pos
        direction = scanner.read_word().upper()
        if direction not in ("ASC", "DESC"):
            raise scanner.error(
                f"expected ASC or DESC, got {scanner.fragment(direction_pos)}", direction_pos
            )
        ascending = direction == "ASC"
        scanner.skip_space()
        if not scanner.at_end():
            raise scanner.error(f"unexpected {scanner.fragment()} after the direction")
    if grammar is EXPERIMENT_GRAMMAR and kind != ATTRIBUTE:
        raise scanner.error("experiments can only be ordered by attributes", 0)
    return OrderBy(kind, key, ascending)


def _parse_order_by(order_by: Iterable[str] | None, grammar: _Grammar) -> list[OrderBy]:
    if order_by is None:
        return []
    if isinstance(order_by, str) or not isinstance(order_by, Iterable):
        raise SearchError("order_by must be a list of strings.")
    clauses = [_parse_order_clause(clause, grammar) for clause in order_by]
    seen = set()
    for clause in clauses:
        if (clause.kind, clause.key) in seen:
            raise SearchError(f"order_by names {str(clause).rsplit(' ', 1)[0]} more than once.")
        seen.add((clause.kind, clause.key))
    return clauses


def parse_order_by(order_by: Iterable[str] | None) -> list[OrderBy]:
    """The clauses of a runs order_by, e.g. `["metrics.acc DESC", "params.lr"]`."""
    return _parse_order_by(order_by, RUN_GRAMMAR)


def parse_experiment_order_by(order_by: Iterable[str] | None) -> list[OrderBy]:
    """The clauses of an experiments order_by, e.g. `["name", "creation_time DESC"]`."""
    return _parse_order_by(order_by, EXPERIMENT_GRAMMAR)


# --- LIKE ----------------------------------------------------------------------------------------


def _like_to_glob(pattern: str) -> str:
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


class _Like(Lookup):
    """`LIKE` with MLflow's meaning: `%` and `_` are wildcards, matching is case-sensitive.

    SQLite's own LIKE ignores case, so there it becomes GLOB; PostgreSQL's LIKE treats a backslash
    as an escape, which MLflow's patterns do not have.
    """

    lookup_name = "mlp_like"
    prepare_rhs = False
    case_sensitive = True

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        pattern = self.rhs
        if connection.vendor == "sqlite":
            if self.case_sensitive:
                return f"{lhs_sql} GLOB %s", (*lhs_params, _like_to_glob(pattern))
            # Without an ESCAPE clause SQLite's LIKE has no escape character at all.
            return f"{lhs_sql} LIKE %s", (*lhs_params, pattern)
        operator = "LIKE" if self.case_sensitive else "ILIKE"
        return f"{lhs_sql} {operator} %s", (*lhs_params, pattern.replace("\\", "\\\\"))


class _ILike(_Like):
    lookup_name = "mlp_ilike"
    case_sensitive = False


# --- comparisons as query conditions -----------------------------------------------------------

_NEVER = Q(pk__in=[])
_LOOKUPS = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_INT64 = (-(2**63), 2**63 - 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Milliseconds of the first and (almost) last instants a Python datetime can hold.
_DATETIME_MS = (-62_135_596_800_000, 253_402_300_799_998)


def _string_condition(field: str, comparator: str, value, *, nullable: bool = False):
    present = Q(**{f"{field}__isnull": False}) if nullable else Q()
    if comparator == "=":
        return Q(**{field: value})
    if comparator == "!=":
        return present & ~Q(**{field: value})
    if comparator == "LIKE":
        return _Like(F(field), value)
    if comparator == "ILIKE":
        return _ILike(F(field), value)
    if comparator == "IN":
        return Q(**{f"{field}__in": list(value)})
    if comparator == "NOT IN":
        return present & ~Q(**{f"{field}__in": list(value)})
    raise SearchError(f"{comparator} is not supported here.")


def _integer_comparison(comparator: str, value: float, bounds: tuple[int, int]):
    """Rewrite `<int column> comparator value` as an exact integer comparison.

    Returns (comparator, int) with the int inside bounds, or True/False when every or no value in
    bounds satisfies it. Passing a float or an out-of-range int to the database would round it
    or overflow the column.
    """
    low, high = bounds
    if isinstance(value, float):
        if math.isinf(value):
            above = value > 0
            return (comparator in ("<", "<=", "!=")) if above else (comparator in (">", ">=", "!="))
        if comparator in ("=", "!="):
            if not value.is_integer():
                return comparator == "!="
            value = int(value)
        elif comparator == ">":
            comparator, value = ">=", math.floor(value) + 1
        elif comparator == ">=":
            comparator, value = ">=", math.ceil(value)
        elif comparator == "<":
            comparator, value = "<=", math.ceil(value) - 1
        else:
            comparator, value = "<=", math.floor(value)
    if value > high:
        return comparator in ("<", "<=", "!=")
    if value < low:
        return comparator in (">", ">=", "!=")
    return comparator, value


def _integer_condition(field: str, comparator: str, value) -> Q:
    outcome = _integer_comparison(comparator, value, _INT64)
    if outcome is True:
        return Q(**{f"{field}__isnull": False})
    if outcome is False:
        return _NEVER
    comparator, number = outcome
    if comparator == "!=":
        return Q(**{f"{field}__lt": number}) | Q(**{f"{field}__gt": number})
    return Q(**{f"{field}__{_LOOKUPS[comparator]}": number})


def _ms(value: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=value)


def _milliseconds_condition(field: str, comparator: str, value) -> Q:
    """Compare a DateTimeField as MLflow's whole milliseconds since the epoch."""
    outcome = _integer_comparison(comparator, value, _DATETIME_MS)
    if outcome is True:
        return Q()
    if outcome is False:
        return _NEVER
    comparator, n = outcome
    # A datetime's millisecond value is floor(ms), so `= n` covers [n, n + 1).
    start, end = _ms(n), _ms(n + 1)
    return {
        "=": Q(**{f"{field}__gte": start, f"{field}__lt": end}),
        "!=": Q(**{f"{field}__lt": start}) | Q(**{f"{field}__gte": end}),
        ">": Q(**{f"{field}__gte": end}),
        ">=": Q(**{f"{field}__gte": start}),
        "<": Q(**{f"{field}__lt": start}),
        "<=": Q(**{f"{field}__lt": end}),
    }[comparator]


def _metric_condition(comparator: str, value, prefix: str = "") -> Q:
    """The condition on a LatestMetric row, or on the one `prefix` (`name__`) joins."""
    number = float(value)
    is_nan, value_field = f"{prefix}is_nan", f"{prefix}value"
    # NaN is stored as 0 with is_nan set; like MLflow (and IEEE), NaN satisfies only `!=`.
    if comparator == "!=":
        return (
            Q(**{is_nan: True})
            | Q(**{f"{value_field}__lt": number})
            | Q(**{f"{value_field}__gt": number})
        )
    return Q(**{is_nan: False, f"{value_field}__{_LOOKUPS[comparator]}": number})


def _key_condition(model: type[Model], owner: str, comparison: Comparison):
    """Whether the owner has a row of `model` for the key that satisfies the comparison."""
    rows = model.objects.filter(**{owner: OuterRef("pk")}, key=comparison.key)
    if comparison.comparator == "IS NULL":
        return ~Exists(rows)
    if comparison.comparator == "IS NOT NULL":
        return Exists(rows)
    if model is LatestMetric:
        return Exists(rows.filter(_metric_condition(comparison.comparator, comparison.value)))
    condition = _string_condition("value", comparison.comparator, comparison.value)
    if (
        model in _SHORT_VALUE_INDEXED
        and comparison.comparator == "="
        and isinstance(comparison.value, str)
        and len(comparison.value) <= INDEXED_VALUE_LENGTH
    ):
        # Always true when the value matches; it lets the database use the partial index.
        condition &= Q(LessThanOrEqual(Length("value"), INDEXED_VALUE_LENGTH))
    return Exists(rows.filter(condition))


_RUN_STRING_FIELDS = {
    "run_id": ("run_id", False),
    "run_name": ("name", False),
    "status": ("status", False),
    "user_id": ("user__username", True),
    "artifact_uri": ("artifact_uri", False),
}
_RUN_KEY_MODELS = {METRIC: LatestMetric, PARAM: Param, TAG: RunTag}
_SHORT_VALUE_INDEXED = (Param, RunTag)


def _run_condition(comparison: Comparison):
    if comparison.kind in _RUN_KEY_MODELS:
        return _key_condition(_RUN_KEY_MODELS[comparison.kind], "run", comparison)
    if comparison.key in RUN_GRAMMAR.numeric_attributes:
        return _integer_condition(comparison.key, comparison.comparator, comparison.value)
    field, nullable = _RUN_STRING_FIELDS[comparison.key]
    return _string_condition(field, comparison.comparator, comparison.value, nullable=nullable)


def filter_runs(qs: QuerySet[Run], text: str | None) -> QuerySet[Run]:
    """The runs of qs that satisfy a filter string; an empty filter keeps them all."""
    for comparison in parse_filter(text or ""):
        qs = qs.filter(_run_condition(comparison))
    return qs


def _experiment_id_condition(comparator: str, value) -> Q:
    # MLflow's ids are strings; only the canonical spelling of one of ours can match.
    values = value if isinstance(value, tuple) else (value,)
    ids = [
        int(v)
        for v in values
        if v.isascii() and v.isdigit() and len(v) <= _MAX_INT_DIGITS and str(int(v)) == v
    ]
    if comparator in ("=", "IN"):
        return Q(pk__in=ids)
    return ~Q(pk__in=ids)


_EXPERIMENT_TIME_FIELDS = {"creation_time": "created_at", "last_update_time": "updated_at"}


def _experiment_condition(comparison: Comparison):
    if comparison.kind == TAG:
        return _key_condition(ExperimentTag, "experiment", comparison)
    if comparison.key in _EXPERIMENT_TIME_FIELDS:
        field = _EXPERIMENT_TIME_FIELDS[comparison.key]
        return _milliseconds_condition(field, comparison.comparator, comparison.value)
    if comparison.key == "experiment_id":
        return _experiment_id_condition(comparison.comparator, comparison.value)
    return _string_condition("name", comparison.comparator, comparison.value)


def filter_experiments(qs: QuerySet[Experiment], text: str | None) -> QuerySet[Experiment]:
    """The experiments of qs that satisfy a filter string; an empty filter keeps them all."""
    for comparison in parse_experiment_filter(text or ""):
        qs = qs.filter(_experiment_condition(comparison))
    return qs


# --- ordering ----------------------------------------------------------------------------------

_RUN_ORDER_FIELDS = {
    "run_id": "run_id",
    "run_name": "name",
    "status": "status",
    "user_id": "user__username",
    "artifact_uri": "artifact_uri",
    "start_time": "start_time",
    "end_time": "end_time",
}


def _direction(expression, ascending: bool):
    # Runs without the key (NULL) sort last in both directions, as in MLflow.
    return expression.asc(nulls_last=True) if ascending else expression.desc(nulls_last=True)


def order_runs(qs: QuerySet[Run], order_by: Iterable[str] | None) -> QuerySet[Run]:
    """qs ordered by order_by clauses, then start_time DESC and run_id (MLflow's order)."""
    return _order_runs(qs, parse_order_by(order_by), joined={})


def _order_runs(
    qs: QuerySet[Run], clauses: list[OrderBy], *, joined: dict[str, str]
) -> QuerySet[Run]:
    ordering = []
    annotations = {}
    for index, clause in enumerate(clauses):
        if clause.kind == ATTRIBUTE:
            ordering.append(_direction(F(_RUN_ORDER_FIELDS[clause.key]), clause.ascending))
            continue
        if clause.kind == METRIC and clause.key in joined:
            # Every run left has a real value of this metric: no NaN or missing ranks to sort.
            ordering.append(_direction(F(f"{joined[clause.key]}__value"), clause.ascending))
            continue
        model = _RUN_KEY_MODELS[clause.kind]
        rows = model.objects.filter(run=OuterRef("pk"), key=clause.key)
        value_name = f"search_order_{index}"
        if clause.kind == METRIC:
            # Real values first, then NaN, then runs without the metric, in either direction.
            rank_name = f"search_order_{index}_rank"
            ranks = rows.annotate(
                nan_rank=Case(When(is_nan=True, then=Value(1)), default=Value(0))
            ).values("nan_rank")[:1]
            annotations[rank_name] = Coalesce(
                Subquery(ranks, output_field=IntegerField()), Value(2)
            )
            ordering.append(F(rank_name).asc())
            rows = rows.filter(is_nan=False)
        annotations[value_name] = Subquery(rows.values("value")[:1])
        ordering.append(_direction(F(value_name), clause.ascending))
    ordering += [F("start_time").desc(), F("run_id").asc()]
    if annotations:
        qs = qs.annotate(**annotations)
    return qs.order_by(*ordering)


# A run satisfies these only with a real (not NaN) value of the metric.
_REAL_VALUE_COMPARATORS = frozenset(NUMERIC_COMPARATORS) - {"!="}


def filter_and_order_runs(
    qs: QuerySet[Run], text: str | None, order_by: Iterable[str] | None
) -> QuerySet[Run]:
    """`order_runs(filter_runs(qs, text), order_by)`, reading a metric that is both compared to
    a number and ordered by only once.

    Apart, such a metric costs each candidate run an EXISTS and two ordering subqueries; here
    its row (one per run and key) is joined once and compared and sorted on, and as every run
    left has a real value of it, the NaN and missing ranks need no sorting. On PostgreSQL that
    is about a fifth of the benchmark search, `metrics.acc > 0.5 and ...` by `metrics.acc DESC`.
    """
    comparisons = parse_filter(text or "")
    clauses = parse_order_by(order_by)
    ordered_metrics = {clause.key for clause in clauses if clause.kind == METRIC}
    joined: dict[str, str] = {}
    for comparison in comparisons:
        if (
            comparison.kind != METRIC
            or comparison.key not in ordered_metrics
            or comparison.comparator not in _REAL_VALUE_COMPARATORS
        ):
            qs = qs.filter(_run_condition(comparison))
            continue
        name = joined.get(comparison.key)
        if name is None:
            name = joined[comparison.key] = f"search_metric_{len(joined)}"
            condition = Q(latest_metrics__key=comparison.key)
            qs = qs.alias(**{name: FilteredRelation("latest_metrics", condition=condition)})
        qs = qs.filter(_metric_condition(comparison.comparator, comparison.value, f"{name}__"))
    return _order_runs(qs, clauses, joined=joined)


_EXPERIMENT_ORDER_FIELDS = {
    "name": "name",
    "experiment_id": "pk",
    "creation_time": "created_at",
    "last_update_time": "updated_at",
}


def order_experiments(
    qs: QuerySet[Experiment], order_by: Iterable[str] | None
) -> QuerySet[Experiment]:
    """qs ordered by order_by clauses (default last_update_time DESC), then experiment_id."""
    clauses = parse_experiment_order_by(order_by) or [
        OrderBy(ATTRIBUTE, "last_update_time", ascending=False)
    ]
    ordering = [_direction(F(_EXPERIMENT_ORDER_FIELDS[c.key]), c.ascending) for c in clauses]
    ordering.append(F("pk").asc())
    return qs.order_by(*ordering)
