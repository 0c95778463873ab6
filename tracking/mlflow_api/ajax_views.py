"""The artifact routes MLflow's server has beside its REST API: `/get-artifact` (a run's file,
as an attachment) and `/ajax-api/2.0/mlflow/upload-artifact` (a small file into a run)."""

from __future__ import annotations

import io
import posixpath

from accounts.access import Actor
from accounts.models import Role
from tracking import artifacts
from tracking.errors import InvalidInput
from tracking.mlflow_api.base import MlflowEndpoint, json_response
from tracking.mlflow_api.logged_models import attachment
from tracking.models import Lifecycle
from tracking.selectors.lookups import run_for_user

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def _run_path(run, path: str) -> str:
    return posixpath.join(f"{run.experiment_id}/{run.run_id}/artifacts", path)


class GetArtifact(MlflowEndpoint):
    """`GET /get-artifact?run_id=...&path=...`."""

    http_method_names = ["get", "options"]

    def get(self, request, actor: Actor, *args, **kwargs):
        run_id = request.GET.get("run_id") or request.GET.get("run_uuid")
        if not run_id:
            raise InvalidInput("Missing value for required parameter 'run_id'.", field="run_id")
        path = artifacts.safe_artifact_path(request.GET.get("path", ""))
        run = run_for_user(actor=actor, run_id=run_id)
        return attachment(_run_path(run, path))


class UploadArtifact(MlflowEndpoint):
    """`POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=...&path=...` with the file as body."""

    http_method_names = ["post", "options"]

    def post(self, request, actor: Actor, *args, **kwargs):
        run_id = request.GET.get("run_uuid")
        if not run_id:
            raise InvalidInput("Request must specify run_uuid.", field="run_uuid")
        raw_path = request.GET.get("path")
        if not raw_path:
            raise InvalidInput("Request must specify path.", field="path")
        path = artifacts.safe_artifact_path(raw_path)
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_UPLOAD_BYTES:
            raise InvalidInput("Artifact size is too large. Max size is 10MB.", field="body")
        data = request.body
        if not data:
            raise InvalidInput("Request must specify data.", field="body")
        if len(data) > MAX_UPLOAD_BYTES:
            raise InvalidInput("Artifact size is too large. Max size is 10MB.", field="body")
        run = run_for_user(actor=actor, run_id=run_id, need=Role.EDITOR)
        if run.lifecycle != Lifecycle.ACTIVE:
            raise InvalidInput(f"The run {run.run_id} is deleted; restore it first.", "run_id")
        artifacts.artifact_save(path=_run_path(run, path), content=io.BytesIO(data))
        return json_response({})


get_artifact = GetArtifact.as_view()
upload_artifact = UploadArtifact.as_view()
