"""MLflow's tracking endpoints: translate the wire format, call one service or selector, answer."""

from __future__ import annotations

import posixpath

from django.db.models import prefetch_related_objects
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.access import Actor
from accounts.models import Role
from tracking import artifacts
from tracking.batch import MetricColumns, MetricIn, ParamIn, TagIn
from tracking.errors import InvalidInput, NotFound
from tracking.mlflow_api.base import experiment_by_id, experiments_by_ids, token_project
from tracking.mlflow_api.datasets import run_io_fragments, run_io_out
from tracking.mlflow_api.wire import (
    VIEW_TYPES,
    Encoded,
    Fields,
    experiment_out,
    history_out,
    metric_out,
    new_run_out,
    parse_float,
    parse_int,
    run_info_out,
    run_out,
    run_rows_out,
)
from tracking.models import Experiment, Run, RunStatus
from tracking.selectors.lookups import run_for_user, runs_for_user
from tracking.selectors.metrics import (
    MAX_RUNS_PER_SAMPLE,
    metric_history_rows,
    metric_history_sampled,
)
from tracking.selectors.runs import experiment_search as search_experiments
from tracking.selectors.runs import run_details
from tracking.selectors.runs import run_search as search_runs
from tracking.services import experiments as experiment_services
from tracking.services import runs as run_services
from tracking.services.ingest import run_log_batch_by_id
from tracking.validation import (
    API_DOCS_HINT,
    DEFAULT_MAX_RESULTS,
    INT64_MAX,
    INT64_MIN,
    MAX_BATCH_BYTES,
    parse_pk,
    validate_max_results,
)


def _run(fields: Fields, actor: Actor, need: Role = Role.VIEWER) -> Run:
    run_id = _run_id(fields)
    try:
        return run_for_user(actor=actor, run_id=run_id, need=need)
    except Http404:
        # MLflow's words, which scripts match on.
        raise NotFound(f"Run with id={run_id} not found") from None


def _experiment(fields: Fields, actor: Actor, need: Role = Role.VIEWER) -> Experiment:
    experiment_id = fields.str("experiment_id", required=True)
    return experiment_by_id(actor, experiment_id, need)


def _tags(fields: Fields, name: str = "tags") -> list[TagIn]:
    tags = []
    for i, item in enumerate(fields.list(name)):
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid value for '{name}[{i}]': expected an object.", name)
        tag = Fields(item)
        tags.append(
            TagIn(
                key=tag.str("key", required=True),
                value=tag.str("value", default=""),
            )
        )
    return tags


def _with_details(runs: list[Run]) -> list[Run]:
    prefetch_related_objects(runs, "user", "latest_metrics", "params", "tags")
    return runs


# --- experiments ---------------------------------------------------------------------------


def experiment_create(request, fields: Fields, actor: Actor) -> dict:
    name = fields.str("name", required=True)
    # Checked as MLflow checks it, and otherwise unused: artifacts live in this server's store.
    fields.str("artifact_location")
    project = token_project(actor)
    tags = {tag.key: tag.value for tag in _tags(fields)}
    description = tags.pop("mlflow.note.content", "")
    experiment = experiment_services.experiment_create(
        actor=actor,
        project=project,
        name=name,
        description=description,
        tags=tags,
    )
    return {"experiment_id": str(experiment.pk)}


def experiment_get(request, fields: Fields, actor: Actor) -> dict:
    return {"experiment": experiment_out(_experiment(fields, actor))}


def experiment_get_by_name(request, fields: Fields, actor: Actor) -> dict:
    name = fields.str("experiment_name", required=True)
    experiment = (
        Experiment.objects.filter(project=token_project(actor), name=name)
        .prefetch_related("tags")
        .first()
    )
    if experiment is None:
        raise NotFound(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_out(experiment)}


def experiment_search(request, fields: Fields, actor: Actor) -> dict:
    project = token_project(actor)
    max_results = validate_max_results(fields.int("max_results", default=DEFAULT_MAX_RESULTS))
    experiments, next_token = search_experiments(
        experiments=Experiment.objects.filter(project=project),
        filter_string=fields.str("filter", default="") or "",
        order_by=fields.str_list("order_by"),
        view_type=fields.enum("view_type", VIEW_TYPES, default="ACTIVE_ONLY"),
        max_results=max_results,
        page_token=fields.str("page_token") or None,
    )
    prefetch_related_objects(experiments, "tags")
    body: dict = {"experiments": [experiment_out(e) for e in experiments]}
    if next_token:
        body["next_page_token"] = next_token
    return body


def experiment_update(request, fields: Fields, actor: Actor) -> dict:
    experiment = _experiment(fields, actor, Role.EDITOR)
    experiment_services.experiment_update(
        actor=actor, experiment=experiment, name=fields.str("new_name")
    )
    return {}


def experiment_delete(request, fields: Fields, actor: Actor) -> dict:
    experiment = _experiment(fields, actor, Role.EDITOR)
    experiment_services.experiment_delete(actor=actor, experiment=experiment)
    return {}


def experiment_restore(request, fields: Fields, actor: Actor) -> dict:
    experiment = _experiment(fields, actor, Role.EDITOR)
    experiment_services.experiment_restore(actor=actor, experiment=experiment)
    return {}


def experiment_set_tag(request, fields: Fields, actor: Actor) -> dict:
    experiment = _experiment(fields, actor, Role.EDITOR)
    key = fields.str("key", required=True)
    value = fields.str("value", default="")
    experiment_services.experiment_set_tag(actor=actor, experiment=experiment, key=key, value=value)
    return {}


def experiment_delete_tag(request, fields: Fields, actor: Actor) -> dict:
    experiment = _experiment(fields, actor, Role.EDITOR)
    experiment_services.experiment_delete_tag(
        actor=actor, experiment=experiment, key=fields.str("key", required=True)
    )
    return {}


# --- runs ------------------------------------------------------------------------------------


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
        tags={tag.key: tag.value for tag in _tags(fields)},
    )
    return {"run": new_run_out(run, tags)}


def run_get(request, fields: Fields, actor: Actor) -> dict:
    run = _run(fields, actor)
    return {"run": {**run_out(_with_details([run])[0]), **run_io_out([run.pk])[run.pk]}}


def run_update(request, fields: Fields, actor: Actor) -> dict:
    status = fields.enum("status", [*RunStatus.values, ""], default="") or None
    run = run_services.run_update_by_id(
        actor=actor,
        run_id=_run_id(fields),
        status=status,
        end_time=fields.int("end_time"),
        name=fields.str("run_name"),
    )
    return {"run_info": run_info_out(run)}


def run_delete(request, fields: Fields, actor: Actor) -> dict:
    run_services.run_delete(actor=actor, run=_run(fields, actor, Role.EDITOR))
    return {}


def run_restore(request, fields: Fields, actor: Actor) -> dict:
    run_services.run_restore(actor=actor, run=_run(fields, actor, Role.EDITOR))
    return {}


def run_search(request, fields: Fields, actor: Actor) -> Encoded:
    experiments = experiments_by_ids(actor, fields.list("experiment_ids"))
    max_results = validate_max_results(fields.int("max_results", default=DEFAULT_MAX_RESULTS))
    runs, next_token = search_runs(
        experiments=experiments,
        filter_string=fields.str("filter", default="") or "",
        order_by=fields.str_list("order_by"),
        run_view_type=fields.enum("run_view_type", VIEW_TYPES, default="ACTIVE_ONLY"),
        max_results=max_results,
        page_token=fields.str("page_token") or None,
        prefetch=False,
    )
    io = run_io_fragments([run.pk for run in runs])
    return run_rows_out(runs, run_details(runs), next_token, io)


def _metric(item: dict, path: str) -> MetricIn:
    metric = Fields(item)
    key = metric.str("key", required=True)
    if not metric.has("value"):
        raise InvalidInput(f"Missing value for required parameter '{path}.value'.", path)
    if not metric.has("timestamp"):
        raise InvalidInput(f"Missing value for required parameter '{path}.timestamp'.", path)
    return MetricIn(
        key=key,
        value=parse_float(metric.raw("value"), field=f"{path}.value"),
        timestamp=parse_int(metric.raw("timestamp"), field=f"{path}.timestamp"),
        step=parse_int(metric.raw("step") or 0, field=f"{path}.step"),
    )


def _objects(fields: Fields, name: str) -> list[dict]:
    items = fields.list(name)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid value for '{name}[{i}]': expected an object.", name)
    return items


def _metric_columns(items: list[dict]) -> MetricColumns:
    """The batch's points as columns. A batch as the official client sends it (str keys, float
    values, int timestamps and steps) is checked a column at a time; any other goes point by
    point through `_metric`, which knows every form MLflow's JSON allows and every error."""
    keys = [item.get("key") for item in items]
    values = [item.get("value") for item in items]
    timestamps = [item.get("timestamp") for item in items]
    steps = [item.get("step", 0) for item in items]
    # type() rather than isinstance(): a bool is an int to isinstance, and is no step.
    if not items or (
        set(map(type, keys)) == {str}
        and set(map(type, values)) == {float}
        and set(map(type, timestamps)) == {int}
        and set(map(type, steps)) == {int}
        and min(timestamps) >= INT64_MIN
        and max(timestamps) <= INT64_MAX
        and min(steps) >= INT64_MIN
        and max(steps) <= INT64_MAX
    ):
        return MetricColumns(keys=keys, values=values, timestamps=timestamps, steps=steps)
    metrics = [_metric(item, f"metrics[{i}]") for i, item in enumerate(items)]
    return MetricColumns(
        keys=[m.key for m in metrics],
        values=[m.value for m in metrics],
        timestamps=[m.timestamp for m in metrics],
        steps=[m.step for m in metrics],
    )


def _run_id(fields: Fields) -> str:
    run_id = fields.str("run_id") or fields.str("run_uuid")
    if not run_id:
        raise InvalidInput("Missing value for required parameter 'run_id'.", field="run_id")
    return run_id


def run_log_batch_view(request, fields: Fields, actor: Actor) -> dict:
    if len(request.body) > MAX_BATCH_BYTES:
        raise InvalidInput(
            f"A batch may be at most {MAX_BATCH_BYTES} bytes; this one has {len(request.body)}.",
            field="body",
        )
    metrics = _metric_columns(_objects(fields, "metrics"))
    params = [
        ParamIn(key=param.str("key", required=True), value=param.str("value", default=""))
        for param in map(Fields, _objects(fields, "params"))
    ]
    run_log_batch_by_id(
        actor=actor, run_id=_run_id(fields), metrics=metrics, params=params, tags=_tags(fields)
    )
    return {}


def run_log_metric(request, fields: Fields, actor: Actor) -> dict:
    metric = _metric(fields.data, "metric")
    run_log_batch_by_id(actor=actor, run_id=_run_id(fields), metrics=[metric])
    return {}


def run_log_parameter(request, fields: Fields, actor: Actor) -> dict:
    # Fields in the order MLflow's server checks them, so the first error named is its.
    run_id = _run_id(fields)
    param = ParamIn(key=fields.str("key", required=True), value=fields.str("value", default=""))
    run_log_batch_by_id(actor=actor, run_id=run_id, params=[param])
    return {}


def run_set_tag(request, fields: Fields, actor: Actor) -> dict:
    run_id = _run_id(fields)
    tag = TagIn(key=fields.str("key", required=True), value=fields.str("value", default=""))
    run_log_batch_by_id(actor=actor, run_id=run_id, tags=[tag])
    return {}


def run_delete_tag(request, fields: Fields, actor: Actor) -> dict:
    run = _run(fields, actor, Role.EDITOR)
    run_services.run_delete_tag(actor=actor, run=run, key=fields.str("key", required=True))
    return {}


def run_log_inputs(request, fields: Fields, actor: Actor) -> dict:
    # Datasets are not tracked here; accepting them keeps autologging code working unchanged.
    _run(fields, actor, Role.EDITOR)
    return {}


# --- metrics ---------------------------------------------------------------------------------


def metric_get_history(request, fields: Fields, actor: Actor) -> Encoded:
    run = _run(fields, actor)
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


# --- artifacts and the rest ------------------------------------------------------------------


def artifact_list(request, fields: Fields, actor: Actor) -> dict:
    run = _run(fields, actor)
    sub = artifacts.safe_artifact_path(fields.str("path", default="") or "", allow_empty=True)
    root = f"{run.experiment_id}/{run.run_id}/artifacts"
    entries = artifacts.artifact_list(path=posixpath.join(root, sub) if sub else root)
    files = []
    for entry in entries:
        item: dict = {"path": posixpath.join(sub, entry.path) if sub else entry.path}
        item["is_dir"] = entry.is_dir
        if entry.size is not None:
            item["file_size"] = entry.size
        files.append(item)
    body: dict = {"root_uri": run.artifact_uri}
    if files:
        body["files"] = files
    return body


def logged_models_search(request, fields: Fields, actor: Actor) -> dict:
    # Models are not stored here; an empty page keeps clients that look for them working.
    return {"models": []}


@never_cache
@require_GET
def health(request) -> HttpResponse:
    return HttpResponse("OK", content_type="text/plain")


@never_cache
@require_GET
def server_info(request) -> JsonResponse:
    # Public, as MLflow's: only what a client needs to pick its code paths, nothing about data.
    return JsonResponse(
        {
            "store_type": None,
            "workspaces_enabled": False,
            "trace_archival_enabled": False,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False,
            "features_enabled": {"gateway": False},
        }
    )
