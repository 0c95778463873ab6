from django.urls import path, re_path

from . import artifacts, experiments, exports, logged_models, metrics, projects, runs

urlpatterns = [
    path("projects/", projects.ProjectListView.as_view(), name="api-projects"),
    path("projects/<str:slug>/", projects.ProjectDetailView.as_view(), name="api-project"),
    path(
        "projects/<str:slug>/experiments/",
        experiments.ExperimentListView.as_view(),
        name="api-experiments",
    ),
    path(
        "projects/<str:slug>/experiments/<int:experiment_id>/",
        experiments.ExperimentDetailView.as_view(),
        name="api-experiment",
    ),
    path(
        "projects/<str:slug>/experiments/<int:experiment_id>/restore/",
        experiments.ExperimentRestoreView.as_view(),
        name="api-experiment-restore",
    ),
    path("experiments/<int:experiment_id>/runs/", runs.RunListView.as_view(), name="api-runs"),
    path(
        "experiments/<int:experiment_id>/models/",
        logged_models.LoggedModelListView.as_view(),
        name="api-logged-models",
    ),
    path(
        "experiments/<int:experiment_id>/datasets/",
        logged_models.ExperimentDatasetListView.as_view(),
        name="api-experiment-datasets",
    ),
    path(
        "models/<str:model_id>/",
        logged_models.LoggedModelDetailView.as_view(),
        name="api-logged-model",
    ),
    path(
        "datasets/<str:dataset_id>/",
        logged_models.DatasetDetailView.as_view(),
        name="api-dataset",
    ),
    path(
        "runs/<str:run_id>/datasets/",
        logged_models.RunDatasetListView.as_view(),
        name="api-run-datasets",
    ),
    path(
        "experiments/<int:experiment_id>/runs.csv",
        exports.RunsCsvView.as_view(),
        name="api-runs-csv",
    ),
    path("metrics/history/", metrics.MultiSeriesView.as_view(), name="api-metrics-history"),
    path("runs/<str:run_id>/", runs.RunDetailView.as_view(), name="api-run"),
    path("runs/<str:run_id>/restore/", runs.RunRestoreView.as_view(), name="api-run-restore"),
    path("runs/<str:run_id>/log/", runs.RunLogView.as_view(), name="api-run-log"),
    path("runs/<str:run_id>/metrics/", metrics.RunMetricsView.as_view(), name="api-run-metrics"),
    # Metric keys may contain slashes, so the key is everything up to the fixed suffix.
    re_path(
        r"^runs/(?P<run_id>[^/]+)/metrics/(?P<key>.+)/history/$",
        metrics.MetricHistoryView.as_view(),
        name="api-metric-history",
    ),
    re_path(
        r"^runs/(?P<run_id>[^/]+)/metrics/(?P<key>.+)/history\.csv$",
        exports.MetricHistoryCsvView.as_view(),
        name="api-metric-history-csv",
    ),
    path(
        "runs/<str:run_id>/artifacts/",
        artifacts.ArtifactListView.as_view(),
        name="api-run-artifacts",
    ),
    path(
        "runs/<str:run_id>/artifacts/<path:path>",
        artifacts.ArtifactDownloadView.as_view(),
        name="api-run-artifact",
    ),
]
