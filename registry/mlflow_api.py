"""MLflow's model registry REST API (`registered-models/...`, `model-versions/...`), answered
as MLflow's server does. MLflow's calls name models only, so the project is the token's."""

from __future__ import annotations

import re

from django.urls import path

from accounts.access import Actor, require_role
from accounts.models import Project, Role
from registry import selectors
from registry import services as svc
from registry.models import ModelVersion, RegisteredModel
from tracking.errors import InvalidInput
from tracking.mlflow_api.base import endpoint, token_project
from tracking.mlflow_api.logged_models import model_endpoint
from tracking.mlflow_api.wire import Fields


def _tags_out(tags) -> list[dict]:
    return [{"key": t.key, "value": t.value} for t in tags]


def version_out(
    version: ModelVersion, name: str | None = None, *, with_aliases: bool = True
) -> dict:
    """A version as MLflow's server writes it: description and run_link always (empty strings
    included), aliases only where it reads one version (not in searches or latest versions)."""
    out: dict = {
        "name": name or version.registered_model.name,
        "version": str(version.version),
        "creation_timestamp": version.created_time,
        "last_updated_timestamp": version.updated_time,
        "current_stage": version.stage,
        "description": version.description,
        "source": version.source,
        "status": version.status,
        "run_link": version.run_link,
    }
    if version.created_by is not None:
        out["user_id"] = version.created_by.get_username()
    if version.run is not None:
        out["run_id"] = version.run.run_id
    if version.status_message:
        out["status_message"] = version.status_message
    if tags := _tags_out(version.tags.all()):
        out["tags"] = tags
    if with_aliases and (aliases := sorted(a.alias for a in version.aliases.all())):
        out["aliases"] = aliases
    return out


def model_out(model: RegisteredModel) -> dict:
    out: dict = {
        "name": model.name,
        "creation_timestamp": model.created_time,
        "last_updated_timestamp": model.updated_time,
    }
    if model.description:
        out["description"] = model.description
    if latest := selectors.latest_versions(model):
        out["latest_versions"] = [version_out(v, model.name, with_aliases=False) for v in latest]
    if tags := _tags_out(model.tags.all()):
        out["tags"] = tags
    aliases = [
        {"alias": a.alias, "version": str(a.model_version.version)} for a in model.aliases.all()
    ]
    if aliases:
        out["aliases"] = aliases
    return out


def _project(actor: Actor, need: Role = Role.VIEWER) -> Project:
    project = token_project(actor)
    require_role(actor=actor, project=project, need=need)
    return project


def _model(fields: Fields, actor: Actor, need: Role = Role.VIEWER, name_field: str = "name"):
    project = _project(actor)
    name = fields.str(name_field, required=True)
    return selectors.registered_model_for(actor=actor, project=project, name=name, need=need)


def _version(fields: Fields, actor: Actor, need: Role = Role.VIEWER) -> ModelVersion:
    project = _project(actor)
    return selectors.model_version_for(
        actor=actor,
        project=project,
        name=fields.str("name", required=True),
        version=fields.str("version", required=True),
        need=need,
    )


def _pairs(fields: Fields, name: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for i, item in enumerate(fields.list(name)):
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid value for '{name}[{i}]': expected an object.", name)
        pair = Fields(item)
        pairs[pair.str("key", required=True)] = pair.str("value", default="")
    return pairs


def _fresh_model(actor: Actor, model: RegisteredModel) -> dict:
    fresh = selectors.registered_model_for(actor=actor, project=model.project, name=model.name)
    return model_out(fresh)


def _fresh_version(actor: Actor, version: ModelVersion) -> dict:
    model = version.registered_model
    fresh = selectors.model_version_for(
        actor=actor, project=model.project, name=model.name, version=version.version
    )
    return version_out(fresh)


# --- registered models -------------------------------------------------------------------------


def model_create(request, fields: Fields, actor: Actor) -> dict:
    project = _project(actor, Role.EDITOR)
    model = svc.registered_model_create(
        actor=actor,
        project=project,
        name=fields.str("name", required=True),
        description=fields.str("description", default="") or "",
        tags=_pairs(fields, "tags"),
    )
    return {"registered_model": _fresh_model(actor, model)}


def model_get(request, fields: Fields, actor: Actor) -> dict:
    return {"registered_model": model_out(_model(fields, actor))}


def model_rename(request, fields: Fields, actor: Actor) -> dict:
    model = _model(fields, actor, Role.EDITOR)
    new_name = fields.str("new_name")
    if not new_name:
        raise InvalidInput("Missing value for required parameter 'new_name'.", field="new_name")
    model = svc.registered_model_rename(actor=actor, model=model, new_name=new_name)
    return {"registered_model": _fresh_model(actor, model)}


def model_update(request, fields: Fields, actor: Actor) -> dict:
    model = _model(fields, actor, Role.EDITOR)
    if fields.has("description"):
        svc.registered_model_update(model=model, description=fields.str("description"))
    return {"registered_model": _fresh_model(actor, model)}


def model_delete(request, fields: Fields, actor: Actor) -> dict:
    svc.registered_model_delete(actor=actor, model=_model(fields, actor, Role.MANAGER))
    return {}


def _search_args(fields: Fields) -> dict:
    return {
        "filter_string": fields.str("filter") or None,
        "order_by": fields.str_list("order_by"),
        "max_results": fields.int("max_results"),
        "page_token": fields.str("page_token") or None,
    }


def model_search(request, fields: Fields, actor: Actor) -> dict:
    project = _project(actor)
    models, token = selectors.registered_model_search(
        actor=actor, project=project, **_search_args(fields)
    )
    body: dict = {"registered_models": [model_out(m) for m in models]} if models else {}
    if token:
        body["next_page_token"] = token
    return body


def model_latest_versions(request, fields: Fields, actor: Actor) -> dict:
    model = _model(fields, actor)
    latest = selectors.latest_versions(model, fields.str_list("stages"))
    if not latest:
        return {}
    return {"model_versions": [version_out(v, model.name) for v in latest]}


def model_set_tag(request, fields: Fields, actor: Actor) -> dict:
    model = _model(fields, actor, Role.EDITOR)
    svc.registered_model_set_tag(
        model=model,
        key=fields.str("key", required=True),
        value=fields.str("value", required=True),
    )
    return {}


def model_delete_tag(request, fields: Fields, actor: Actor) -> dict:
    model = _model(fields, actor, Role.EDITOR)
    svc.registered_model_delete_tag(model=model, key=fields.str("key", required=True))
    return {}


def alias_set(request, fields: Fields, actor: Actor) -> dict:
    version = _version(fields, actor, Role.EDITOR)
    svc.model_alias_set(actor=actor, version=version, alias=fields.str("alias", required=True))
    return {}


def alias_delete(request, fields: Fields, actor: Actor) -> dict:
    model = _model(fields, actor, Role.EDITOR)
    svc.model_alias_delete(actor=actor, model=model, alias=fields.str("alias", required=True))
    return {}


def alias_get(request, fields: Fields, actor: Actor) -> dict:
    project = _project(actor)
    version = selectors.model_version_by_alias(
        actor=actor,
        project=project,
        name=fields.str("name", required=True),
        alias=fields.str("alias", required=True),
    )
    return {"model_version": version_out(version)}


# --- model versions ----------------------------------------------------------------------------


_RUNS_SOURCE = re.compile(r"runs:/(?P<run_id>[^/]+)(?:/.*)?")
_LOGGED_MODEL_SOURCE = re.compile(r"models:/(?P<model_id>[^/@]+)/?")


def _check_lineage(source: str, run_id: str | None, model_id: str | None) -> None:
    """MLflow 3's server: a `runs:/` source needs `run_id` naming its run, a `models:/<model_id>`
    source `model_id` naming its model (the client always sends them), or it is refused."""
    runs = _RUNS_SOURCE.fullmatch(source)
    logged = _LOGGED_MODEL_SOURCE.fullmatch(source)
    if model_id:
        bad = runs is not None or (logged is not None and logged["model_id"] != model_id)
        field = "model_id"
    else:
        bad = logged is not None or (runs is not None and runs["run_id"] != run_id)
        field = "model_id" if logged is not None else "run_id"
    if bad:
        raise InvalidInput(
            f"Invalid model version source: '{source}'. The {field} request parameter must "
            "identify the resource that contains the source.",
            field=field,
        )


def version_create(request, fields: Fields, actor: Actor) -> dict:
    model = _model(fields, actor, Role.EDITOR)
    source = fields.str("source", required=True)
    run_id = fields.str("run_id") or None
    model_id = fields.str("model_id") or None
    _check_lineage(source, run_id, model_id)
    resolved = selectors.version_source_resolve(
        actor=actor, project=model.project, source=source, run_id=run_id, model_id=model_id
    )
    version = svc.model_version_create(
        actor=actor,
        model=model,
        run_link=fields.str("run_link", default="") or "",
        description=fields.str("description", default="") or "",
        tags=_pairs(fields, "tags"),
        **resolved,
    )
    return {"model_version": _fresh_version(actor, version)}


def version_get(request, fields: Fields, actor: Actor) -> dict:
    return {"model_version": version_out(_version(fields, actor))}


def version_update(request, fields: Fields, actor: Actor) -> dict:
    version = _version(fields, actor, Role.EDITOR)
    if fields.has("description"):
        svc.model_version_update(version=version, description=fields.str("description"))
    return {"model_version": _fresh_version(actor, version)}


def version_transition_stage(request, fields: Fields, actor: Actor) -> dict:
    version = _version(fields, actor, Role.EDITOR)
    archive = fields.raw("archive_existing_versions")
    if archive is not None and not isinstance(archive, bool):
        archive = str(archive).lower() == "true"
    svc.model_version_transition_stage(
        version=version, stage=fields.str("stage", required=True), archive_existing=bool(archive)
    )
    return {"model_version": _fresh_version(actor, version)}


def version_delete(request, fields: Fields, actor: Actor) -> dict:
    svc.model_version_delete(actor=actor, version=_version(fields, actor, Role.MANAGER))
    return {}


def version_search(request, fields: Fields, actor: Actor) -> dict:
    project = _project(actor)
    versions, token = selectors.model_version_search(
        actor=actor, project=project, **_search_args(fields)
    )
    body: dict = {}
    if versions:
        body["model_versions"] = [version_out(v, with_aliases=False) for v in versions]
    if token:
        body["next_page_token"] = token
    return body


def version_set_tag(request, fields: Fields, actor: Actor) -> dict:
    version = _version(fields, actor, Role.EDITOR)
    svc.model_version_set_tag(
        version=version,
        key=fields.str("key", required=True),
        value=fields.str("value", required=True),
    )
    return {}


def version_delete_tag(request, fields: Fields, actor: Actor) -> dict:
    version = _version(fields, actor, Role.EDITOR)
    svc.model_version_delete_tag(version=version, key=fields.str("key", required=True))
    return {}


def version_download_uri(request, fields: Fields, actor: Actor) -> dict:
    # `mlflow-artifacts:/...` or `runs:/...`: the client then reads the files through the
    # artifact proxy with the same token, so access is checked again there.
    return {"artifact_uri": _version(fields, actor).storage_location}


# The same table serves /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/ (mlplatform.urls).
urlpatterns = [
    path("registered-models/create", endpoint(model_create, "post")),
    path("registered-models/get", endpoint(model_get, "get")),
    path("registered-models/rename", endpoint(model_rename, "post")),
    path("registered-models/update", endpoint(model_update, "patch")),
    path("registered-models/delete", endpoint(model_delete, "delete")),
    path("registered-models/search", endpoint(model_search, "get")),
    path("registered-models/get-latest-versions", endpoint(model_latest_versions, "get", "post")),
    path("registered-models/set-tag", endpoint(model_set_tag, "post")),
    path("registered-models/delete-tag", endpoint(model_delete_tag, "delete")),
    path(
        "registered-models/alias",
        model_endpoint(post=alias_set, delete=alias_delete, get=alias_get),
    ),
    path("model-versions/create", endpoint(version_create, "post")),
    path("model-versions/get", endpoint(version_get, "get")),
    path("model-versions/update", endpoint(version_update, "patch")),
    path("model-versions/delete", endpoint(version_delete, "delete")),
    path("model-versions/search", endpoint(version_search, "get")),
    path("model-versions/transition-stage", endpoint(version_transition_stage, "post")),
    path("model-versions/set-tag", endpoint(version_set_tag, "post")),
    path("model-versions/delete-tag", endpoint(version_delete_tag, "delete")),
    path("model-versions/get-download-uri", endpoint(version_download_uri, "get")),
]
