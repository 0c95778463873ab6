"""Datasets a run used (MLflow's `log_inputs`), stored once per (name, digest) per experiment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction

from tracking.errors import InvalidInput
from tracking.models import Dataset, Lifecycle, Run, RunInput
from tracking.validation import MAX_TAG_VALUE_LENGTH, validate_key, validate_text

CONTEXT_TAG = "mlflow.data.context"
MAX_INPUTS_PER_REQUEST = 1000
# MLflow's limits (mlflow/utils/validation.py): the schema and profile are JSON text.
_LIMITS = {
    "name": 500,
    "digest": 36,
    "source_type": 36,
    "source": 65535,
    "schema": 1_048_575,
    "profile": 16_777_215,
}


@dataclass(frozen=True)
class DatasetIn:
    """One dataset input of a log-inputs request, with the input's tags."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str = ""
    profile: str = ""
    tags: dict[str, str] = field(default_factory=dict)


def _validate(item: DatasetIn, i: int) -> None:
    path = f"datasets[{i}].dataset"
    for name, limit in _LIMITS.items():
        value = getattr(item, name)
        validate_text(value, limit=limit, what=f"The dataset {name}", field=f"{path}.{name}")
        if name in ("name", "digest") and not value:
            raise InvalidInput(
                f"Missing value for required parameter '{path}.{name}'.", field=f"{path}.{name}"
            )
    for key, value in item.tags.items():
        validate_key(key, what="Input tag key", field=f"datasets[{i}].tags")
        validate_text(
            value, limit=MAX_TAG_VALUE_LENGTH, what="Input tag value", field=f"datasets[{i}].tags"
        )


@transaction.atomic
def run_log_inputs(*, run: Run, datasets: Sequence[DatasetIn]) -> None:
    """Link the datasets to the run; a dataset already in the experiment is reused, and a
    dataset already linked to the run keeps its first input tags, as in MLflow."""
    if run.lifecycle != Lifecycle.ACTIVE:
        raise InvalidInput(
            f"The run {run.run_id} is deleted; restore it before logging to it.", field="run_id"
        )
    if len(datasets) > MAX_INPUTS_PER_REQUEST:
        raise InvalidInput(
            f"A request may hold at most {MAX_INPUTS_PER_REQUEST} dataset inputs.",
            field="datasets",
        )
    for i, item in enumerate(datasets):
        _validate(item, i)
    # The first of a (name, digest) pair in the request wins.
    unique: dict[tuple[str, str], DatasetIn] = {}
    for item in datasets:
        unique.setdefault((item.name, item.digest), item)
    if not unique:
        return
    for (name, digest), item in unique.items():
        dataset, _ = Dataset.objects.get_or_create(
            experiment_id=run.experiment_id,
            name=name,
            digest=digest,
            defaults={
                "source_type": item.source_type,
                "source": item.source,
                "schema": item.schema,
                "profile": item.profile,
            },
        )
        RunInput.objects.get_or_create(
            run=run,
            dataset=dataset,
            defaults={"tags": item.tags, "context": item.tags.get(CONTEXT_TAG, "")},
        )


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset and its links to runs; the runs stay."""
    dataset.delete()
