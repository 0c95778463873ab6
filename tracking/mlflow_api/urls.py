"""`/api/2.0/mlflow/...`: MLflow's tracking REST API, as the official client calls it."""

from django.urls import include, path

from tracking.mlflow_api import (
    artifact_views,
    datasets,
    experiments,
    logged_models,
    metrics,
    model_metrics,
    runs,
)
from tracking.mlflow_api.base import endpoint

# Grouped by their first segment, so resolving the client's hot calls (runs/..., metrics/...)
# tries a handful of patterns, not every endpoint of the API in turn.
_experiments = [
    path("create", endpoint(experiments.experiment_create, "post")),
    path("get", endpoint(experiments.experiment_get, "get")),
    path("get-by-name", endpoint(experiments.experiment_get_by_name, "get")),
    path("search", endpoint(experiments.experiment_search, "get", "post")),
    path("update", endpoint(experiments.experiment_update, "post")),
    path("delete", endpoint(experiments.experiment_delete, "post")),
    path("restore", endpoint(experiments.experiment_restore, "post")),
    path("set-experiment-tag", endpoint(experiments.experiment_set_tag, "post")),
    path("delete-experiment-tag", endpoint(experiments.experiment_delete_tag, "post")),
]
_runs = [
    path("log-metric", endpoint(model_metrics.log_metric, "post")),
    path("log-batch", endpoint(model_metrics.log_batch, "post")),
    path("create", endpoint(runs.run_create, "post")),
    path("update", endpoint(runs.run_update, "post")),
    path("search", endpoint(runs.run_search, "post")),
    path("get", endpoint(runs.run_get, "get")),
    path("delete", endpoint(runs.run_delete, "post")),
    path("restore", endpoint(runs.run_restore, "post")),
    path("log-parameter", endpoint(runs.run_log_parameter, "post")),
    path("set-tag", endpoint(runs.run_set_tag, "post")),
    path("delete-tag", endpoint(runs.run_delete_tag, "post")),
    path("log-inputs", endpoint(datasets.log_inputs, "post")),
    path("outputs", endpoint(logged_models.log_outputs, "post")),
    path("log-model", endpoint(logged_models.log_model, "post")),
]
_metrics = [
    path("get-history", endpoint(metrics.metric_get_history, "get")),
    path(
        "get-history-bulk-interval",
        endpoint(metrics.metric_get_history_bulk_interval, "get"),
    ),
]
_logged_models = [
    path("search", endpoint(logged_models.search, "post")),
    path(
        "<str:model_id>",
        logged_models.model_endpoint(
            get=logged_models.get, patch=logged_models.finalize, delete=logged_models.delete
        ),
    ),
    path("<str:model_id>/tags", logged_models.model_endpoint(patch=logged_models.set_tags)),
    path(
        "<str:model_id>/tags/<path:tag_key>",
        logged_models.model_endpoint(delete=logged_models.delete_tag),
    ),
    path(
        "<str:model_id>/params",
        logged_models.model_endpoint(post=logged_models.log_params),
    ),
    path(
        "<str:model_id>/artifacts/directories",
        logged_models.model_endpoint(get=logged_models.list_artifacts),
    ),
]

# No catch-all here: an unknown endpoint falls through to the registry's routes, then to the
# root URLconf's JSON 404 for anything under MLflow's prefixes.
urlpatterns = [
    path("runs/", include(_runs)),
    path("metrics/", include(_metrics)),
    path("experiments/", include(_experiments)),
    path("artifacts/list", endpoint(artifact_views.artifact_list, "get")),
    path("logged-models", endpoint(logged_models.create, "post")),
    path("logged-models/", include(_logged_models)),
]
