"""The native API for a run's artifacts: list and download."""

from __future__ import annotations

import posixpath

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import renderers
from rest_framework.request import Request
from rest_framework.response import Response

from mlplatform.api.base import NativeAPIView
from tracking import artifacts
from tracking.models import Run
from tracking.selectors.lookups import run_for_user

from . import serializers as s
from .common import (
    OctetRenderer,
    request_actor,
)


def _artifact_root(run: Run) -> str:
    # The same layout as MLflow's proxied artifact endpoints, so both see the same files.
    return f"{run.experiment_id}/{run.run_id}/artifacts"


class ArtifactListView(NativeAPIView):
    @extend_schema(
        summary="List a run's artifacts",
        operation_id="run_artifacts_list",
        parameters=[OpenApiParameter("path", str, description="A folder under the run's root.")],
        responses=s.ArtifactListSerializer,
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_for_user(actor=request_actor(request), run_id=run_id)
        sub = artifacts.safe_artifact_path(request.query_params.get("path", ""), allow_empty=True)
        root = _artifact_root(run)
        entries = artifacts.artifact_list(path=posixpath.join(root, sub) if sub else root)
        files = [
            {
                "path": posixpath.join(sub, e.path) if sub else e.path,
                "is_dir": e.is_dir,
                "size": e.size,
            }
            for e in entries
        ]
        return Response(s.ArtifactListSerializer({"path": sub, "files": files}).data)


class ArtifactDownloadView(NativeAPIView):
    renderer_classes = [renderers.JSONRenderer, OctetRenderer]

    @extend_schema(
        summary="Download one artifact",
        operation_id="run_artifact_download",
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def get(self, request: Request, run_id: str, path: str) -> FileResponse:
        run = run_for_user(actor=request_actor(request), run_id=run_id)
        sub = artifacts.safe_artifact_path(path)
        handle = artifacts.artifact_open(path=posixpath.join(_artifact_root(run), sub))
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=posixpath.basename(sub),
            content_type="application/octet-stream",
        )
        # Artifacts are whatever a training job wrote: never let a browser render them.
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox"
        return response
