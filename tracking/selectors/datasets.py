"""Reading datasets: the inputs of runs and an experiment's dataset summaries."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from tracking.model_search import string_condition
from tracking.models import Dataset, Experiment, RunInput
from tracking.search import SearchError

MAX_DATASET_SUMMARIES = 1000


def run_dataset_inputs(*, run_pks: list[int]) -> dict[int, list[RunInput]]:
    """Each run's dataset inputs (with their datasets), by run pk, in logging order."""
    inputs: dict[int, list[RunInput]] = {pk: [] for pk in run_pks}
    for row in RunInput.objects.filter(run_id__in=run_pks).select_related("dataset"):
        inputs[row.run_id].append(row)
    return inputs


def dataset_summaries(*, experiments: QuerySet[Experiment]) -> list[dict]:
    """(experiment id, name, digest, context) of every dataset input of the experiments, as
    MLflow's search-datasets: distinct, at most 1000."""
    rows = (
        RunInput.objects.filter(dataset__experiment__in=experiments)
        .values_list("dataset__experiment_id", "dataset__name", "dataset__digest", "context")
        .distinct()
        .order_by("dataset__experiment_id", "dataset__name", "dataset__digest", "context")
    )
    return [
        {"experiment_id": e, "name": n, "digest": d, "context": c}
        for e, n, d, c in rows[:MAX_DATASET_SUMMARIES]
    ]


def experiment_datasets(*, experiment: Experiment) -> QuerySet[Dataset]:
    """The experiment's datasets by name."""
    return Dataset.objects.filter(experiment=experiment).order_by("name", "digest")


_DATASET_FIELDS = {"name": "dataset__name", "digest": "dataset__digest", "context": "context"}


def run_dataset_condition(key: str, comparator: str, value) -> Exists:
    """The condition for MLflow's `dataset.<name|digest|context> <comparator> <value>` on a Run
    queryset: the run has an input whose dataset matches. For the runs filter grammar
    (tracking.search), which is where `dataset.*` keys get parsed."""
    if key not in _DATASET_FIELDS:
        raise SearchError(f"Invalid dataset key '{key}': use name, digest or context.")
    rows = RunInput.objects.filter(run=OuterRef("pk")).filter(
        string_condition(_DATASET_FIELDS[key], comparator.upper(), value)
    )
    return Exists(rows)
