"""MLflow 3's logged-model endpoints (`/logged-models/...`, `runs/outputs`) and the metrics a
batch logs for a model: translate the wire format, call one service or selector, answer."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable

from django.http import FileResponse, HttpResponse

from accounts.access import Actor
from accounts.models import Role
from tracking import artifacts
from tracking.errors import InvalidInput
from tracking.mlflow_api.artifact_views import listing_out
from tracking.mlflow_api.base import (
    MlflowEndpoint,
    experiment_by_id,
    experiments_by_ids,
    json_response,
    run_of,
)
from tracking.mlflow_api.wire import Fields, dumps, float_out
from tracking.models import LoggedModel, LoggedModelStatus, RunModelLink
from tracking.selectors.logged_models import logged_model_for_user, logged_model_search
from tracking.selectors.lookups import run_for_user
from tracking.services import logged_models as services

# The wire's enum names of a model's status.
STATUS_OUT = {
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}
STATUS_IN = {value: key for key, value in STATUS_OUT.items()}
# Protobuf's JSON also allows an enum's number.
STATUS_IN.update({1: LoggedModelStatus.PENDING, 2: LoggedModelStatus.READY})
STATUS_IN[3] = LoggedModelStatus.FAILED


def _pairs(fields: Fields, name: str) -> dict[str, str]:
    """`[{"key", "value"}]` as a dict (the last of a repeated key wins, as MLflow's upsert)."""
    pairs: dict[str, str] = {}
    for i, item in enumerate(fields.list(name)):
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid value for '{name}[{i}]': expected an object.", name)
        pair = Fields(item)
        pairs[pair.str("key", required=True)] = pair.str("value", default="")
    return pairs


def model_metric_out(point) -> dict:
    out = {
        "key": point.key,
        "value": float_out(point.display_value),
        "timestamp": point.timestamp,
        "step": point.step,
    }
    if point.dataset_name:
        out["dataset_name"] = point.dataset_name
    if point.dataset_digest:
        out["dataset_digest"] = point.dataset_digest
    out["model_id"] = point.model.model_id
    if point.run is not None:
        out["run_id"] = point.run.run_id
    return out


def model_out(model: LoggedModel) -> dict:
    """MLflow's LoggedModel; needs params, tags and metrics prefetched (the selectors do)."""
    info: dict = {
        "model_id": model.model_id,
        "experiment_id": str(model.experiment_id),
        "name": model.name,
        "creation_timestamp_ms": model.created_time,
        "last_updated_timestamp_ms": model.updated_time,
        "artifact_uri": model.artifact_location,
        "status": STATUS_OUT[model.status],
        "model_type": model.model_type,
    }
    if model.source_run is not None:
        info["source_run_id"] = model.source_run.run_id
    if model.status_message:
        info["status_message"] = model.status_message
    tags = [{"key": t.key, "value": t.value} for t in model.tags.all()]
    if tags:
        info["tags"] = tags
    data: dict = {}
    if params := [{"key": p.key, "value": p.value} for p in model.params.all()]:
        data["params"] = params
    if metrics := [model_metric_out(m) for m in model.metrics.all()]:
        data["metrics"] = metrics
    return {"info": info, "data": data}


def _model(actor: Actor, model_id: str, need: Role = Role.VIEWER) -> LoggedModel:
    return logged_model_for_user(actor=actor, model_id=model_id, need=need)


def _fresh(actor: Actor, model: LoggedModel) -> dict:
    return {"model": model_out(_model(actor, model.model_id))}


# --- endpoints --------------------------------------------------------------------------------


def create(request, fields: Fields, actor: Actor) -> dict:
    experiment = experiment_by_id(actor, fields.str("experiment_id", required=True), Role.EDITOR)
    source_run = None
    if run_id := fields.str("source_run_id"):
        source_run = run_for_user(actor=actor, run_id=run_id, need=Role.EDITOR)
    model = services.logged_model_create(
        actor=actor,
        experiment=experiment,
        name=fields.str("name") or None,
        source_run=source_run,
        model_type=fields.str("model_type", default="") or "",
        params=_pairs(fields, "params"),
        tags=_pairs(fields, "tags"),
    )
    return _fresh(actor, model)


def get(request, fields: Fields, actor: Actor, model_id: str) -> dict:
    return {"model": model_out(_model(actor, model_id))}


def finalize(request, fields: Fields, actor: Actor, model_id: str) -> dict:
    model = _model(actor, model_id, Role.EDITOR)
    raw = fields.raw("status")
    if raw is None:
        raise InvalidInput("Missing value for required parameter 'status'.", field="status")
    if not isinstance(raw, str | int) or isinstance(raw, bool) or raw not in STATUS_IN:
        raise InvalidInput(
            f"Invalid value {raw!r} for parameter 'status': use one of "
            f"{', '.join(STATUS_OUT.values())}.",
            field="status",
        )
    services.logged_model_finalize(model=model, status=STATUS_IN[raw])
    return _fresh(actor, model)


def delete(request, fields: Fields, actor: Actor, model_id: str) -> dict:
    services.logged_model_delete(model=_model(actor, model_id, Role.EDITOR))
    return {}


def set_tags(request, fields: Fields, actor: Actor, model_id: str) -> dict:
    model = _model(actor, model_id, Role.EDITOR)
    services.logged_model_set_tags(model=model, tags=_pairs(fields, "tags"))
    return {}


def delete_tag(request, fields: Fields, actor: Actor, model_id: str, tag_key: str) -> dict:
    model = _model(actor, model_id, Role.EDITOR)
    services.logged_model_delete_tag(model=model, key=tag_key)
    return {}


def log_params(request, fields: Fields, actor: Actor, model_id: str) -> dict:
    model = _model(actor, model_id, Role.EDITOR)
    services.logged_model_log_params(model=model, params=_pairs(fields, "params"))
    return {}


def search(request, fields: Fields, actor: Actor) -> dict:
    ids = fields.str_list("experiment_ids")
    if not ids:
        raise InvalidInput(
            "Missing value for required parameter 'experiment_ids'.", field="experiment_ids"
        )
    experiments = experiments_by_ids(actor, ids)
    datasets = fields.list("datasets")
    order_by = fields.list("order_by")
    models, token = logged_model_search(
        experiments=experiments,
        experiment_ids=ids,
        filter_string=fields.str("filter") or None,
        datasets=[_dataset_clause(d, i) for i, d in enumerate(datasets)] or None,
        order_by=order_by,
        max_results=fields.int("max_results"),
        page_token=fields.str("page_token") or None,
    )
    # Like protobuf's JSON, MLflow leaves an empty list out: no models is `{}`.
    body: dict = {"models": [model_out(m) for m in models]} if models else {}
    if token:
        body["next_page_token"] = token
    return body


def _dataset_clause(item, i: int) -> dict:
    if not isinstance(item, dict):
        raise InvalidInput(f"Invalid value for 'datasets[{i}]': expected an object.", "datasets")
    clause = Fields(item)
    return {
        "dataset_name": clause.str("dataset_name", default="") or "",
        "dataset_digest": clause.str("dataset_digest") or None,
    }


def list_artifacts(request, fields: Fields, actor: Actor, model_id: str) -> dict:
    model = _model(actor, model_id)
    sub = artifacts.safe_artifact_path(
        fields.str("artifact_directory_path", default="") or "", allow_empty=True
    )
    return listing_out(root=model.artifact_root, sub=sub, root_uri=model.artifact_location)


def log_model(request, fields: Fields, actor: Actor) -> dict:
    run = run_of(fields, actor, Role.EDITOR)
    raw = fields.str("model_json", required=True)
    try:
        model = json.loads(raw)
    except ValueError:
        model = None
    if not isinstance(model, dict):
        raise InvalidInput(
            f"Malformed model info. \n {raw} \n is not a valid JSON.", field="model_json"
        )
    services.run_record_logged_model(run=run, model=model)
    return {}


def log_outputs(request, fields: Fields, actor: Actor) -> dict:
    run = run_of(fields, actor, Role.EDITOR)
    outputs = []
    for i, item in enumerate(fields.list("models")):
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid value for 'models[{i}]': expected an object.", "models")
        output = Fields(item)
        model = _model(actor, output.str("model_id", required=True))
        outputs.append((model, output.int("step", default=0)))
    services.run_log_model_links(run=run, models=outputs, direction=RunModelLink.Direction.OUTPUT)
    return {}


# --- the view class for routes with ids in the path ---------------------------------------------


class ModelEndpoint(MlflowEndpoint):
    """A logged-model route: one handler per method, each given the ids in the path."""

    handlers: dict[str, Callable] = {}

    def _answer(self, request, actor: Actor, fields: Fields, kwargs: dict) -> HttpResponse:
        handler = self.handlers[request.method.lower()]
        return json_response(handler(request, fields, actor, **kwargs))

    def get(self, request, actor: Actor, *args, **kwargs) -> HttpResponse:
        return self._answer(request, actor, Fields.from_query(request), kwargs)

    def post(self, request, actor: Actor, *args, **kwargs) -> HttpResponse:
        return self._answer(request, actor, Fields.from_json(request.body), kwargs)

    patch = post
    delete = post


def model_endpoint(**handlers: Callable):
    return ModelEndpoint.as_view(handlers=handlers, http_method_names=[*handlers, "options"])


class ModelArtifactFile(MlflowEndpoint):
    """`/ajax-api/2.0/mlflow/logged-models/<id>/artifacts/files?artifact_file_path=...`: one
    file of a model, as an attachment."""

    http_method_names = ["get", "options"]

    def get(self, request, actor: Actor, model_id: str = "", *args, **kwargs):
        path = request.GET.get("artifact_file_path")
        if not path:
            return HttpResponse(
                dumps(
                    {
                        "error_code": "BAD_REQUEST",
                        "message": 'Request must include the "artifact_file_path" query parameter.',
                    }
                ),
                status=400,
                content_type="application/json",
            )
        path = artifacts.safe_artifact_path(path)
        model = _model(actor, model_id)
        return attachment(f"{model.artifact_root}/{path}")


def attachment(path: str) -> FileResponse:
    response = FileResponse(
        artifacts.artifact_open(path=path),
        as_attachment=True,
        filename=posixpath.basename(path),
        content_type="application/octet-stream",
    )
    # Artifacts are whatever a training job wrote: never let a browser render them.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response
