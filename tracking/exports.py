"""CSV cells for the exports (native API and pages): what a spreadsheet opens stays data.

A run name or param such as `=HYPERLINK(...)` would run as a formula in a spreadsheet, so a text
cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, as OWASP
recommends. Numbers are no formulas and stay numbers, whether stored as numbers or as text.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator

from tracking.validation import float_or_name

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number (what a param such as `-0.5` holds); linear to match.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_cell(value: object) -> object:
    """One cell, safe to open in a spreadsheet: numbers as numbers, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return float_or_name(value)
    if isinstance(value, int):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_row(values: Iterable[object]) -> list[object]:
    return [csv_cell(value) for value in values]


class _Echo:
    """csv.writer wants a file; this one hands each row back to the streaming iterator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[object], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The header and rows as CSV lines, every cell through csv_cell, for a streamed response."""
    writer = csv.writer(_Echo())
    yield writer.writerow(csv_row(header))
    for row in rows:
        yield writer.writerow(csv_row(row))
