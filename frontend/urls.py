"""Page URLs: stable, as people bookmark and share them."""

from django.urls import path

from frontend.views import (
    charts,
    compare,
    experiments,
    links,
    logged_models,
    metrics,
    projects,
    runs,
)

run = "p/<slug:slug>/runs/<str:run_id>/"

urlpatterns = [
    path("", projects.home, name="home"),
    path("projects/new/", projects.project_new, name="project_new"),
    # Where the landing page sends the client's `#/experiments/...` links (views/links.py).
    path("go/experiments/<int:experiment_id>/", links.go_experiment, name="go_experiment"),
    path("go/experiments/<int:experiment_id>/runs/<str:run_id>/", links.go_run, name="go_run"),
    path("p/<slug:slug>/", experiments.project_page, name="project"),
    path("p/<slug:slug>/experiments/new/", experiments.experiment_new, name="experiment_new"),
    path("p/<slug:slug>/e/<int:experiment_id>/", experiments.project_page, name="experiment"),
    path("p/<slug:slug>/e/<int:experiment_id>/runs.csv", experiments.runs_csv, name="runs_csv"),
    path(
        "p/<slug:slug>/e/<int:experiment_id>/rename/",
        experiments.experiment_rename,
        name="experiment_rename",
    ),
    path(
        "p/<slug:slug>/e/<int:experiment_id>/description/",
        experiments.experiment_describe,
        name="experiment_describe",
    ),
    path(
        "p/<slug:slug>/e/<int:experiment_id>/delete/",
        experiments.experiment_remove,
        name="experiment_delete",
    ),
    path(
        "p/<slug:slug>/e/<int:experiment_id>/restore/",
        experiments.experiment_bring_back,
        name="experiment_restore",
    ),
    path(
        "p/<slug:slug>/e/<int:experiment_id>/purge/",
        experiments.experiment_purge_page,
        name="experiment_purge",
    ),
    path(
        "p/<slug:slug>/e/<int:experiment_id>/models/",
        logged_models.experiment_models,
        name="experiment_models",
    ),
    path("p/<slug:slug>/models/<str:model_id>/", logged_models.logged_model_page, name="model"),
    path(
        "p/<slug:slug>/models/<str:model_id>/download/",
        logged_models.logged_model_file_download,
        name="model_file_download",
    ),
    path(
        "p/<slug:slug>/e/<int:experiment_id>/charts/",
        charts.experiment_charts,
        name="experiment_charts",
    ),
    path(
        "p/<slug:slug>/e/<int:experiment_id>/charts/series.json",
        charts.experiment_charts_series,
        name="experiment_charts_series",
    ),
    path("p/<slug:slug>/compare/", compare.compare, name="compare"),
    path(run, runs.run_overview, name="run"),
    path(run + "children/", experiments.run_children, name="run_children"),
    path(run + "description/", runs.run_description, name="run_description"),
    path(run + "rename/", runs.run_rename, name="run_rename"),
    path(run + "delete/", runs.run_remove, name="run_delete"),
    path(run + "restore/", runs.run_bring_back, name="run_restore"),
    path(run + "tags/", runs.run_tag_set, name="run_tag_set"),
    path(run + "tags/delete/", runs.run_tag_remove, name="run_tag_delete"),
    path(run + "metrics/", runs.run_metrics, name="run_metrics"),
    path(run + "system/", runs.run_system, name="run_system"),
    path(run + "artifacts/", runs.run_artifacts, name="run_artifacts"),
    path(run + "artifacts/download/", runs.run_artifact_download, name="run_artifact_download"),
    path(run + "series.json", metrics.series_json, name="run_series"),
    path(run + "metrics/<path:key>/points.csv", metrics.metric_csv, name="metric_csv"),
    path(run + "metrics/<path:key>/", metrics.metric_page, name="metric"),
]
