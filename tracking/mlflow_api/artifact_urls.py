"""`/api/2.0/mlflow-artifacts/...`: the artifact store the client reaches through the server."""

from django.urls import path, re_path

from tracking.mlflow_api.artifact_views import ArtifactListView, ArtifactView
from tracking.mlflow_api.base import not_found_view

urlpatterns = [
    path("artifacts", ArtifactListView.as_view()),
    re_path(r"^artifacts/(?P<artifact_path>.*)$", ArtifactView.as_view()),
    re_path(r"^.*$", not_found_view),
]
