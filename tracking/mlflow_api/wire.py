"""MLflow's JSON wire format: reading request fields and writing entities as the client expects.

Requests follow protobuf's JSON mapping (int64 may come as a string, NaN and infinities as
"NaN"/"Infinity"/"-Infinity"); GET endpoints carry the same fields as query parameters.
Responses omit unset fields, write ids as strings and non-finite floats as those strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import orjson

from tracking.batch import MetricColumns, MetricIn, TagIn
from tracking.errors import InvalidInput
from tracking.models import Experiment, LatestMetric, Lifecycle, Metric, Run
from tracking.services.experiments import experiment_artifact_location
from tracking.validation import (
    INT64_MAX,
    INT64_MIN,
    MAX_QUERY_FIELDS,
    NON_FINITE,
    float_or_name,
    invalid_type_message,
    missing_value_message,
    parse_float,
    parse_int,
    validate_text,
)

if TYPE_CHECKING:
    from tracking.selectors.runs import RunDetails, RunRow

LIFECYCLE_STAGE = {Lifecycle.ACTIVE: "active", Lifecycle.DELETED: "deleted"}
VIEW_TYPES = {"ACTIVE_ONLY", "DELETED_ONLY", "ALL"}


class Fields:
    """The fields of one request, with MLflow's type rules and errors naming the field."""

    def __init__(self, data: dict, *, lists: dict[str, list] | None = None) -> None:
        self.data = data
        self.lists = lists or {}

    @classmethod
    def from_json(cls, body: bytes) -> Fields:
        if not body.strip():
            return cls({})
        try:
            # orjson is three times faster on a 1,000-point batch; it refuses the NaN and
            # Infinity literals some clients write, which the standard library then reads.
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            try:
                data = json.loads(body, parse_constant=lambda name: NON_FINITE[name])
            except (ValueError, KeyError, RecursionError):
                raise InvalidInput("The request body is not valid JSON.", field="body") from None
        if not isinstance(data, dict):
            raise InvalidInput("The request body must be a JSON object.", field="body")
        return cls(data)

    @classmethod
    def from_query(cls, request) -> Fields:
        """The request's query parameters. Read here rather than from request.GET, whose limit
        of 1,000 fields answers a long list of run ids with a bare 400 naming no field."""
        # WSGI carries the query string's bytes as latin-1 characters.
        query_string = request.META.get("QUERY_STRING", "").encode("latin-1", "replace")
        query_string = query_string.decode("utf-8", "replace")
        try:
            pairs = parse_qsl(query_string, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            raise InvalidInput(
                f"A request may carry at most {MAX_QUERY_FIELDS} query parameters.", field="query"
            ) from None
        lists: dict[str, list] = {}
        for key, value in pairs:
            lists.setdefault(key, []).append(value)
        return cls({key: values[-1] for key, values in lists.items()}, lists=lists)

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def raw(self, name: str):
        return self.data.get(name)

    def str(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise InvalidInput(missing_value_message(name), field=name)
            return default
        if not isinstance(value, str):
            raise InvalidInput(invalid_type_message(name, value), field=name)
        # No NUL or lone surrogate, which no database column can hold, reaches a query.
        return validate_text(value, limit=None, what=f"Parameter '{name}'", field=name)

    def int(self, name: str, *, required: bool = False, default: int | None = None) -> int | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise InvalidInput(missing_value_message(name), field=name)
            return default
        return parse_int(value, field=name)

    def float(self, name: str, *, required: bool = False) -> float | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise InvalidInput(missing_value_message(name), field=name)
            return None
        return parse_float(value, field=name)

    def list(self, name: str) -> list:
        if name in self.lists:
            return self.lists[name]
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise InvalidInput(invalid_type_message(name, value), field=name)
        return value

    def str_list(self, name: str) -> list[str]:
        values = self.list(name)
        for value in values:
            if not isinstance(value, str):
                raise InvalidInput(
                    f"Invalid value for parameter '{name}': expected a list of strings.",
                    field=name,
                )
            validate_text(value, limit=None, what=f"Parameter '{name}'", field=name)
        return values

    def enum(self, name: str, choices: Iterable[str], *, default: str) -> str:
        value = self.str(name, default=default)
        choices = list(choices)
        if value not in choices:
            raise InvalidInput(
                f"Invalid value '{value}' for parameter '{name}': use one of {', '.join(choices)}.",
                field=name,
            )
        return value


float_out = float_or_name


class Encoded(str):
    """A response body already written as JSON text; `dumps` passes it through unchanged."""


def dumps(payload: dict | Encoded) -> str:
    if isinstance(payload, Encoded):
        return payload
    return json.dumps(payload, allow_nan=False, separators=(",", ":"))


# What json.dumps writes for a str (it escapes every non-ASCII character, as here).
_string = encode_basestring_ascii


def _number(value: float, is_nan: bool) -> str:
    if is_nan or value != value:
        return '"NaN"'
    return '"Infinity"' if value > 0 else '"-Infinity"'


def history_out(key: str, rows: Iterable[tuple[int, int, float, bool]], next_token: str | None):
    """get-history's body, written straight from (step, timestamp, value, is_nan) rows.

    Byte for byte what `dumps({"metrics": [metric_out(...)], ...})` writes, without a dict per
    point: a full page is 25,000 of them.
    """
    head = '{"key":' + json.dumps(key) + ',"value":'
    # float.__repr__ is exactly what json.dumps writes for a finite float; v - v is 0 only for
    # finite v, so the rare NaN and infinities take the slow path.
    metrics = ",".join(
        [
            f"{head}{repr(value) if not is_nan and value - value == 0 else _number(value, is_nan)}"
            f',"timestamp":{timestamp},"step":{step}}}'
            for step, timestamp, value, is_nan in rows
        ]
    )
    tail = "" if not next_token else ',"next_page_token":' + json.dumps(next_token)
    return Encoded('{"metrics":[' + metrics + "]" + tail + "}")


def _key_values(items: Iterable) -> list[dict]:
    return [{"key": item.key, "value": item.value} for item in items]


def experiment_out(experiment: Experiment) -> dict:
    """Needs `tags` prefetched."""
    out = {
        "experiment_id": str(experiment.pk),
        "name": experiment.name,
        "artifact_location": experiment.artifact_location
        or experiment_artifact_location(experiment),
        "lifecycle_stage": LIFECYCLE_STAGE[experiment.lifecycle],
        "last_update_time": int(experiment.updated_at.timestamp() * 1000),
        "creation_time": int(experiment.created_at.timestamp() * 1000),
    }
    tags = _key_values(experiment.tags.all())
    if experiment.description and not any(t["key"] == "mlflow.note.content" for t in tags):
        tags.append({"key": "mlflow.note.content", "value": experiment.description})
    if tags:
        out["tags"] = tags
    return out


def run_info_out(run: Run) -> dict:
    info = {
        "run_id": run.run_id,
        "run_uuid": run.run_id,
        "run_name": run.name,
        "experiment_id": str(run.experiment_id),
        "status": run.status,
        "start_time": run.start_time,
        "artifact_uri": run.artifact_uri,
        "lifecycle_stage": LIFECYCLE_STAGE[run.lifecycle],
    }
    if run.user is not None:
        info["user_id"] = run.user.get_username()
    if run.end_time is not None:
        info["end_time"] = run.end_time
    return info


def metric_out(point: Metric | LatestMetric) -> dict:
    return {
        "key": point.key,
        "value": float_out(point.display_value),
        "timestamp": point.timestamp,
        "step": point.step,
    }


def run_out(run: Run) -> dict:
    """Needs `user`, `latest_metrics`, `params` and `tags` loaded (prefetched for lists)."""
    return _run_out(
        run,
        metrics=[metric_out(m) for m in run.latest_metrics.all()],
        params=_key_values(run.params.all()),
        tags=_key_values(run.tags.all()),
        outputs=True,
    )


def new_run_out(run: Run, tags: dict[str, str]) -> dict:
    """A run just created, with the tags it was created with: no metrics or params yet."""
    return _run_out(
        run, metrics=[], params=[], tags=[{"key": k, "value": v} for k, v in tags.items()]
    )


def _run_out(run: Run, *, metrics: list, params: list, tags: list, outputs: bool = False) -> dict:
    data: dict = {}
    if metrics:
        data["metrics"] = metrics
    if params:
        data["params"] = params
    if tags:
        data["tags"] = tags
    out = {"info": run_info_out(run), "data": data, "inputs": {}}
    if outputs:
        # runs/get and runs/search write both, as MLflow's server; runs/create only inputs.
        out["outputs"] = {}
    return out


def _metric_rows_out(rows: Iterable[tuple[str, float, bool, int, int]]) -> str:
    # float.__repr__ is what json.dumps writes for a finite float; v - v is 0 only for finite v.
    return ",".join(
        [
            f'{{"key":{_string(key)},"value":'
            f"{repr(value) if not is_nan and value - value == 0 else _number(value, is_nan)}"
            f',"timestamp":{timestamp},"step":{step}}}'
            for key, value, is_nan, timestamp, step in rows
        ]
    )


def _key_value_rows_out(rows: Iterable[tuple[str, str]]) -> str:
    return ",".join([f'{{"key":{_string(key)},"value":{_string(value)}}}' for key, value in rows])


def _run_row_out(run: RunRow, details: RunDetails, io: dict[int, str]) -> str:
    info = (
        f'{{"run_id":{_string(run.run_id)},"run_uuid":{_string(run.run_id)}'
        f',"run_name":{_string(run.name)},"experiment_id":"{run.experiment_id}"'
        f',"status":{_string(run.status)},"start_time":{run.start_time}'
        f',"artifact_uri":{_string(run.artifact_uri)}'
        f',"lifecycle_stage":"{LIFECYCLE_STAGE[run.lifecycle]}"'
    )
    if run.username is not None:
        info += f',"user_id":{_string(run.username)}'
    if run.end_time is not None:
        info += f',"end_time":{run.end_time}'
    data = []
    if metrics := details.metrics.get(run.pk):
        data.append(f'"metrics":[{_metric_rows_out(metrics)}]')
    if params := details.params.get(run.pk):
        data.append(f'"params":[{_key_value_rows_out(params)}]')
    if tags := details.tags.get(run.pk):
        data.append(f'"tags":[{_key_value_rows_out(tags)}]')
    run_io = io.get(run.pk, '"inputs":{},"outputs":{}')
    return f'{{"info":{info}}},"data":{{{",".join(data)}}},{run_io}}}'


def run_rows_out(
    runs: list[RunRow],
    details: RunDetails,
    next_token: str | None,
    io: dict[int, str] | None = None,
) -> Encoded:
    """runs/search's body, written straight from `tracking.selectors.runs.RunRow`s and their
    `RunDetails`.

    Byte for byte what `dumps({"runs": [run_out(...)], ...})` writes, without the dicts: a page
    of 100 runs has some 3,500 of them, and building then encoding them cost more than the three
    queries that read them. `io` holds each run's `"inputs":...,"outputs":...` members by pk.
    """
    parts = []
    if runs:
        rows = [_run_row_out(run, details, io or {}) for run in runs]
        parts.append('"runs":[' + ",".join(rows) + "]")
    if next_token:
        parts.append('"next_page_token":' + _string(next_token))
    return Encoded("{" + ",".join(parts) + "}")


# --- request parsing shared by endpoints -----------------------------------------------------


def tags_in(fields: Fields, name: str = "tags") -> list[TagIn]:
    tags = []
    for i, item in enumerate(fields.list(name)):
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid value for '{name}[{i}]': expected an object.", name)
        tag = Fields(item)
        tags.append(
            TagIn(
                key=tag.str("key", required=True),
                value=tag.str("value", default=""),
            )
        )
    return tags


def metric_in(item: dict, path: str) -> MetricIn:
    metric = Fields(item)
    key = metric.str("key", required=True)
    if not metric.has("value"):
        raise InvalidInput(f"Missing value for required parameter '{path}.value'.", path)
    if not metric.has("timestamp"):
        raise InvalidInput(f"Missing value for required parameter '{path}.timestamp'.", path)
    return MetricIn(
        key=key,
        value=parse_float(metric.raw("value"), field=f"{path}.value"),
        timestamp=parse_int(metric.raw("timestamp"), field=f"{path}.timestamp"),
        step=parse_int(metric.raw("step") or 0, field=f"{path}.step"),
    )


def objects_in(fields: Fields, name: str) -> list[dict]:
    items = fields.list(name)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid value for '{name}[{i}]': expected an object.", name)
    return items


def metric_columns_in(items: list[dict]) -> MetricColumns:
    """The batch's points as columns. A batch as the official client sends it (str keys, float
    values, int timestamps and steps) is checked a column at a time; any other goes point by
    point through `_metric`, which knows every form MLflow's JSON allows and every error."""
    keys = [item.get("key") for item in items]
    values = [item.get("value") for item in items]
    timestamps = [item.get("timestamp") for item in items]
    steps = [item.get("step", 0) for item in items]
    # type() rather than isinstance(): a bool is an int to isinstance, and is no step.
    if not items or (
        set(map(type, keys)) == {str}
        and set(map(type, values)) == {float}
        and set(map(type, timestamps)) == {int}
        and set(map(type, steps)) == {int}
        and min(timestamps) >= INT64_MIN
        and max(timestamps) <= INT64_MAX
        and min(steps) >= INT64_MIN
        and max(steps) <= INT64_MAX
    ):
        return MetricColumns(keys=keys, values=values, timestamps=timestamps, steps=steps)
    metrics = [metric_in(item, f"metrics[{i}]") for i, item in enumerate(items)]
    return MetricColumns(
        keys=[m.key for m in metrics],
        values=[m.value for m in metrics],
        timestamps=[m.timestamp for m in metrics],
        steps=[m.step for m in metrics],
    )
