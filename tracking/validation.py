"""Every limit and input rule of tracking, in one place: the MLflow views, the native API, the
pages' forms and the admin all call these, so a limit changed here changes every surface.

The limits are MLflow's (`mlflow/utils/validation.py`), so whatever the official client
accepts is accepted here, and what MLflow's server refuses is refused here too.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tracking.errors import InvalidInput

if TYPE_CHECKING:
    from tracking.batch import MetricColumns, ParamIn, TagIn

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_BATCH_BYTES = 1_000_000
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_RUN_NAME_LENGTH = 250
MAX_EXPERIMENT_NAME_LENGTH = 500
# A description is stored as MLflow's `mlflow.note.content` tag, so it has a tag's limit.
MAX_DESCRIPTION_LENGTH = MAX_TAG_VALUE_LENGTH
MAX_RESULTS = 50_000
DEFAULT_MAX_RESULTS = 1000
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

RUN_NAME_TAG = "mlflow.runName"
PARENT_RUN_TAG = "mlflow.parentRunId"
USER_TAG = "mlflow.user"
NOTE_TAG = "mlflow.note.content"

# fullmatch, so a key ending in a newline is refused ("$" would let "loss\n" through).
_KEY_CHARACTERS = re.compile(r"[/\w.\- :]*")
_INTEGER = re.compile(r"[-+]?[0-9]{1,20}")
# C0 and C1 control characters: names show up in pages, snippets and file names.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# What MLflow's server appends to the errors of its request schema checks.
API_DOCS_HINT = " See the API docs for more information about request parameters."
# Query parameters of one GET: a bulk-interval request may name 100 runs; more than this is no
# request a client makes, and the view says which limit it broke.
MAX_QUERY_FIELDS = 10_000


def missing_value_message(field: str) -> str:
    """MLflow's server's words for a required request field that is missing."""
    return f"Missing value for required parameter '{field}'.{API_DOCS_HINT}"


def invalid_type_message(field: str, value: object) -> str:
    """MLflow's server's words for a request field of the wrong JSON type."""
    shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return (
        f"Invalid value {shown} for parameter '{field}' supplied:  Hint: Value was of type "
        f"'{type(value).__name__}'.{API_DOCS_HINT}"
    )


def _is_encodable(value: str) -> bool:
    """False for a string holding a lone surrogate, which no database column can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_key(key: object, *, what: str, field: str) -> str:
    """A metric, param or tag key as MLflow allows it, or InvalidInput saying why not."""
    if not isinstance(key, str):
        raise InvalidInput(f"{what} must be a string.", field=field)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{what} '{key[:50]}...' is longer than {MAX_KEY_LENGTH} characters.", field=field
        )
    if not _KEY_CHARACTERS.fullmatch(key):
        raise InvalidInput(
            f"Invalid {what.lower()} {key!r}: names may only contain alphanumerics, underscores "
            "(_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/).",
            field=field,
        )
    # Keys may become file names (MLflow's own store writes them as files), so a key must not
    # resolve to another path.
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise InvalidInput(
            f"Invalid {what.lower()} '{key}': it would resolve to the path '{norm}'; "
            "names must not resolve to other names when treated as paths.",
            field=field,
        )
    return key


def validate_text(value: object, *, limit: int | None, what: str, field: str) -> str:
    """Free text (a param or tag value, a description): a string without NUL or lone
    surrogates, at most `limit` characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string.", field=field)
    if limit is not None and len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters.", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain NUL characters.", field=field)
    if not _is_encodable(value):
        raise InvalidInput(f"{what} must be valid Unicode (it holds a lone surrogate).", field)
    return value


def validate_name(value: object, *, limit: int, what: str, field: str) -> str:
    """A name people read in lists, pages and code snippets: text without control characters
    (newlines, tabs, escapes) and not blank."""
    validate_text(value, limit=limit, what=what, field=field)
    if _CONTROL.search(value):
        raise InvalidInput(f"{what} must not contain control characters.", field=field)
    if not value.strip():
        raise InvalidInput(f"{what} must not be blank.", field=field)
    return value


def validate_run_name(value: object, *, field: str = "run_name") -> str:
    return validate_name(value, limit=MAX_RUN_NAME_LENGTH, what="The run name", field=field)


def validate_experiment_name(value: object, *, field: str = "name") -> str:
    return validate_name(
        value, limit=MAX_EXPERIMENT_NAME_LENGTH, what="The experiment name", field=field
    )


def validate_description(value: object, *, field: str = "description") -> str:
    return validate_text(value, limit=MAX_DESCRIPTION_LENGTH, what="The description", field=field)


def validate_int64(value: object, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"'{field}' must be an integer.", field=field)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(f"'{field}' is outside the 64-bit integer range.", field=field)
    return value


def parse_int(value: object, *, field: str) -> int:
    """An int64 as protobuf's JSON mapping carries it: a number or a string of ASCII digits."""
    if isinstance(value, bool):
        raise InvalidInput(f"Invalid value for parameter '{field}': expected an integer.", field)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        # int() would also take other scripts' digits, and cost quadratic time on a huge one.
        if not _INTEGER.fullmatch(text):
            raise InvalidInput(
                f"Invalid value '{value[:50]}' for parameter '{field}': expected an integer.",
                field,
            )
        value = int(text)
    if not isinstance(value, int):
        raise InvalidInput(f"Invalid value for parameter '{field}': expected an integer.", field)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(
            f"Invalid value for parameter '{field}': outside the 64-bit integer range.", field
        )
    return value


# Primary keys are 64-bit integers: longer digit strings cannot name a row, and converting or
# binding them costs time or overflows the column.
_MAX_PK = INT64_MAX
_MAX_PK_DIGITS = len(str(_MAX_PK))
# Below the bound values of SQLite's default build (32,766) in one `IN` list.
MAX_EXPERIMENT_IDS = 10_000


def parse_pk(value: object) -> int | None:
    """A primary key from an int or a string of ASCII digits, or None when it cannot be one.

    str.isdigit() alone accepts "²" (which int() refuses) and int() accepts other scripts' digits.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= _MAX_PK_DIGITS):
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value <= _MAX_PK:
        return value
    return None


def experiment_pks(ids: Iterable[object], *, field: str = "experiment_ids") -> list[int]:
    """Experiment ids from a request as primary keys; InvalidInput names the first that is not
    one. Whether the actor may see them is the caller's query."""
    pks = []
    for value in ids:
        if len(pks) == MAX_EXPERIMENT_IDS:
            raise InvalidInput(f"At most {MAX_EXPERIMENT_IDS} experiment ids are allowed.", field)
        pk = parse_pk(value)
        if pk is None:
            raise InvalidInput(f"Invalid experiment id {_shown(value)}: expected digits.", field)
        pks.append(pk)
    return pks


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
    if isinstance(value, int) and not isinstance(value, bool):
        return "out of range"
    return f"of type {type(value).__name__}"


def parse_float(value: object, *, field: str) -> float:
    """A metric value: a number, or "NaN", "Infinity" and "-Infinity", which JSON cannot carry."""
    if isinstance(value, bool):
        raise InvalidInput(f"Invalid value for parameter '{field}': expected a number.", field)
    if isinstance(value, str):
        if value in NON_FINITE:
            return NON_FINITE[value]
        try:
            return float(value)
        except ValueError:
            raise InvalidInput(
                f"Invalid value '{value[:50]}' for parameter '{field}': expected a number.", field
            ) from None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            raise InvalidInput(f"Invalid value for '{field}': too large.", field) from None
    raise InvalidInput(f"Invalid value for parameter '{field}': expected a number.", field)


def float_or_name(value: float) -> float | str:
    """A float as JSON can carry it: NaN and the infinities by their names, as MLflow writes
    them and as parse_float reads them back."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def validate_max_results(value: int, *, limit: int = MAX_RESULTS, field: str = "max_results"):
    if not 1 <= value <= limit:
        raise InvalidInput(
            f"Invalid value {value} for parameter '{field}': it must be between 1 and {limit}.",
            field=field,
        )
    return value


def _validate_metric_keys(keys: list) -> None:
    # Once per distinct key: a batch is typically 100 keys x 10 steps.
    distinct = dict.fromkeys(keys) if set(map(type, keys)) <= {str} else keys
    for key in distinct:
        try:
            validate_key(key, what="Metric name", field="metrics")
        except InvalidInput as error:
            # The first point with the key, as a point-by-point check would name it.
            error.field = f"metrics[{keys.index(key)}].key"
            raise


def validate_tags(tags: Sequence[TagIn]) -> None:
    for i, tag in enumerate(tags):
        validate_key(tag.key, what="Tag key", field=f"tags[{i}].key")
        validate_text(tag.value, limit=MAX_TAG_VALUE_LENGTH, what="Tag value", field=f"tags[{i}]")
        if tag.key == RUN_NAME_TAG:
            validate_run_name(tag.value, field=f"tags[{i}]")


def validate_batch(
    *, metrics: MetricColumns, params: Sequence[ParamIn], tags: Sequence[TagIn]
) -> None:
    """A whole batch against MLflow's limits, before anything of it is written."""
    if len(metrics) > MAX_METRICS_PER_BATCH:
        raise InvalidInput(
            f"A batch may hold at most {MAX_METRICS_PER_BATCH} metrics; this one has "
            f"{len(metrics)}.",
            field="metrics",
        )
    for name, items in (("params", params), ("tags", tags)):
        if len(items) > MAX_PARAMS_TAGS_PER_BATCH:
            raise InvalidInput(
                f"A batch may hold at most {MAX_PARAMS_TAGS_PER_BATCH} {name}; this one has "
                f"{len(items)}.",
                field=name,
            )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidInput(
            f"A batch may hold at most {MAX_ENTITIES_PER_BATCH} metrics, params and tags in "
            f"total; this one has {total}.",
            field="metrics",
        )
    _validate_metric_keys(metrics.keys)
    seen: set[str] = set()
    for i, param in enumerate(params):
        validate_key(param.key, what="Param key", field=f"params[{i}].key")
        validate_text(
            param.value, limit=MAX_PARAM_VALUE_LENGTH, what="Param value", field=f"params[{i}]"
        )
        if param.key in seen:
            raise InvalidInput(
                f"Duplicate parameter key '{param.key}' in one batch: each param may be logged "
                "once.",
                field=f"params[{i}].key",
            )
        seen.add(param.key)
    validate_tags(tags)


# --- the model registry ------------------------------------------------------------------------

MAX_REGISTERED_MODEL_NAME_LENGTH = 250
MAX_ALIAS_LENGTH = 255
MAX_MODEL_SOURCE_LENGTH = 1000
# MLflow's own defaults and ceilings for registry searches (its client asks for 10,000 versions).
REGISTRY_DEFAULT_MAX_RESULTS = 100
REGISTRY_MAX_RESULTS = 1000
VERSION_SEARCH_DEFAULT_MAX_RESULTS = 10_000
VERSION_SEARCH_MAX_RESULTS = 200_000
_ALIAS_CHARACTERS = re.compile(r"[\w\-]+")
# MLflow reserves these: `models:/name@v3` and `@latest` would be ambiguous with a version.
_VERSION_ALIAS = re.compile(r"[vV]\d+")


def validate_registered_model_name(value: object, *, field: str = "name") -> str:
    """A registered model's name: it becomes part of `models:/<name>/<version>` URIs, so no
    '/' or ':' (as MLflow refuses) and no control characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(f"Missing value for required parameter '{field}'.", field=field)
    validate_name(value, limit=MAX_REGISTERED_MODEL_NAME_LENGTH, what="The model name", field=field)
    if "/" in value or ":" in value:
        raise InvalidInput(
            f"Invalid model name '{value}'. Names cannot contain '/' or ':'.", field=field
        )
    if "@" in value:
        raise InvalidInput(
            f"Invalid model name '{value}'. Names cannot contain '@' (it starts an alias).",
            field=field,
        )
    return value


def validate_alias_name(value: object, *, field: str = "alias") -> str:
    """An alias as MLflow allows one: word characters and dashes, not `latest` nor `v<N>`."""
    if not isinstance(value, str) or value == "":
        raise InvalidInput("Registered model alias name cannot be empty.", field=field)
    if len(value) > MAX_ALIAS_LENGTH:
        raise InvalidInput(f"The alias is longer than {MAX_ALIAS_LENGTH} characters.", field=field)
    if not _ALIAS_CHARACTERS.fullmatch(value) or not value.isascii():
        raise InvalidInput(
            f"Invalid alias name: {value!r}. Names may only contain alphanumerics, "
            "underscores (_), and dashes (-).",
            field=field,
        )
    if value.lower() == "latest":
        raise InvalidInput("'latest' alias name (case insensitive) is reserved.", field=field)
    if _VERSION_ALIAS.fullmatch(value):
        raise InvalidInput(f"Version alias name '{value}' is reserved.", field=field)
    return value


def parse_version(value: object, *, field: str = "version") -> int:
    """A model version number: MLflow sends it as a string of digits."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 9:
        raise InvalidInput(
            f"Parameter '{field}' must be an integer, got {_shown(value)}.", field=field
        )
    return int(text)
