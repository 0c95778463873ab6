"""What a run logs, in the shapes it travels in from the surfaces through the services to the
store: points as columns, params and tags as key/value pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracking.errors import InvalidInput
from tracking.validation import validate_int64


@dataclass(frozen=True, slots=True)
class MetricIn:
    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(slots=True)
class MetricColumns:
    """A batch's points as four columns, the shape the database takes them in.

    What the MLflow endpoints parse a batch into: a thousand MetricIn objects cost more than the
    rest of the request. Whoever builds one guarantees the types (str, float, int, int); keys and
    the number of points are still validated (tracking.validation.validate_batch).
    """

    keys: list[str]
    values: list[float]
    timestamps: list[int]
    steps: list[int]

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True, slots=True)
class ParamIn:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class TagIn:
    key: str
    value: str


def metric_columns(metrics: Sequence[MetricIn] | MetricColumns) -> MetricColumns:
    """The points as columns, checking the types of each MetricIn on the way."""
    if isinstance(metrics, MetricColumns):
        return metrics
    for i, metric in enumerate(metrics):
        if isinstance(metric.value, bool) or not isinstance(metric.value, int | float):
            raise InvalidInput(f"'metrics[{i}].value' must be a number.", field="value")
        validate_int64(metric.timestamp, field=f"metrics[{i}].timestamp")
        validate_int64(metric.step, field=f"metrics[{i}].step")
    try:
        values = [float(m.value) for m in metrics]
    except OverflowError:
        raise InvalidInput("A metric value is too large for a float.", field="value") from None
    return MetricColumns(
        keys=[m.key for m in metrics],
        values=values,
        timestamps=[m.timestamp for m in metrics],
        steps=[m.step for m in metrics],
    )
