"""Pages of MLflow 3's logged models: a model's page (params, metrics, tags, source run, files,
how to load it) and an experiment's Models list."""

from __future__ import annotations

import posixpath

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponseBadRequest
from django.shortcuts import render

from accounts.access import Actor
from frontend.views.common import can_edit, folder_listing, get_experiment
from tracking.artifacts import artifact_list, artifact_open, safe_artifact_path
from tracking.errors import NotFound, TrackingError
from tracking.models import LoggedModel
from tracking.selectors.datasets import run_dataset_inputs
from tracking.selectors.logged_models import (
    experiment_logged_models,
    logged_model_flavors,
    logged_model_for_user,
    run_logged_models,
)

PREVIEW_BYTES = 200_000
# Files of a model worth reading in the page: MLmodel and its environment files are text.
_TEXT_NAMES = ("MLmodel", "requirements.txt", "conda.yaml", "python_env.yaml")
_TEXT_EXTENSIONS = (".txt", ".yaml", ".yml", ".json", ".md", ".py", ".cfg", ".toml")


def _model(request, slug: str, model_id: str) -> LoggedModel:
    try:
        model = logged_model_for_user(actor=Actor.from_request(request), model_id=model_id)
    except NotFound:
        raise Http404("No such model.") from None
    if model.experiment.project.slug != slug:
        raise Http404("No such model in this project.")
    return model


def _previewable(path: str) -> bool:
    return posixpath.basename(path) in _TEXT_NAMES or path.endswith(_TEXT_EXTENSIONS)


@login_required
def logged_model_page(request, slug: str, model_id: str):
    model = _model(request, slug, model_id)
    try:
        path = safe_artifact_path(request.GET.get("path", ""), allow_empty=True)
    except TrackingError as exc:
        return HttpResponseBadRequest(exc.message)
    root = model.artifact_root
    folder, selected = path, None
    entries = artifact_list(path=posixpath.join(root, folder) if folder else root)
    if path and not entries:
        folder, selected = posixpath.dirname(path), path
        entries = artifact_list(path=posixpath.join(root, folder) if folder else root)
    if not path and any(e.path == "MLmodel" for e in entries):
        selected = "MLmodel"
    preview = None
    if selected:
        preview = {"path": selected, "text": None, "truncated": False}
        if _previewable(selected):
            try:
                with artifact_open(path=posixpath.join(root, selected)) as handle:
                    raw = handle.read(PREVIEW_BYTES + 1)
            except TrackingError:
                raise Http404("No such file.") from None
            preview["text"] = raw[:PREVIEW_BYTES].decode("utf-8", errors="replace")
            preview["truncated"] = len(raw) > PREVIEW_BYTES
    metrics = list(model.metrics.all())
    context = {
        "project": model.experiment.project,
        "model": model,
        "flavors": logged_model_flavors(model=model),
        "params": list(model.params.all()),
        "tags": list(model.tags.all()),
        "metrics": metrics,
        "load_line": f'model = mlflow.pyfunc.load_model("models:/{model.model_id}")',
        "run_load_line": (
            f'model = mlflow.pyfunc.load_model("runs:/{model.source_run.run_id}/{model.name}")'
            if model.source_run is not None
            else None
        ),
        **folder_listing(folder, entries),
        "preview": preview,
        "can_register": can_edit(request, model.experiment.project),
    }
    return render(request, "frontend/logged_model.html", context)


@login_required
def logged_model_file_download(request, slug: str, model_id: str):
    model = _model(request, slug, model_id)
    try:
        path = safe_artifact_path(request.GET.get("path", ""))
        handle = artifact_open(path=posixpath.join(model.artifact_root, path))
    except NotFound:
        raise Http404("No such file.") from None
    except TrackingError as exc:
        return HttpResponseBadRequest(exc.message)
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=posixpath.basename(path),
        content_type="application/octet-stream",
    )
    # A model's files are whatever a training job wrote: never let a browser render them.
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def experiment_models(request, slug: str, experiment_id: int):
    experiment = get_experiment(request, slug, experiment_id)
    models = list(experiment_logged_models(experiment=experiment)[:500])
    context = {"project": experiment.project, "experiment": experiment, "models": models}
    return render(request, "frontend/experiment_models.html", context)


def run_models_and_datasets(*, run) -> dict:
    """What the run overview shows of MLflow 3: its logged models (with their flavours) and the
    datasets it used."""
    return {
        "logged_models": [
            {"model": model, "flavors": logged_model_flavors(model=model)}
            for model in run_logged_models(run=run)
        ],
        "dataset_inputs": run_dataset_inputs(run_pks=[run.pk])[run.pk],
    }
