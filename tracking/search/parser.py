"""The hand-written parser of filters and order_by clauses, turning text into the grammar's clauses.

One parser serves every surface (MLflow `runs/search` and `experiments/search`, the native API,
the runs table), so a filter means the same thing everywhere. Keys may be quoted with backticks
or double quotes, strings with single or double quotes; a quote character inside is written
twice, as in SQL.

Any input either parses or raises SearchError, never another exception, because the text comes
straight from clients.
"""

from __future__ import annotations

from collections.abc import Iterable

from tracking.search.grammar import (
    ATTRIBUTE,
    DATASET,
    DATASET_KEYS,
    EXPERIMENT_GRAMMAR,
    LIKE_COMPARATORS,
    LIST_COMPARATORS,
    MAX_FILTER_CLAUSES,
    MAX_FILTER_LENGTH,
    MAX_IN_VALUES,
    MAX_INT_DIGITS,
    MAX_ORDER_BY_CLAUSES,
    MAX_ORDER_BY_LENGTH,
    MAX_PATTERN_BYTES,
    METRIC,
    NULL_COMPARATORS,
    PREFIXES,
    RUN_GRAMMAR,
    Comparison,
    Grammar,
    OrderBy,
    SearchError,
    format_key,
    is_plain_key_char,
    like_to_glob,
)

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
        if not is_float and int_digits <= MAX_INT_DIGITS:
            return int(literal)
        return float(literal)


# --- parsing -----------------------------------------------------------------------------------


def _check_characters(text: str, subject: str) -> None:
    # Neither database can store or compare these, so they can never match anything.
    for index, ch in enumerate(text):
        if ch == "\x00" or "\ud800" <= ch <= "\udfff":
            raise SearchError(f"character {ch!r} is not allowed", index, subject=subject)


def _parse_key(scanner: _Scanner, grammar: Grammar) -> tuple[str, str]:
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
        prefixes = ", ".join(sorted({f"{PREFIXES[k]}." for k in grammar.entities.values()}))
        raise scanner.error(f"unknown key type {word!r}; expected one of {prefixes}", start)
    scanner.pos += 1
    key_start = scanner.pos
    if scanner.peek() in ("`", '"'):
        key = scanner.read_quoted()
    else:
        while not scanner.at_end() and is_plain_key_char(scanner.peek()):
            scanner.pos += 1
        key = scanner.text[key_start : scanner.pos]
    if not key:
        raise scanner.error(f"expected a key after {word}., got {scanner.fragment()}", key_start)
    if kind == ATTRIBUTE:
        key = _attribute_name(scanner, grammar, key, key_start)
    if kind == DATASET and key not in DATASET_KEYS:
        valid = ", ".join(sorted(DATASET_KEYS))
        raise scanner.error(f"unknown dataset key {key!r}; expected one of {valid}", key_start)
    return kind, key


def _attribute_name(scanner: _Scanner, grammar: Grammar, name: str, position: int) -> str:
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


def _parse_comparison(scanner: _Scanner, grammar: Grammar) -> Comparison:
    kind, key = _parse_key(scanner, grammar)
    what = f"{PREFIXES[kind]}.{format_key(key)}"
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
    if comparator in LIKE_COMPARATORS and len(like_to_glob(value).encode()) > MAX_PATTERN_BYTES:
        raise scanner.error(f"the {comparator} pattern for {what} is too long", comparator_pos)
    return Comparison(kind, key, comparator, value)


def _parse(text: str, grammar: Grammar) -> list[Comparison]:
    if not isinstance(text, str):
        raise SearchError("The filter must be a string.")
    if len(text) > MAX_FILTER_LENGTH:
        raise SearchError(
            f"The filter is {len(text)} characters long; at most {MAX_FILTER_LENGTH} are allowed."
        )
    _check_characters(text, "filter")
    scanner = _Scanner(text, "filter")
    comparisons: list[Comparison] = []
    scanner.skip_space()
    if scanner.at_end():
        return comparisons
    while True:
        if len(comparisons) == MAX_FILTER_CLAUSES:
            raise scanner.error(f"a filter may combine at most {MAX_FILTER_CLAUSES} comparisons")
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


def _parse_order_clause(clause: object, grammar: Grammar) -> OrderBy:
    if not isinstance(clause, str):
        raise SearchError("Each order_by clause must be a string.")
    if len(clause) > MAX_ORDER_BY_LENGTH:
        raise SearchError(
            f"An order_by clause is {len(clause)} characters long; at most "
            f"{MAX_ORDER_BY_LENGTH} are allowed."
        )
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
    if kind == DATASET:
        raise scanner.error("runs cannot be ordered by their datasets", 0)
    return OrderBy(kind, key, ascending)


def _parse_order_by(order_by: Iterable[str] | None, grammar: Grammar) -> list[OrderBy]:
    if order_by is None:
        return []
    if isinstance(order_by, str) or not isinstance(order_by, Iterable):
        raise SearchError("order_by must be a list of strings.")
    clauses = []
    for clause in order_by:
        if len(clauses) == MAX_ORDER_BY_CLAUSES:
            raise SearchError(f"order_by may have at most {MAX_ORDER_BY_CLAUSES} clauses.")
        clauses.append(_parse_order_clause(clause, grammar))
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
