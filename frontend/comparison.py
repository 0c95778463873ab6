"""What the compare page reads from its query string, and its difference view.

The page's whole state lives in the URL, so every parameter is checked here and a bad one
becomes an error shown on the page (the rest of the page still renders), never a 500.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from tracking.models import Run

# Query parameters of the compare page; anything else is reported, not silently ignored.
KNOWN_PARAMETERS = frozenset(
    {"runs", "diff", "pc", "pm", "sx", "sy", "cx", "cy", "cz", "baseline", "brush"}
)
MAX_BRUSH_LENGTH = 4000


@dataclass
class Axes:
    """The plottable values of the compared runs: `params.<key>` and `metrics.<key>` ids."""

    params: list[str]
    metrics: list[str]

    def param_ids(self) -> set[str]:
        return {f"params.{key}" for key in self.params}

    def metric_ids(self) -> set[str]:
        return {f"metrics.{key}" for key in self.metrics}

    def all_ids(self) -> set[str]:
        return self.param_ids() | self.metric_ids()


@dataclass
class QueryErrors:
    """Errors of the query string, in the order found, each once."""

    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        if message not in self.messages:
            self.messages.append(message)

    def __bool__(self) -> bool:
        return bool(self.messages)


def unknown_parameters(get) -> list[str]:
    return sorted(key for key in get if key not in KNOWN_PARAMETERS)


def chosen_axis(get, name: str, allowed: set[str], label: str, errors: QueryErrors) -> str | None:
    """The axis id of parameter `name` when it names one of `allowed`, else None (and an error
    when it was given)."""
    value = get.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        errors.add(f"{label}: “{value}” is not a param or metric of the compared runs.")
        return None
    return value


def parse_brush(raw: str | None, axes: Axes, errors: QueryErrors) -> dict[str, dict]:
    """The brushed ranges of the parallel coordinates: axis id -> {"min", "max"} for a numeric
    axis or {"in": [categories]} for a categorical one. Written by compare.js as JSON."""
    if not raw:
        return {}
    problem = "Brush: expected {axis: {min, max} or {in: [values]}} for axes of these runs."
    if len(raw) > MAX_BRUSH_LENGTH:
        errors.add(problem)
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        errors.add(problem)
        return {}
    if not isinstance(value, dict):
        errors.add(problem)
        return {}
    brushes: dict[str, dict] = {}
    known = axes.all_ids()
    for axis, spec in value.items():
        if axis not in known:
            errors.add(f"Brush: “{axis}” is not a param or metric of the compared runs.")
            continue
        if _numeric_range(spec):
            brushes[axis] = {"min": float(spec["min"]), "max": float(spec["max"])}
        elif _category_list(spec):
            brushes[axis] = {"in": list(spec["in"])}
        else:
            errors.add(problem)
    return brushes


def _numeric_range(spec) -> bool:
    if not isinstance(spec, dict) or set(spec) != {"min", "max"}:
        return False
    low, high = spec["min"], spec["max"]
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    return numbers and math.isfinite(low) and math.isfinite(high) and low <= high


def _category_list(spec) -> bool:
    return (
        isinstance(spec, dict)
        and set(spec) == {"in"}
        and isinstance(spec["in"], list)
        and all(isinstance(v, str) for v in spec["in"])
    )


@dataclass
class PageState:
    """What the URL holds beyond a form's own fields; every form of the page carries it as
    hidden inputs, so submitting one keeps the others' choices."""

    runs: list[Run]
    only_diff: bool
    params: list[str]
    charts: dict[str, str]
    baseline: Run | None
    brush: dict[str, dict]

    def pairs(self) -> list[tuple[str, str]]:
        pairs = [("runs", ",".join(run.run_id for run in self.runs))]
        pairs += [("diff", "1")] if self.only_diff else []
        pairs += [("pc", key) for key in self.params]
        pairs += list(self.charts.items())
        pairs += [("baseline", self.baseline.run_id)] if self.baseline else []
        pairs += [("brush", json.dumps(self.brush))] if self.brush else []
        return pairs

    def hidden(self, *own: str) -> list[tuple[str, str]]:
        """The state for a form whose own fields are `own`."""
        return [(name, value) for name, value in self.pairs() if name not in own]


# --- The difference view ----------------------------------------------------------------------


def as_number(value) -> float | None:
    """A value as a finite number, or None when it is text, missing, NaN or infinite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class DiffCell:
    """One run's value of a key, and how it differs from the baseline run's."""

    value: object
    baseline: bool = False
    same: bool = True
    delta: float | None = None
    percent: float | None = None

    @property
    def delta_text(self) -> str:
        return "" if self.delta is None else f"{self.delta:+.4g}"

    @property
    def percent_text(self) -> str:
        return "" if self.percent is None else f"{self.percent:+.1f}%"

    @property
    def direction(self) -> str:
        if self.delta is None or self.delta == 0:
            return ""
        return "up" if self.delta > 0 else "down"


@dataclass
class DiffRow:
    kind: str  # "param" or "metric"
    key: str
    cells: list[DiffCell]

    @property
    def differs(self) -> bool:
        return any(not cell.same for cell in self.cells)


def _same(a, b) -> bool:
    numbers = as_number(a), as_number(b)
    if None not in numbers:
        return numbers[0] == numbers[1]
    return _shown(a) == _shown(b)


def _shown(value) -> str | None:
    """How a value compares as text: NaN and missing are themselves, never equal to a number."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return str(value)


def diff_cell(value, base, *, is_baseline: bool) -> DiffCell:
    if is_baseline:
        return DiffCell(value=value, baseline=True)
    cell = DiffCell(value=value, same=_same(value, base))
    number, base_number = as_number(value), as_number(base)
    if number is not None and base_number is not None:
        cell.delta = number - base_number
        # A change relative to a baseline of 0 has no percentage.
        cell.percent = cell.delta / abs(base_number) * 100 if base_number else None
    return cell


def difference_rows(
    *,
    runs: list[Run],
    baseline: Run,
    params: dict[str, dict[int, str]],
    latest: dict[str, dict[int, float]],
    only_diff: bool,
) -> list[DiffRow]:
    """Rows of params, then latest metrics, each run's value beside its difference from the
    baseline's; with `only_diff`, the rows where every run equals the baseline are left out."""
    rows = []
    for kind, table in (("param", params), ("metric", latest)):
        for key, values in table.items():
            base = values.get(baseline.pk)
            cells = [
                diff_cell(values.get(run.pk), base, is_baseline=run.pk == baseline.pk)
                for run in runs
            ]
            row = DiffRow(kind=kind, key=key, cells=cells)
            if not only_diff or row.differs:
                rows.append(row)
    return rows
