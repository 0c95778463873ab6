"""`/api/2.0/mlflow/...`: MLflow's tracking REST API, as the official client calls it."""

from django.urls import path, re_path

from tracking.mlflow_api import datasets, logged_models, model_metrics, views
from tracking.mlflow_api.base import endpoint, not_found_view

urlpatterns = [
    path("experiments/create", endpoint(views.experiment_create, "post")),
    path("experiments/get", endpoint(views.experiment_get, "get")),
    path("experiments/get-by-name", endpoint(views.experiment_get_by_name, "get")),
    path("experiments/search", endpoint(views.experiment_search, "get", "post")),
    path("experiments/update", endpoint(views.experiment_update, "post")),
    path("experiments/delete", endpoint(views.experiment_delete, "post")),
    path("experiments/restore", endpoint(views.experiment_restore, "post")),
    path("experiments/set-experiment-tag", endpoint(views.experiment_set_tag, "post")),
    path("experiments/delete-experiment-tag", endpoint(views.experiment_delete_tag, "post")),
    path("runs/create", endpoint(views.run_create, "post")),
    path("runs/get", endpoint(views.run_get, "get")),
    path("runs/update", endpoint(views.run_update, "post")),
    path("runs/delete", endpoint(views.run_delete, "post")),
    path("runs/restore", endpoint(views.run_restore, "post")),
    path("runs/search", endpoint(views.run_search, "post")),
    path("runs/log-metric", endpoint(model_metrics.log_metric, "post")),
    path("runs/log-parameter", endpoint(views.run_log_parameter, "post")),
    path("runs/log-batch", endpoint(model_metrics.log_batch, "post")),
    path("runs/set-tag", endpoint(views.run_set_tag, "post")),
    path("runs/delete-tag", endpoint(views.run_delete_tag, "post")),
    path("runs/log-inputs", endpoint(datasets.log_inputs, "post")),
    path("runs/outputs", endpoint(logged_models.log_outputs, "post")),
    path("runs/log-model", endpoint(logged_models.log_model, "post")),
    path("metrics/get-history", endpoint(views.metric_get_history, "get")),
    path(
        "metrics/get-history-bulk-interval",
        endpoint(views.metric_get_history_bulk_interval, "get"),
    ),
    path("artifacts/list", endpoint(views.artifact_list, "get")),
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
