from django.urls import path, re_path

from . import logged_models, projects, views

urlpatterns = [
    path("projects/", projects.ProjectListView.as_view(), name="api-projects"),
    path("projects/<str:slug>/", projects.ProjectDetailView.as_view(), name="api-project"),
    path(
        "projects/<str:slug>/experiments/",
        views.ExperimentListView.as_view(),
        name="api-experiments",
    ),
    path(
        "projects/<str:slug>/experiments/<int:experiment_id>/",
        views.ExperimentDetailView.as_view(),
        name="api-experiment",
    ),
    path(
        "projects/<str:slug>/experiments/<int:experiment_id>/restore/",
        views.ExperimentRestoreView.as_view(),
        name="api-experiment-restore",
    ),
    path("experiments/<int:experiment_id>/runs/", views.RunListView.as_view(), name="api-runs"),
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
        views.RunsCsvView.as_view(),
        name="api-runs-csv",
    ),
    path("metrics/history/", views.MultiSeriesView.as_view(), name="api-metrics-history"),
    path("runs/<str:run_id>/", views.RunDetailView.as_view(), name="api-run"),
    path("runs/<str:run_id>/restore/", views.RunRestoreView.as_view(), name="api-run-restore"),
    path("runs/<str:run_id>/log/", views.RunLogView.as_view(), name="api-run-log"),
    path("runs/<str:run_id>/metrics/", views.RunMetricsView.as_view(), name="api-run-metrics"),
    # Metric keys may contain slashes, so the key is everything up to the fixed suffix.
    re_path(
        r"^runs/(?P<run_id>[^/]+)/metrics/(?P<key>.+)/history/$",
        views.MetricHistoryView.as_view(),
        name="api-metric-history",
    ),
    re_path(
        r"^runs/(?P<run_id>[^/]+)/metrics/(?P<key>.+)/history\.csv$",
        views.MetricHistoryCsvView.as_view(),
        name="api-metric-history-csv",
    ),
    path(
        "runs/<str:run_id>/artifacts/",
        views.ArtifactListView.as_view(),
        name="api-run-artifacts",
    ),
    path(
        "runs/<str:run_id>/artifacts/<path:path>",
        views.ArtifactDownloadView.as_view(),
        name="api-run-artifact",
    ),
]
