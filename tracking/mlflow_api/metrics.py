"""MLflow's metric history endpoints: `metrics/...`."""

from __future__ import annotations

from accounts.access import Actor, token_project_allowing
from accounts.models import Role
from tracking.errors import InvalidInput, NotFound
from tracking.mlflow_api.base import run_id_of, run_of
from tracking.mlflow_api.wire import Encoded, Fields, history_out, metric_out
from tracking.models import Run
from tracking.selectors.lookups import runs_for_user
from tracking.selectors.metrics import (
    MAX_RUNS_PER_SAMPLE,
    metric_history_rows,
    metric_history_sampled,
)
from tracking.store import RunRef
from tracking.validation import API_DOCS_HINT


def metric_get_history(request, fields: Fields, actor: Actor) -> Encoded:
    run_id = run_id_of(fields)
    key = fields.str("metric_key", required=True)
    max_results = fields.int("max_results")
    page_token = fields.str("page_token") or None
    project_id = token_project_allowing(actor, Role.VIEWER)
    if project_id is None:
        run: Run | RunRef = run_of(fields, actor)
    else:
        # A token that may read its project: the points query finds the run in that project
        # itself, saving the lookup of the run and its relations.
        run = RunRef.in_project(run_id, project_id)
    rows, next_token = metric_history_rows(
        run=run, key=key, max_results=max_results, page_token=page_token
    )
    if not rows and isinstance(run, RunRef):
        run_of(fields, actor)  # no points: a run that is not there is MLflow's 404
    return history_out(key, rows, next_token)


def metric_get_history_bulk_interval(request, fields: Fields, actor: Actor) -> dict:
    run_ids = fields.str_list("run_ids")
    if not run_ids:
        raise InvalidInput("Missing value for required parameter 'run_ids'.", field="run_ids")
    if len(run_ids) > MAX_RUNS_PER_SAMPLE:
        raise InvalidInput(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_PER_SAMPLE} "
            f"run_ids. Received {len(run_ids)} run_ids.{API_DOCS_HINT}",
            field="run_ids",
        )
    found = {run.run_id: run for run in runs_for_user(actor=actor, run_ids=run_ids)}
    missing = [run_id for run_id in run_ids if run_id not in found]
    if missing:
        raise NotFound(f"Run with id={missing[0]} not found.")
    # In the request's order, as MLflow answers.
    runs = [found[run_id] for run_id in dict.fromkeys(run_ids)]
    sampled = metric_history_sampled(
        runs=runs,
        key=fields.str("metric_key", required=True),
        max_results=fields.int("max_results", default=2500),
        start_step=fields.int("start_step"),
        end_step=fields.int("end_step"),
    )
    return {"metrics": [{**metric_out(point), "run_id": run.run_id} for run, point in sampled]}
