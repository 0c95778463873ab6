"""MLflow's run endpoints: `runs/...`, their search and what a run logs."""

from __future__ import annotations

from django.db.models import prefetch_related_objects

from accounts.access import Actor
from accounts.models import Role
from tracking.batch import ParamIn, TagIn
from tracking.errors import InvalidInput
from tracking.mlflow_api.base import (
    experiment_by_id,
    experiment_scope,
    run_id_of,
    run_of,
)
from tracking.mlflow_api.datasets import run_io_fragments, run_io_out
from tracking.mlflow_api.wire import (
    VIEW_TYPES,
    Encoded,
    Fields,
    metric_columns_in,
    metric_in,
    new_run_out,
    objects_in,
    run_info_out,
    run_out,
    run_rows_out,
    tags_in,
)
from tracking.models import Run, RunStatus
from tracking.selectors.runs import run_details
from tracking.selectors.runs import run_search as search_runs
from tracking.services import runs as run_services
from tracking.services.ingest import run_log_batch_by_id
from tracking.validation import DEFAULT_MAX_RESULTS, MAX_BATCH_BYTES, parse_pk, validate_max_results


def _with_details(runs: list[Run]) -> list[Run]:
    prefetch_related_objects(runs, "user", "latest_metrics", "params", "tags")
    return runs


def run_create(request, fields: Fields, actor: Actor) -> dict:
    experiment_id = fields.str("experiment_id", default="0")
    pk = parse_pk(experiment_id)
    if experiment_id == "0" or pk is None:
        # The Default experiment is found by name; anything else that is no id is a 404.
        pk = experiment_by_id(actor, experiment_id, Role.EDITOR).pk
    run, tags = run_services.run_create_by_id(
        actor=actor,
        experiment_id=pk,
        name=fields.str("run_name", default="") or "",
        start_time=fields.int("start_time"),
        tags={tag.key: tag.value for tag in tags_in(fields)},
    )
    return {"run": new_run_out(run, tags)}


def run_get(request, fields: Fields, actor: Actor) -> dict:
    run = run_of(fields, actor)
    return {"run": {**run_out(_with_details([run])[0]), **run_io_out([run.pk])[run.pk]}}


def run_update(request, fields: Fields, actor: Actor) -> dict:
    status = fields.enum("status", [*RunStatus.values, ""], default="") or None
    run = run_services.run_update_by_id(
        actor=actor,
        run_id=run_id_of(fields),
        status=status,
        end_time=fields.int("end_time"),
        name=fields.str("run_name"),
    )
    return {"run_info": run_info_out(run)}


def run_delete(request, fields: Fields, actor: Actor) -> dict:
    run_services.run_delete(actor=actor, run=run_of(fields, actor, Role.EDITOR))
    return {}


def run_restore(request, fields: Fields, actor: Actor) -> dict:
    run_services.run_restore(actor=actor, run=run_of(fields, actor, Role.EDITOR))
    return {}


def run_search(request, fields: Fields, actor: Actor) -> Encoded:
    experiments, project_id = experiment_scope(actor, fields.list("experiment_ids"))
    max_results = validate_max_results(fields.int("max_results", default=DEFAULT_MAX_RESULTS))
    runs, next_token = search_runs(
        experiments=experiments,
        filter_string=fields.str("filter", default="") or "",
        order_by=fields.str_list("order_by"),
        run_view_type=fields.enum("run_view_type", VIEW_TYPES, default="ACTIVE_ONLY"),
        max_results=max_results,
        page_token=fields.str("page_token") or None,
        prefetch=False,
        project_id=project_id,
    )
    details = run_details(runs)
    io = run_io_fragments([run.pk for run in runs if run.pk in details.with_io])
    return run_rows_out(runs, details, next_token, io)


def run_log_batch(request, fields: Fields, actor: Actor) -> dict:
    if len(request.body) > MAX_BATCH_BYTES:
        raise InvalidInput(
            f"A batch may be at most {MAX_BATCH_BYTES} bytes; this one has {len(request.body)}.",
            field="body",
        )
    metrics = metric_columns_in(objects_in(fields, "metrics"))
    params = [
        ParamIn(key=param.str("key", required=True), value=param.str("value", default=""))
        for param in map(Fields, objects_in(fields, "params"))
    ]
    run_log_batch_by_id(
        actor=actor, run_id=run_id_of(fields), metrics=metrics, params=params, tags=tags_in(fields)
    )
    return {}


def run_log_metric(request, fields: Fields, actor: Actor) -> dict:
    metric = metric_in(fields.data, "metric")
    run_log_batch_by_id(actor=actor, run_id=run_id_of(fields), metrics=[metric])
    return {}


def run_log_parameter(request, fields: Fields, actor: Actor) -> dict:
    # Fields in the order MLflow's server checks them, so the first error named is its.
    run_id = run_id_of(fields)
    param = ParamIn(key=fields.str("key", required=True), value=fields.str("value", default=""))
    run_log_batch_by_id(actor=actor, run_id=run_id, params=[param])
    return {}


def run_set_tag(request, fields: Fields, actor: Actor) -> dict:
    run_id = run_id_of(fields)
    tag = TagIn(key=fields.str("key", required=True), value=fields.str("value", default=""))
    run_log_batch_by_id(actor=actor, run_id=run_id, tags=[tag])
    return {}


def run_delete_tag(request, fields: Fields, actor: Actor) -> dict:
    run = run_of(fields, actor, Role.EDITOR)
    run_services.run_delete_tag(actor=actor, run=run, key=fields.str("key", required=True))
    return {}
