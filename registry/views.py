"""The registry's pages: a project's registered models, one model with its versions, aliases,
tags and alias history, and the forms editors (and, to delete, managers) post."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import Actor
from accounts.models import Role
from frontend.views.common import can_edit, can_manage, get_project
from registry import selectors
from registry import services as svc
from registry.models import RegisteredModel
from tracking.errors import InvalidInput, NotFound, TrackingError


def _model(request, slug: str, name: str, need: Role = Role.VIEWER) -> RegisteredModel:
    project = get_project(request, slug)
    try:
        return selectors.registered_model_for(
            actor=Actor.from_request(request), project=project, name=name, need=need
        )
    except NotFound:
        raise Http404("No such registered model.") from None


def _back(slug: str, name: str):
    return redirect(reverse("registered_model", kwargs={"slug": slug, "name": name}))


@login_required
def models_page(request, slug: str):
    project = get_project(request, slug)
    query = request.GET.get("q", "").strip()[:250]
    # `name ILIKE` with the text quoted as MLflow's grammar wants: '' for a quote.
    text = f"name ILIKE '%{query.replace(chr(39), chr(39) * 2)}%'" if query else None
    try:
        models, _ = selectors.registered_model_search(
            actor=Actor.from_request(request),
            project=project,
            filter_string=text,
            order_by=["last_updated_timestamp DESC"],
            max_results=500,
        )
    except TrackingError as exc:
        messages.error(request, exc.message)
        models = []
    rows = [
        {
            "model": m,
            "latest": next(iter(m.versions.all()), None),
            "aliases": sorted(m.aliases.all(), key=lambda a: a.alias),
        }
        for m in models
    ]
    context = {
        "project": project,
        "rows": rows,
        "query": query,
        "can_edit": can_edit(request, project),
    }
    return render(request, "registry/models.html", context)


@login_required
def model_page(request, slug: str, name: str):
    model = _model(request, slug, name)
    versions = list(model.versions.all())
    context = {
        "project": model.project,
        "model": model,
        "versions": versions,
        "aliases": sorted(model.aliases.all(), key=lambda a: a.alias),
        "tags": list(model.tags.all()),
        "history": list(selectors.alias_history(model=model)),
        "can_edit": can_edit(request, model.project),
        "can_manage": can_manage(request, model.project),
        "load_line": f'model = mlflow.pyfunc.load_model("models:/{model.name}/'
        f'{versions[0].version if versions else 1}")',
    }
    return render(request, "registry/model.html", context)


def _apply(request, action, success: str) -> None:
    try:
        action()
    except TrackingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)


@login_required
@require_POST
def register(request, slug: str):
    """Register a logged model of the project as a new version, creating the name if new."""
    project = get_project(request, slug, need=Role.EDITOR)
    actor = Actor.from_request(request)
    name = request.POST.get("name", "").strip()
    model_id = request.POST.get("model_id", "").strip()
    try:
        if not model_id:
            raise InvalidInput("Give the ID of a logged model to register.", field="model_id")
        resolved = selectors.version_source_resolve(
            actor=actor, project=project, source=f"models:/{model_id}", model_id=model_id
        )
        version = svc.model_version_register(actor=actor, project=project, name=name, **resolved)
    except TrackingError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("registered_models", kwargs={"slug": slug}))
    model = version.registered_model
    messages.success(request, f"Registered {model.name} version {version.version}.")
    return _back(slug, model.name)


@login_required
@require_POST
def alias_set(request, slug: str, name: str):
    model = _model(request, slug, name, Role.EDITOR)
    alias = request.POST.get("alias", "").strip()
    actor = Actor.from_request(request)

    def act():
        version = selectors.model_version_for(
            actor=actor,
            project=model.project,
            name=model.name,
            version=request.POST.get("version", ""),
            need=Role.EDITOR,
        )
        svc.model_alias_set(actor=actor, version=version, alias=alias)

    _apply(request, act, f"@{alias} set.")
    return _back(slug, model.name)


@login_required
@require_POST
def alias_delete(request, slug: str, name: str):
    model = _model(request, slug, name, Role.EDITOR)
    alias = request.POST.get("alias", "")
    actor = Actor.from_request(request)
    _apply(
        request,
        lambda: svc.model_alias_delete(actor=actor, model=model, alias=alias),
        f"@{alias} removed.",
    )
    return _back(slug, model.name)


@login_required
@require_POST
def tag_set(request, slug: str, name: str):
    model = _model(request, slug, name, Role.EDITOR)
    key, value = request.POST.get("key", "").strip(), request.POST.get("value", "")
    _apply(
        request,
        lambda: svc.registered_model_set_tag(model=model, key=key, value=value),
        "Tag saved.",
    )
    return _back(slug, model.name)


@login_required
@require_POST
def tag_delete(request, slug: str, name: str):
    model = _model(request, slug, name, Role.EDITOR)
    key = request.POST.get("key", "")
    _apply(request, lambda: svc.registered_model_delete_tag(model=model, key=key), "Tag removed.")
    return _back(slug, model.name)


@login_required
@require_POST
def describe(request, slug: str, name: str):
    model = _model(request, slug, name, Role.EDITOR)
    text = request.POST.get("description", "")
    _apply(
        request,
        lambda: svc.registered_model_update(model=model, description=text),
        "Description saved.",
    )
    return _back(slug, model.name)


@login_required
@require_POST
def version_delete(request, slug: str, name: str):
    model = _model(request, slug, name, Role.MANAGER)
    actor = Actor.from_request(request)

    def act():
        version = selectors.model_version_for(
            actor=actor,
            project=model.project,
            name=model.name,
            version=request.POST.get("version", ""),
            need=Role.MANAGER,
        )
        svc.model_version_delete(actor=actor, version=version)

    _apply(request, act, "Version deleted.")
    return _back(slug, model.name)


@login_required
@require_POST
def model_delete(request, slug: str, name: str):
    model = _model(request, slug, name, Role.MANAGER)
    svc.registered_model_delete(actor=Actor.from_request(request), model=model)
    messages.success(request, f"Registered model {name} deleted.")
    return redirect(reverse("registered_models", kwargs={"slug": slug}))
