"""`/api/2.0/mlflow/...`: MLflow's tracking REST API, as the official client calls it."""

from django.urls import path, re_path

from tracking.mlflow_api import (
    artifact_views,
    datasets,
    experiments,
    logged_models,
    metrics,
    model_metrics,
    runs,
)
from tracking.mlflow_api.base import endpoint, not_found_view

urlpatterns = [
    path("experiments/create", endpoint(experiments.experiment_create, "post")),
    path("experiments/get", endpoint(experiments.experiment_get, "get")),
    path("experiments/get-by-name", endpoint(experiments.experiment_get_by_name, "get")),
    path("experiments/search", endpoint(experiments.experiment_search, "get", "post")),
    path("experiments/update", endpoint(experiments.experiment_update, "post")),
    path("experiments/delete", endpoint(experiments.experiment_delete, "post")),
    path("experiments/restore", endpoint(experiments.experiment_restore, "post")),
    path("experiments/set-experiment-tag", endpoint(experiments.experiment_set_tag, "post")),
    path("experiments/delete-experiment-tag", endpoint(experiments.experiment_delete_tag, "post")),
    path("runs/create", endpoint(runs.run_create, "post")),
    path("runs/get", endpoint(runs.run_get, "get")),
    path("runs/update", endpoint(runs.run_update, "post")),
    path("runs/delete", endpoint(runs.run_delete, "post")),
    path("runs/restore", endpoint(runs.run_restore, "post")),
    path("runs/search", endpoint(runs.run_search, "post")),
    path("runs/log-metric", endpoint(model_metrics.log_metric, "post")),
    path("runs/log-parameter", endpoint(runs.run_log_parameter, "post")),
    path("runs/log-batch", endpoint(model_metrics.log_batch, "post")),
    path("runs/set-tag", endpoint(runs.run_set_tag, "post")),
    path("runs/delete-tag", endpoint(runs.run_delete_tag, "post")),
    path("runs/log-inputs", endpoint(datasets.log_inputs, "post")),
    path("runs/outputs", endpoint(logged_models.log_outputs, "post")),
    path("runs/log-model", endpoint(logged_models.log_model, "post")),
    path("metrics/get-history", endpoint(metrics.metric_get_history, "get")),
    path(
        "metrics/get-history-bulk-interval",
        endpoint(metrics.metric_get_history_bulk_interval, "get"),
    ),
    path("artifacts/list", endpoint(artifact_views.artifact_list, "get")),
    path("logged-models", endpoint(logged_models.create, "post")),
    path("logged-models/search", endpoint(logged_models.search, "post")),
    path(
        "logged-models/<str:model_id>",
        logged_models.model_endpoint(
            get=logged_models.get, patch=logged_models.finalize, delete=logged_models.delete
        ),
    ),
    path(
        "logged-models/<str:model_id>/tags",
        logged_models.model_endpoint(patch=logged_models.set_tags),
    ),
    path(
        "logged-models/<str:model_id>/tags/<path:tag_key>",
        logged_models.model_endpoint(delete=logged_models.delete_tag),
    ),
    path(
        "logged-models/<str:model_id>/params",
        logged_models.model_endpoint(post=logged_models.log_params),
    ),
    path(
        "logged-models/<str:model_id>/artifacts/directories",
        logged_models.model_endpoint(get=logged_models.list_artifacts),
    ),
    re_path(r"^.*$", not_found_view),
]
