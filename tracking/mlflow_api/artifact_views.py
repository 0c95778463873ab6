"""MLflow's proxied artifact store: `/api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/...`.

Paths start with the experiment id, which is what access is decided by; uploads must also name
an active run of that experiment.
"""

from __future__ import annotations

import posixpath

from django.http import FileResponse, HttpResponse

from accounts.access import Actor
from accounts.models import Role
from tracking import artifacts
from tracking.errors import InvalidInput, NotFound
from tracking.mlflow_api.base import MlflowEndpoint, experiment_by_id, json_response, run_of
from tracking.mlflow_api.wire import Fields
from tracking.models import Lifecycle, LoggedModel, Run


def _authorize(actor: Actor, path: str, need: Role) -> None:
    parts = path.split("/")
    if not parts[0].isdigit() or parts[0] == "0":
        raise NotFound(f"No artifacts at '{path}'.")
    experiment = experiment_by_id(actor, parts[0], need)
    if need == Role.EDITOR:
        if len(parts) < 3:
            raise InvalidInput(
                "Artifacts are uploaded under <experiment id>/<run id>/artifacts/<path>.",
                field="path",
            )
        if parts[1] == "models" and len(parts) >= 4:
            # A logged model's files: <experiment id>/models/<model id>/artifacts/<path>.
            model = LoggedModel.objects.filter(experiment=experiment, model_id=parts[2]).first()
            if model is None or model.lifecycle != Lifecycle.ACTIVE:
                raise NotFound(f"No logged model '{parts[2]}' in experiment {experiment.pk}.")
            return
        run = Run.objects.filter(experiment=experiment, run_id=parts[1]).only("lifecycle").first()
        if run is None:
            raise NotFound(f"No run '{parts[1]}' in experiment {experiment.pk}.")
        if run.lifecycle != Lifecycle.ACTIVE:
            raise InvalidInput(f"The run {parts[1]} is deleted; restore it first.", "run_id")


class ArtifactListView(MlflowEndpoint):
    http_method_names = ["get", "options"]

    def get(self, request, actor: Actor, *args, **kwargs):
        path = artifacts.safe_artifact_path(request.GET.get("path", ""))
        _authorize(actor, path, Role.VIEWER)
        files = []
        for entry in artifacts.artifact_list(path=path):
            item: dict = {"path": entry.path, "is_dir": entry.is_dir}
            if entry.size is not None:
                item["file_size"] = entry.size
            files.append(item)
        return json_response({"files": files} if files else {})


class ArtifactView(MlflowEndpoint):
    http_method_names = ["get", "put", "delete", "options"]

    def get(self, request, actor: Actor, artifact_path: str = "", *args, **kwargs):
        path = artifacts.safe_artifact_path(artifact_path)
        _authorize(actor, path, Role.VIEWER)
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

    def put(self, request, actor: Actor, artifact_path: str = "", *args, **kwargs):
        path = artifacts.safe_artifact_path(artifact_path)
        _authorize(actor, path, Role.EDITOR)
        # The raw Django request is a stream: the upload goes to storage in chunks.
        artifacts.artifact_save(path=path, content=request)
        return json_response({})

    def delete(self, request, actor: Actor, artifact_path: str = "", *args, **kwargs):
        path = artifacts.safe_artifact_path(artifact_path)
        _authorize(actor, path, Role.MANAGER)
        artifacts.artifact_delete(path=path)
        return HttpResponse(status=200, content="{}", content_type="application/json")


def artifact_list(request, fields: Fields, actor: Actor) -> dict:
    run = run_of(fields, actor)
    sub = artifacts.safe_artifact_path(fields.str("path", default="") or "", allow_empty=True)
    return listing_out(
        root=f"{run.experiment_id}/{run.run_id}/artifacts", sub=sub, root_uri=run.artifact_uri
    )


def listing_out(*, root: str, sub: str, root_uri: str) -> dict:
    """A folder of a run's or a model's artifacts (`sub` under `root`) as MLflow lists it."""
    files = []
    for entry in artifacts.artifact_list(path=posixpath.join(root, sub) if sub else root):
        item: dict = {"path": posixpath.join(sub, entry.path) if sub else entry.path}
        item["is_dir"] = entry.is_dir
        if entry.size is not None:
            item["file_size"] = entry.size
        files.append(item)
    body: dict = {"root_uri": root_uri}
    if files:
        body["files"] = files
    return body
