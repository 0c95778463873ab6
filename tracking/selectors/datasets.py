"""Reading datasets: the inputs of runs and an experiment's dataset summaries."""

from __future__ import annotations

from django.db.models import QuerySet

from tracking.models import Dataset, Experiment, RunInput

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
