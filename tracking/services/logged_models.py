"""Logged models (MLflow 3): create, finalize, delete, their params, tags, metrics and the runs
that produced them."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from accounts.access import Actor
from tracking.batch import TagIn
from tracking.errors import InvalidInput, NotFound
from tracking.models import (
    Experiment,
    Lifecycle,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParam,
    LoggedModelStatus,
    LoggedModelTag,
    Run,
    RunModelLink,
    now_ms,
)
from tracking.services.ingest import run_log_batch
from tracking.validation import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VALUE_LENGTH,
    validate_int64,
    validate_key,
    validate_text,
)

MAX_MODEL_NAME_LENGTH = 250
# What MLflow refuses in a model name: the name becomes part of `runs:/<run>/<name>` URIs.
_BAD_NAME_CHARACTERS = ("/", ":", ".", "%", '"', "'")
MAX_DATASET_NAME_LENGTH = 500
MAX_DATASET_DIGEST_LENGTH = 36
_ADJECTIVES = ("amber", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "gentle")
_NOUNS = ("badger", "crane", "dolphin", "falcon", "finch", "heron", "otter", "robin", "wren")


def _generated_name() -> str:
    # As MLflow's server names a model created without one.
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"


@dataclass(frozen=True)
class ModelMetricIn:
    """A metric point for a model: the run's point plus `model_id` and an optional dataset."""

    model_id: str
    key: str
    value: float
    timestamp: int
    step: int
    dataset_name: str = ""
    dataset_digest: str = ""


def _validate_name(name: object) -> str:
    if not isinstance(name, str) or not name or any(c in name for c in _BAD_NAME_CHARACTERS):
        raise InvalidInput(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string and "
            f"cannot contain the following characters: {_BAD_NAME_CHARACTERS}",
            field="name",
        )
    validate_text(name, limit=MAX_MODEL_NAME_LENGTH, what="The model name", field="name")
    return name


def _validate_pairs(pairs: dict[str, str], *, what: str, limit: int, field: str) -> None:
    if len(pairs) > MAX_PARAMS_TAGS_PER_BATCH:
        raise InvalidInput(
            f"A request may hold at most {MAX_PARAMS_TAGS_PER_BATCH} {field}; this one has "
            f"{len(pairs)}.",
            field=field,
        )
    for i, (key, value) in enumerate(pairs.items()):
        validate_key(key, what=f"{what} key", field=f"{field}[{i}].key")
        validate_text(value, limit=limit, what=f"{what} value", field=f"{field}[{i}].value")


def _check_params_unchanged(model: LoggedModel, params: dict[str, str]) -> None:
    for key, value in model.params.filter(key__in=list(params)).values_list("key", "value"):
        if params[key] != value:
            raise InvalidInput(
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{value}' for model ID='{model.model_id}'. Attempted logging "
                f"new value '{params[key]}'.",
                field="params",
            )


def _add_params(model: LoggedModel, params: dict[str, str]) -> None:
    _check_params_unchanged(model, params)
    LoggedModelParam.objects.bulk_create(
        [LoggedModelParam(model=model, key=k, value=v) for k, v in params.items()],
        ignore_conflicts=True,
    )


def _set_tags(model: LoggedModel, tags: dict[str, str]) -> None:
    LoggedModelTag.objects.bulk_create(
        [LoggedModelTag(model=model, key=k, value=v) for k, v in tags.items()],
        update_conflicts=True,
        unique_fields=["model", "key"],
        update_fields=["value"],
    )


def _touch(model: LoggedModel) -> None:
    model.updated_time = now_ms()
    model.save(update_fields=["updated_time"])


def logged_model_create(
    *,
    actor: Actor,
    experiment: Experiment,
    name: str | None = None,
    source_run: Run | None = None,
    model_type: str = "",
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> LoggedModel:
    """A new PENDING model in the experiment; its files go under the experiment's artifacts."""
    name = _validate_name(name) if name is not None else _generated_name()
    validate_text(model_type, limit=500, what="The model type", field="model_type")
    params, tags = dict(params or {}), dict(tags or {})
    _validate_pairs(params, what="Param", limit=MAX_PARAM_VALUE_LENGTH, field="params")
    _validate_pairs(tags, what="Tag", limit=MAX_TAG_VALUE_LENGTH, field="tags")
    if experiment.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput(
            f"The experiment {experiment.pk} is deleted; restore it before logging models to it.",
            field="experiment_id",
        )
    if source_run is not None and source_run.experiment.project_id != experiment.project_id:
        raise NotFound(f"Run with id={source_run.run_id} not found.")
    with transaction.atomic():
        model = LoggedModel(
            experiment=experiment,
            name=name,
            source_run=source_run,
            model_type=model_type,
            user=actor.user,
        )
        model.artifact_location = f"mlflow-artifacts:/{model.artifact_root}"
        model.save()
        if params:
            _add_params(model, params)
        if tags:
            _set_tags(model, tags)
    return model


@transaction.atomic
def logged_model_finalize(*, model: LoggedModel, status: str, message: str = "") -> LoggedModel:
    """Mark the model READY (its files are uploaded) or FAILED."""
    if status not in LoggedModelStatus.values:
        raise InvalidInput(f"Invalid model status '{status}'.", field="status")
    model.status = status
    model.status_message = message
    model.updated_time = now_ms()
    model.save(update_fields=["status", "status_message", "updated_time"])
    return model


@transaction.atomic
def logged_model_delete(*, model: LoggedModel) -> None:
    """Soft-delete: the model disappears from gets and searches; its files stay."""
    model.lifecycle = Lifecycle.DELETED
    model.updated_time = now_ms()
    model.save(update_fields=["lifecycle", "updated_time"])


@transaction.atomic
def logged_model_set_tags(*, model: LoggedModel, tags: dict[str, str]) -> None:
    """Set tags; the last write of a key wins."""
    _validate_pairs(tags, what="Tag", limit=MAX_TAG_VALUE_LENGTH, field="tags")
    if tags:
        _set_tags(model, tags)
        _touch(model)


@transaction.atomic
def logged_model_delete_tag(*, model: LoggedModel, key: str) -> None:
    """Delete one tag; a missing key is an error, as in MLflow."""
    deleted, _ = LoggedModelTag.objects.filter(model=model, key=key).delete()
    if not deleted:
        raise NotFound(f"No tag with key {key!r} found for model with ID {model.model_id!r}.")
    _touch(model)


@transaction.atomic
def logged_model_log_params(*, model: LoggedModel, params: dict[str, str]) -> None:
    """Add params; like a run's they cannot change once logged."""
    _validate_pairs(params, what="Param", limit=MAX_PARAM_VALUE_LENGTH, field="params")
    if params:
        _add_params(model, params)
        _touch(model)


def validate_model_metric(metric: ModelMetricIn, *, field: str) -> None:
    validate_key(metric.key, what="Metric name", field=f"{field}.key")
    validate_int64(metric.timestamp, field=f"{field}.timestamp")
    validate_int64(metric.step, field=f"{field}.step")
    validate_text(
        metric.dataset_name,
        limit=MAX_DATASET_NAME_LENGTH,
        what="The dataset name",
        field=f"{field}.dataset_name",
    )
    validate_text(
        metric.dataset_digest,
        limit=MAX_DATASET_DIGEST_LENGTH,
        what="The dataset digest",
        field=f"{field}.dataset_digest",
    )


def logged_model_metrics_record(*, run: Run, metrics: Sequence[ModelMetricIn]) -> None:
    """Record the points of a run's batch that name a model (the run's own copies are written
    by the batch itself). Models must be in the run's project; call inside the batch's
    transaction so both are written or neither."""
    if not metrics:
        return
    for i, metric in enumerate(metrics):
        validate_model_metric(metric, field=f"metrics[{i}]")
    ids = {m.model_id for m in metrics}
    models = {
        m.model_id: m
        for m in LoggedModel.objects.filter(
            model_id__in=ids, experiment__project_id=run.experiment.project_id
        )
    }
    if missing := ids - set(models):
        raise NotFound(f"Logged model with ID '{sorted(missing)[0]}' not found.")
    LoggedModelMetric.objects.bulk_create(
        [
            LoggedModelMetric(
                model=models[m.model_id],
                run=run,
                key=m.key,
                value=0.0 if math.isnan(m.value) else m.value,
                is_nan=math.isnan(m.value),
                timestamp=m.timestamp,
                step=m.step,
                dataset_name=m.dataset_name,
                dataset_digest=m.dataset_digest,
            )
            for m in metrics
        ],
        ignore_conflicts=True,
    )


def _active_run(run: Run) -> None:
    if run.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput(
            f"The run {run.run_id} is deleted; restore it before logging to it.", field="run_id"
        )


@transaction.atomic
def run_log_model_links(
    *, run: Run, models: Sequence[tuple[LoggedModel, int]], direction: str
) -> None:
    """Record models a run produced (outputs, with the step) or used (inputs)."""
    _active_run(run)
    for model, _ in models:
        if model.experiment.project_id != run.experiment.project_id:
            raise NotFound(f"Logged model with ID '{model.model_id}' not found.")
    RunModelLink.objects.bulk_create(
        [
            RunModelLink(run=run, model=model, direction=direction, step=step)
            for model, step in models
        ],
        update_conflicts=True,
        unique_fields=["run", "model", "direction"],
        update_fields=["step"],
    )


LOGGED_MODELS_TAG = "mlflow.log-model.history"
_MODEL_FIELDS = ("run_id", "utc_time_created", "artifact_path", "model_uuid")


@transaction.atomic
def run_record_logged_model(*, run: Run, model: dict) -> None:
    """Append a model's summary to the run's `mlflow.log-model.history` tag, as MLflow's
    `runs/log-model` does (older clients and UIs read a run's models from it)."""
    missing = {"artifact_path", "flavors", "utc_time_created", "run_id"} - set(model)
    if missing:
        raise InvalidInput(
            f"Model json is missing mandatory fields: {sorted(missing)}", field="model_json"
        )
    flavors = model["flavors"] if isinstance(model["flavors"], dict) else {}
    summary = {key: model[key] for key in _MODEL_FIELDS if key in model}
    summary["flavors"] = {
        name: {k: v for k, v in config.items() if k != "config"}
        if isinstance(config, dict)
        else config
        for name, config in flavors.items()
    }
    _active_run(run)
    # Locked: two models logged at once must both end up in the history.
    locked = Run.objects.select_for_update().get(pk=run.pk)
    previous = locked.tags.filter(key=LOGGED_MODELS_TAG).values_list("value", flat=True).first()
    try:
        history = json.loads(previous) if previous else []
    except ValueError:
        history = []
    if not isinstance(history, list):
        history = []
    value = json.dumps([*history, summary])
    run_log_batch(run=locked, tags=[TagIn(key=LOGGED_MODELS_TAG, value=value)])
