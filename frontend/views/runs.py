"""The run page and its tabs: Overview, Model metrics, System metrics, Artifacts."""

from __future__ import annotations

import contextlib
import json
import mimetypes
import posixpath

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import Actor
from accounts.models import Role
from frontend import selectors
from frontend.forms import DescriptionForm, RunNameForm, TagForm, TagKeyForm
from frontend.views.common import can_edit, folder_listing, get_run
from frontend.views.logged_models import run_models_and_datasets
from tracking.artifacts import artifact_list, artifact_open, safe_artifact_path
from tracking.batch import TagIn
from tracking.errors import TrackingError
from tracking.models import Param, Run
from tracking.selectors.summaries import metric_summary_list
from tracking.services.ingest import run_log_batch
from tracking.services.run_tags import run_set_tag
from tracking.services.runs import run_delete, run_delete_tag, run_restore, run_update
from tracking.validation import NOTE_TAG

# Tags the Overview shows as the run's source, with their labels, not in the general tags table.
SOURCE_TAGS = {
    "mlflow.source.name": "Source",
    "mlflow.source.type": "Source type",
    "mlflow.source.git.commit": "Git commit",
    "mlflow.source.git.branch": "Git branch",
    "mlflow.source.git.repoURL": "Git repository",
}
# The user the client claims; the run's user (whoever's token logged it) is shown instead.
CLIENT_USER_TAG = "mlflow.user"
PREVIEW_BYTES = 200_000
TEXT_EXTENSIONS = {".txt", ".log", ".md", ".yaml", ".yml", ".py", ".cfg", ".ini", ".toml"}


def _base_context(request, run: Run, tab: str) -> dict:
    project = run.experiment.project
    return {
        "project": project,
        "run": run,
        "tab": tab,
        "can_edit": can_edit(request, project),
    }


@login_required
def run_overview(request, slug: str, run_id: str):
    run = get_run(request, slug, run_id)
    tags = selectors.run_tags(run=run)
    model, system = selectors.split_system(metric_summary_list(run=run))
    context = _base_context(request, run, "overview")
    context.update(
        {
            "params": list(Param.objects.filter(run=run).order_by("key")),
            "metrics": model + system,
            "description": tags.get(NOTE_TAG, ""),
            "source_tags": [(label, tags[k]) for k, label in SOURCE_TAGS.items() if k in tags],
            "client_user": tags.get(CLIENT_USER_TAG, ""),
            "tags": sorted(
                (k, v) for k, v in tags.items() if k != NOTE_TAG and not k.startswith("mlflow.")
            ),
            "system_tags": sorted((k, v) for k, v in tags.items() if k.startswith("mlflow.")),
            "children": list(run.children.active().order_by("-start_time")[:100]),
            "description_form": DescriptionForm(initial={"description": tags.get(NOTE_TAG, "")}),
            **run_models_and_datasets(run=run),
        }
    )
    return render(request, "frontend/run_overview.html", context)


@login_required
@require_POST
def run_description(request, slug: str, run_id: str):
    run = get_run(request, slug, run_id, need=Role.EDITOR)
    form = DescriptionForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["description"]))
    else:
        try:
            note = TagIn(key=NOTE_TAG, value=form.cleaned_data["description"])
            run_log_batch(run=run, tags=[note])
        except TrackingError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Description saved.")
    return redirect("run", slug=slug, run_id=run.run_id)


def _form_errors(form) -> str:
    return " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())


def _edit_run(request, slug: str, run_id: str, form_class, change) -> HttpResponse:
    """Check the editor role, validate the form, call the service, say how it went, go back."""
    run = get_run(request, slug, run_id, need=Role.EDITOR)
    form = form_class(request.POST) if form_class else None
    if form is not None and not form.is_valid():
        messages.error(request, _form_errors(form))
    else:
        try:
            message = change(Actor.from_request(request), run, form.cleaned_data if form else {})
        except TrackingError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, message)
    return redirect("run", slug=slug, run_id=run.run_id)


@login_required
@require_POST
def run_rename(request, slug: str, run_id: str):
    def change(actor, run, data):
        run_update(actor=actor, run=run, name=data["name"])
        return f"Run renamed to {data['name']}."

    return _edit_run(request, slug, run_id, RunNameForm, change)


@login_required
@require_POST
def run_remove(request, slug: str, run_id: str):
    def change(actor, run, data):
        run_delete(actor=actor, run=run)
        return "Run deleted; you can restore it from this page."

    return _edit_run(request, slug, run_id, None, change)


@login_required
@require_POST
def run_bring_back(request, slug: str, run_id: str):
    def change(actor, run, data):
        run_restore(actor=actor, run=run)
        return "Run restored."

    return _edit_run(request, slug, run_id, None, change)


@login_required
@require_POST
def run_tag_set(request, slug: str, run_id: str):
    def change(actor, run, data):
        run_set_tag(actor=actor, run=run, key=data["key"], value=data["value"])
        return f"Tag {data['key']} saved."

    return _edit_run(request, slug, run_id, TagForm, change)


@login_required
@require_POST
def run_tag_remove(request, slug: str, run_id: str):
    def change(actor, run, data):
        run_delete_tag(actor=actor, run=run, key=data["key"])
        return f"Tag {data['key']} removed."

    return _edit_run(request, slug, run_id, TagKeyForm, change)


def key_matcher(query: str):
    """The charts filter: a case-insensitive substring, or with a leading `^` a prefix.

    Never a regular expression: a pattern from the URL could backtrack for minutes over one key
    and hold a web worker. static/frontend/charts.js applies the same rule as the user types.
    """
    needle = query.strip().lower()
    if needle.startswith("^"):
        prefix = needle[1:]
        return lambda key: key.lower().startswith(prefix)
    return lambda key: needle in key.lower()


def _charts_tab(request, slug: str, run_id: str, *, system: bool):
    run = get_run(request, slug, run_id)
    query = request.GET.get("q", "")
    x = request.GET.get("x", "step")
    model, system_rows = selectors.split_system(metric_summary_list(run=run))
    rows = system_rows if system else model
    matches = key_matcher(query)
    context = _base_context(request, run, "system" if system else "metrics")
    context.update(
        {
            "all_keys": [r.key for r in rows],
            "keys": [r.key for r in rows if matches(r.key)],
            "q": query,
            "x": x if x in ("step", "time", "relative") else "step",
            "smooth": _smoothing(request.GET.get("smooth", "")),
            "log": request.GET.get("log") == "1",
        }
    )
    return render(request, "frontend/run_charts.html", context)


def _smoothing(raw: str) -> str:
    try:
        weight = float(raw)
    except ValueError:
        return "0"
    return str(min(0.99, max(0.0, weight))) if weight == weight else "0"


@login_required
def run_metrics(request, slug: str, run_id: str):
    return _charts_tab(request, slug, run_id, system=False)


@login_required
def run_system(request, slug: str, run_id: str):
    return _charts_tab(request, slug, run_id, system=True)


def _artifact_root(run: Run) -> str:
    prefix = "mlflow-artifacts:/"
    uri = run.artifact_uri or ""
    if uri.startswith(prefix):
        return uri[len(prefix) :].strip("/")
    return f"{run.experiment_id}/{run.run_id}/artifacts"


def _preview_kind(path: str) -> str | None:
    extension = posixpath.splitext(path)[1].lower()
    if extension in (".png", ".jpg", ".jpeg", ".gif", ".webp"):
        return "image"
    if extension == ".json":
        return "json"
    if extension in (".csv", ".tsv"):
        return "csv"
    if extension in TEXT_EXTENSIONS or extension == "" or path.endswith("MLmodel"):
        return "text"
    return None


@login_required
def run_artifacts(request, slug: str, run_id: str):
    run = get_run(request, slug, run_id)
    try:
        path = safe_artifact_path(request.GET.get("path", ""), allow_empty=True)
    except TrackingError as exc:
        return HttpResponseBadRequest(exc.message)
    root = _artifact_root(run)
    folder, selected = path, None
    entries = artifact_list(path=posixpath.join(root, folder) if folder else root)
    if path and not entries:
        # A file: list its folder and preview it.
        folder, selected = posixpath.dirname(path), path
        entries = artifact_list(path=posixpath.join(root, folder) if folder else root)
    preview = None
    if selected:
        kind = _preview_kind(selected)
        preview = {"path": selected, "kind": kind}
        if kind in ("text", "json", "csv"):
            try:
                with artifact_open(path=posixpath.join(root, selected)) as handle:
                    raw = handle.read(PREVIEW_BYTES + 1)
            except TrackingError:
                raise Http404("No such artifact.") from None
            text = raw[:PREVIEW_BYTES].decode("utf-8", errors="replace")
            preview["truncated"] = len(raw) > PREVIEW_BYTES
            if kind == "json" and not preview["truncated"]:
                with contextlib.suppress(ValueError):
                    text = json.dumps(json.loads(text), indent=2)
            if kind == "csv":
                delimiter = "\t" if selected.endswith(".tsv") else ","
                preview["rows"] = [line.split(delimiter) for line in text.splitlines()[:200]]
            preview["text"] = text
    context = _base_context(request, run, "artifacts")
    context.update(
        {
            **folder_listing(folder, entries),
            "preview": preview,
        }
    )
    return render(request, "frontend/run_artifacts.html", context)


@login_required
def run_artifact_download(request, slug: str, run_id: str):
    run = get_run(request, slug, run_id)
    try:
        path = safe_artifact_path(request.GET.get("path", ""))
    except TrackingError as exc:
        return HttpResponseBadRequest(exc.message)
    try:
        handle = artifact_open(path=posixpath.join(_artifact_root(run), path))
    except TrackingError:
        raise Http404("No such artifact.") from None
    inline = request.GET.get("inline") == "1" and _preview_kind(path) == "image"
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return FileResponse(
        handle,
        as_attachment=not inline,
        filename=posixpath.basename(path),
        content_type=content_type if inline else "application/octet-stream",
    )
