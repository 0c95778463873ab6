"""MLflow's registry filter grammar (SearchModelUtils, SearchModelVersionUtils) as queries."""

from __future__ import annotations

from django.db.models import QuerySet

from registry.models import ModelVersion, ModelVersionTag, RegisteredModel, RegisteredModelTag
from tracking.search.grammar import ATTRIBUTE, TAG, Grammar, OrderBy, SearchError
from tracking.search.lookups import integer_condition, key_condition, string_condition
from tracking.search.parser import _parse, _parse_order_by

_ENTITIES = {"tag": TAG, "tags": TAG, "attribute": ATTRIBUTE, "attributes": ATTRIBUTE}

MODEL_GRAMMAR = Grammar(
    entities=_ENTITIES,
    numeric_attributes=frozenset({"creation_timestamp", "last_updated_timestamp"}),
    string_attributes=frozenset({"name"}),
    aliases={"timestamp": "last_updated_timestamp"},
    like_attributes=frozenset({"name"}),
    null_kinds=frozenset(),
)
VERSION_GRAMMAR = Grammar(
    entities=_ENTITIES,
    numeric_attributes=frozenset(
        {"version_number", "creation_timestamp", "last_updated_timestamp"}
    ),
    string_attributes=frozenset({"name", "run_id", "source_path"}),
    aliases={"timestamp": "last_updated_timestamp"},
    like_attributes=frozenset({"name", "run_id", "source_path"}),
    null_kinds=frozenset(),
)
_MODEL_FILTERABLE = {"name"}
_VERSION_FILTERABLE = {"name", "run_id", "source_path", "version_number"}
_TIME_FIELDS = {"creation_timestamp": "created_time", "last_updated_timestamp": "updated_time"}


IS_PROMPT_TAG = "mlflow.prompt.is_prompt"


def _prompt_clauses(comparisons: list) -> tuple[list, bool]:
    """MLflow keeps prompts (models tagged `mlflow.prompt.is_prompt`) out of searches unless
    the filter asks for them; its client always sends a clause on that tag, which models
    without the tag must still pass. Returns the other clauses and whether prompts are wanted."""
    wanted = False
    rest = []
    for c in comparisons:
        if c.kind == TAG and c.key == IS_PROMPT_TAG:
            value = str(c.value).lower()
            wanted = wanted or (c.comparator == "=" and value == "true")
            wanted = wanted or (c.comparator == "!=" and value == "false")
        else:
            rest.append(c)
    return rest, wanted


def _prompts(wanted: bool, qs: QuerySet, field: str):
    prompt_ids = RegisteredModelTag.objects.filter(key=IS_PROMPT_TAG, value__iexact="true")
    ids = prompt_ids.values("registered_model_id")
    return qs.filter(**{f"{field}__in": ids}) if wanted else qs.exclude(**{f"{field}__in": ids})


def filter_registered_models(qs: QuerySet[RegisteredModel], text: str | None):
    comparisons, wanted = _prompt_clauses(_parse(text or "", MODEL_GRAMMAR))
    qs = _prompts(wanted, qs, "pk")
    for c in comparisons:
        if c.kind == TAG:
            qs = qs.filter(key_condition(RegisteredModelTag, "registered_model", c))
        elif c.key in _MODEL_FILTERABLE:
            qs = qs.filter(string_condition("name", c.comparator, c.value))
        else:
            raise SearchError(f"Invalid attribute key '{c.key}' specified. Valid keys are 'name'.")
    return qs


_VERSION_FIELDS = {"name": "registered_model__name", "run_id": "run__run_id"}


def filter_model_versions(qs: QuerySet[ModelVersion], text: str | None):
    comparisons, wanted = _prompt_clauses(_parse(text or "", VERSION_GRAMMAR))
    qs = _prompts(wanted, qs, "registered_model_id")
    for c in comparisons:
        if c.kind == TAG:
            qs = qs.filter(key_condition(ModelVersionTag, "model_version", c))
        elif c.key == "version_number":
            qs = qs.filter(integer_condition("version", c.comparator, c.value))
        elif c.key == "source_path":
            qs = qs.filter(string_condition("source", c.comparator, c.value))
        elif c.key in _VERSION_FILTERABLE:
            qs = qs.filter(string_condition(_VERSION_FIELDS[c.key], c.comparator, c.value))
        else:
            raise SearchError(
                f"Invalid attribute key '{c.key}' specified. Valid keys are "
                "'name', 'run_id', 'source_path', 'version_number' and tags."
            )
    return qs


def _order_fields(clauses: list[OrderBy], names: dict[str, str]) -> list[str]:
    fields = []
    for clause in clauses:
        if clause.kind != ATTRIBUTE or clause.key not in names:
            raise SearchError(
                f"Invalid order_by key '{clause.key}': use one of {', '.join(sorted(names))}."
            )
        fields.append(("" if clause.ascending else "-") + names[clause.key])
    return fields


def order_registered_models(qs, order_by: list[str] | None):
    names = {"name": "name", **_TIME_FIELDS}
    fields = _order_fields(_parse_order_by(order_by or [], MODEL_GRAMMAR), names)
    if not any(f.lstrip("-") == "name" for f in fields):
        fields.append("name")
    return qs.order_by(*fields, "pk")


def order_model_versions(qs, order_by: list[str] | None):
    names = {"name": "registered_model__name", "version_number": "version", **_TIME_FIELDS}
    fields = _order_fields(_parse_order_by(order_by or [], VERSION_GRAMMAR), names)
    if not fields:
        # MLflow's default: newest first, then by name and version.
        fields = ["-updated_time", "registered_model__name", "-version"]
    return qs.order_by(*fields, "pk")


__all__ = [
    "filter_model_versions",
    "filter_registered_models",
    "order_model_versions",
    "order_registered_models",
]
