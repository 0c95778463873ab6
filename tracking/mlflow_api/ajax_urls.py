"""`/ajax-api/2.0/mlflow/...`: every endpoint of `/api/2.0/mlflow/`, as MLflow's server serves
them for its web UI, plus the routes it has only there."""

from django.urls import path

from tracking.mlflow_api import ajax_views, datasets, logged_models
from tracking.mlflow_api.base import endpoint
from tracking.mlflow_api.urls import urlpatterns as tracking_patterns

urlpatterns = [
    path("metrics/get-history-bulk", endpoint(datasets.get_history_bulk, "get")),
    path("experiments/search-datasets", endpoint(datasets.search_datasets, "post")),
    path("upload-artifact", ajax_views.upload_artifact),
    path(
        "logged-models/<str:model_id>/artifacts/files",
        logged_models.ModelArtifactFile.as_view(),
    ),
    *tracking_patterns,
]
