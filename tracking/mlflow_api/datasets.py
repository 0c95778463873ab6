"""MLflow's dataset endpoints (`runs/log-inputs`, `experiments/search-datasets`), the inputs
and outputs of runs on the wire, and `metrics/get-history-bulk`."""

from __future__ import annotations

import json

from django.db import transaction

from accounts.access import Actor, projects_for
from accounts.models import Role
from tracking.errors import InvalidInput, NotFound
from tracking.mlflow_api.base import experiments_by_ids, run_of
from tracking.mlflow_api.logged_models import _model
from tracking.mlflow_api.wire import Fields, metric_out
from tracking.models import Run, RunModelLink
from tracking.selectors.datasets import dataset_summaries, run_dataset_inputs
from tracking.selectors.logged_models import run_model_links
from tracking.selectors.metric_bulk import MAX_HISTORY_RESULTS, metric_history_bulk
from tracking.services.datasets import DatasetIn, run_log_inputs
from tracking.services.logged_models import run_log_model_links

MAX_EXPERIMENTS_PER_DATASET_SEARCH = 20
MAX_RUNS_PER_HISTORY_BULK = 100


def _dataset_in(item, i: int) -> DatasetIn:
    if not isinstance(item, dict):
        raise InvalidInput(f"Invalid value for 'datasets[{i}]': expected an object.", "datasets")
    entry = Fields(item)
    dataset = entry.raw("dataset")
    if not isinstance(dataset, dict):
        raise InvalidInput(
            f"Missing value for required parameter 'datasets[{i}].dataset'.", "datasets"
        )
    data = Fields(dataset)
    tags: dict[str, str] = {}
    for j, tag in enumerate(entry.list("tags")):
        if not isinstance(tag, dict):
            raise InvalidInput(f"Invalid value for 'datasets[{i}].tags[{j}]'.", "datasets")
        pair = Fields(tag)
        tags[pair.str("key", required=True)] = pair.str("value", default="") or ""
    return DatasetIn(
        name=data.str("name", default="") or "",
        digest=data.str("digest", default="") or "",
        source_type=data.str("source_type", default="") or "",
        source=data.str("source", default="") or "",
        schema=data.str("schema", default="") or "",
        profile=data.str("profile", default="") or "",
        tags=tags,
    )


def log_inputs(request, fields: Fields, actor: Actor) -> dict:
    run = run_of(fields, actor, Role.EDITOR)
    datasets = [_dataset_in(item, i) for i, item in enumerate(fields.list("datasets"))]
    models = []
    for i, item in enumerate(fields.list("models")):
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid value for 'models[{i}]': expected an object.", "models")
        models.append((_model(actor, Fields(item).str("model_id", required=True)), 0))
    with transaction.atomic():
        run_log_inputs(run=run, datasets=datasets)
        if models:
            run_log_model_links(run=run, models=models, direction=RunModelLink.Direction.INPUT)
    return {}


def search_datasets(request, fields: Fields, actor: Actor) -> dict:
    ids = fields.str_list("experiment_ids")
    if not ids:
        raise InvalidInput(
            "SearchDatasets request must specify at least one experiment_id.",
            field="experiment_ids",
        )
    if len(ids) > MAX_EXPERIMENTS_PER_DATASET_SEARCH:
        raise InvalidInput(
            f"SearchDatasets request cannot specify more than "
            f"{MAX_EXPERIMENTS_PER_DATASET_SEARCH} experiment_ids. Received {len(ids)} "
            "experiment_ids.",
            field="experiment_ids",
        )
    experiments = experiments_by_ids(actor, ids)
    summaries = []
    for row in dataset_summaries(experiments=experiments):
        summary = {
            "experiment_id": str(row["experiment_id"]),
            "name": row["name"],
            "digest": row["digest"],
        }
        if row["context"]:
            summary["context"] = row["context"]
        summaries.append(summary)
    return {"dataset_summaries": summaries} if summaries else {}


def get_history_bulk(request, fields: Fields, actor: Actor) -> dict:
    run_ids = fields.str_list("run_id")
    if not run_ids:
        raise InvalidInput(
            "GetMetricHistoryBulk request must specify at least one run_id.", field="run_id"
        )
    if len(run_ids) > MAX_RUNS_PER_HISTORY_BULK:
        raise InvalidInput(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_PER_HISTORY_BULK} "
            f"run_ids. Received {len(run_ids)} run_ids.",
            field="run_id",
        )
    key = fields.str("metric_key")
    if key is None:
        raise InvalidInput(
            "GetMetricHistoryBulk request must specify a metric_key.", field="metric_key"
        )
    max_results = fields.int("max_results", default=MAX_HISTORY_RESULTS)
    if max_results < 1:
        raise InvalidInput("max_results must be positive.", field="max_results")
    runs = list(
        Run.objects.filter(run_id__in=run_ids, experiment__project__in=projects_for(actor=actor))
    )
    if missing := set(run_ids) - {run.run_id for run in runs}:
        raise NotFound(f"Run with id={sorted(missing)[0]} not found.")
    pairs = metric_history_bulk(runs=runs, key=key, max_results=max_results)
    return {"metrics": [{**metric_out(point), "run_id": run.run_id} for run, point in pairs]}


# --- a run's inputs and outputs on the wire -------------------------------------------------------


def run_io_out(run_pks: list[int]) -> dict[int, dict]:
    """`{"inputs": ..., "outputs": ...}` of each run, by pk, in MLflow's shape."""
    inputs = run_dataset_inputs(run_pks=run_pks)
    links = run_model_links(run_pks=run_pks)
    out = {}
    for pk in run_pks:
        run_inputs: dict = {}
        if dataset_inputs := [_dataset_input_out(row) for row in inputs[pk]]:
            run_inputs["dataset_inputs"] = dataset_inputs
        model_inputs = [
            {"model_id": link.model.model_id}
            for link in links[pk]
            if link.direction == RunModelLink.Direction.INPUT
        ]
        if model_inputs:
            run_inputs["model_inputs"] = model_inputs
        run_outputs: dict = {}
        model_outputs = [
            {"model_id": link.model.model_id, "step": link.step}
            for link in links[pk]
            if link.direction == RunModelLink.Direction.OUTPUT
        ]
        if model_outputs:
            run_outputs["model_outputs"] = model_outputs
        out[pk] = {"inputs": run_inputs, "outputs": run_outputs}
    return out


def run_io_fragments(run_pks: list[int]) -> dict[int, str]:
    """run_io_out as the JSON members runs/search writes straight into its body."""
    if not run_pks:
        return {}
    return {
        pk: json.dumps(io, separators=(",", ":"))[1:-1] for pk, io in run_io_out(run_pks).items()
    }


def _dataset_input_out(row) -> dict:
    dataset = row.dataset
    data = {
        "name": dataset.name,
        "digest": dataset.digest,
        "source_type": dataset.source_type,
        "source": dataset.source,
    }
    if dataset.schema:
        data["schema"] = dataset.schema
    if dataset.profile:
        data["profile"] = dataset.profile
    out: dict = {}
    if row.tags:
        out["tags"] = [{"key": k, "value": v} for k, v in row.tags.items()]
    out["dataset"] = data
    return out
