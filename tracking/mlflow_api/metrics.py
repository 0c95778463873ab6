"""MLflow's metric history endpoints: `metrics/...`."""

from __future__ import annotations

from accounts.access import Actor
from tracking.errors import InvalidInput, NotFound
from tracking.mlflow_api.base import run_of
from tracking.mlflow_api.wire import Encoded, Fields, history_out, metric_out
from tracking.selectors.lookups import runs_for_user
from tracking.selectors.metrics import (
    MAX_RUNS_PER_SAMPLE,
    metric_history_rows,
    metric_history_sampled,
)
from tracking.validation import API_DOCS_HINT


def metric_get_history(request, fields: Fields, actor: Actor) -> Encoded:
    run = run_of(fields, actor)
    key = fields.str("metric_key", required=True)
    rows, next_token = metric_history_rows(
        run=run,
        key=key,
        max_results=fields.int("max_results"),
        page_token=fields.str("page_token") or None,
    )
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
