"""Reading the registry: one model or version for an actor, searches, and what a version's
source points at. Access is the project's (accounts.access); a stranger's lookups answer
NotFound, so they learn nothing about another project's models."""

from __future__ import annotations

import base64
import json
import re

from django.db.models import F, Max, Prefetch, Q, QuerySet

from accounts.access import Actor, require_role
from accounts.models import AuditAction, AuditEvent, Project, Role
from registry.models import ModelAlias, ModelVersion, RegisteredModel
from registry.search import (
    filter_model_versions,
    filter_registered_models,
    order_model_versions,
    order_registered_models,
)
from tracking.errors import InvalidInput, NotFound
from tracking.models import Lifecycle, LoggedModel, Run, RunModelLink
from tracking.validation import (
    REGISTRY_DEFAULT_MAX_RESULTS,
    REGISTRY_MAX_RESULTS,
    VERSION_SEARCH_DEFAULT_MAX_RESULTS,
    VERSION_SEARCH_MAX_RESULTS,
    parse_version,
    validate_max_results,
)

ALIAS_ACTIONS = (AuditAction.MODEL_ALIAS_SET, AuditAction.MODEL_ALIAS_DELETED)


def _model_not_found(name: str) -> NotFound:
    return NotFound(f"Registered Model with name={name} not found")


def with_model_details(qs: QuerySet[RegisteredModel]) -> QuerySet[RegisteredModel]:
    return qs.select_related("project", "created_by").prefetch_related(
        "tags",
        Prefetch("aliases", queryset=ModelAlias.objects.select_related("model_version")),
        Prefetch(
            "versions",
            queryset=ModelVersion.objects.select_related("run", "logged_model", "created_by")
            .prefetch_related("tags", "aliases")
            .order_by("-version"),
        ),
    )


def with_version_details(qs: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
    return qs.select_related(
        "registered_model__project", "run", "logged_model", "created_by"
    ).prefetch_related("tags", "aliases")


def registered_model_for(
    *, actor: Actor, project: Project, name: str, need: Role = Role.VIEWER
) -> RegisteredModel:
    # Existence first: a call on a model the project lacks is "not found" whatever the role.
    require_role(actor=actor, project=project)
    if not isinstance(name, str) or not name:
        raise InvalidInput("Missing value for required parameter 'name'.", field="name")
    model = with_model_details(RegisteredModel.objects.filter(project=project, name=name)).first()
    if model is None:
        raise _model_not_found(name)
    require_role(actor=actor, project=project, need=need)
    return model


def model_version_for(
    *, actor: Actor, project: Project, name: str, version: object, need: Role = Role.VIEWER
) -> ModelVersion:
    require_role(actor=actor, project=project)
    number = parse_version(version)
    found = with_version_details(
        ModelVersion.objects.filter(
            registered_model__project=project, registered_model__name=name, version=number
        )
    ).first()
    if found is None:
        if not RegisteredModel.objects.filter(project=project, name=name).exists():
            raise _model_not_found(name)
        raise NotFound(f"Model Version (name={name}, version={number}) not found")
    require_role(actor=actor, project=project, need=need)
    return found


def model_version_by_alias(
    *, actor: Actor, project: Project, name: str, alias: str
) -> ModelVersion:
    """The version an alias points at; `latest` is the highest version, as in MLflow."""
    model = registered_model_for(actor=actor, project=project, name=name)
    if alias.lower() == "latest":
        number = model.versions.order_by("-version").values_list("version", flat=True).first()
        if number is None:
            raise NotFound(f"Latest version not found for model {name}.")
    else:
        row = next((a for a in model.aliases.all() if a.alias == alias), None)
        if row is None:
            raise InvalidInput(f"Registered model alias {alias} not found.", field="alias")
        number = row.model_version.version
    return model_version_for(actor=actor, project=project, name=name, version=number)


def latest_versions(model: RegisteredModel, stages: list[str] | None = None) -> list:
    """The newest version in each stage (of the given stages), as MLflow's latest_versions."""
    wanted = {s.lower() for s in stages or []}
    latest: dict[str, ModelVersion] = {}
    for version in model.versions.all():
        if wanted and version.stage.lower() not in wanted:
            continue
        if version.stage not in latest or latest[version.stage].version < version.version:
            latest[version.stage] = version
    return sorted(latest.values(), key=lambda v: v.version)


# --- searches --------------------------------------------------------------------------------


def _offset(page_token: str | None) -> int:
    if not page_token:
        return 0
    try:
        state = json.loads(base64.urlsafe_b64decode(page_token.encode()))
        offset = state["offset"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("Invalid page token.", field="page_token") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput("Invalid page token.", field="page_token")
    return offset


def _page(
    qs: QuerySet,
    max_results: int | None,
    page_token: str | None,
    default: int = REGISTRY_DEFAULT_MAX_RESULTS,
    ceiling: int = REGISTRY_MAX_RESULTS,
):
    limit = default if max_results is None else max_results
    validate_max_results(limit, limit=ceiling)
    if limit < 1:
        raise InvalidInput("Invalid value for max_results: it must be at least 1.", "max_results")
    offset = _offset(page_token)
    rows = list(qs[offset : offset + limit + 1])
    token = None
    if len(rows) > limit:
        rows = rows[:limit]
        token = base64.urlsafe_b64encode(json.dumps({"offset": offset + limit}).encode()).decode()
    return rows, token


def registered_model_search(
    *,
    actor: Actor,
    project: Project,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    max_results: int | None = None,
    page_token: str | None = None,
) -> tuple[list[RegisteredModel], str | None]:
    require_role(actor=actor, project=project)
    qs = filter_registered_models(RegisteredModel.objects.filter(project=project), filter_string)
    qs = with_model_details(order_registered_models(qs, order_by))
    return _page(qs, max_results, page_token)


def model_version_search(
    *,
    actor: Actor,
    project: Project,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    max_results: int | None = None,
    page_token: str | None = None,
) -> tuple[list[ModelVersion], str | None]:
    require_role(actor=actor, project=project)
    qs = ModelVersion.objects.filter(registered_model__project=project)
    qs = with_version_details(
        order_model_versions(filter_model_versions(qs, filter_string), order_by)
    )
    return _page(
        qs,
        max_results,
        page_token,
        default=VERSION_SEARCH_DEFAULT_MAX_RESULTS,
        ceiling=VERSION_SEARCH_MAX_RESULTS,
    )


def alias_history(*, model: RegisteredModel, limit: int = 50) -> QuerySet[AuditEvent]:
    """Who moved which alias of the model, newest first (from the audit trail)."""
    return (
        AuditEvent.objects.filter(
            project=model.project_id,
            target_type="registeredmodel",
            target_id=str(model.pk),
            action__in=ALIAS_ACTIONS,
        )
        .select_related("user")
        .order_by("-at", "-pk")[:limit]
    )


# --- what a new version's source points at ----------------------------------------------------

_RUNS_URI = re.compile(r"runs:/(?P<run_id>[^/]+)(?:/(?P<path>.*))?")
_MODELS_URI = re.compile(r"models:/(?P<rest>.+)")


def _bad_source(source: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"Unable to fetch model from model URI source artifact location '{source}'. {why}",
        field="source",
    )


def version_source_resolve(
    *,
    actor: Actor,
    project: Project,
    source: str,
    run_id: str | None = None,
    model_id: str | None = None,
) -> dict:
    """The source a new version records, where its files are, and its run and logged model: a
    `models:/<model_id>` of a logged model, `models:/<name>/<version>` or `@<alias>` of a
    version (recorded as `models:/<name>/<version>`), `runs:/<run_id>/path`, or any other URI
    taken as is. Everything named must be in the project, or the caller learns nothing."""
    run = None
    logged_model = None
    storage = source
    model_path = ""
    if match := _MODELS_URI.fullmatch(source):
        rest = match["rest"].strip("/")
        if "/" in rest or "@" in rest:
            name, _, ref = rest.rpartition("@") if "@" in rest else rest.rpartition("/")
            try:
                if "@" in rest:
                    parent = model_version_by_alias(
                        actor=actor, project=project, name=name, alias=ref
                    )
                else:
                    parent = model_version_for(actor=actor, project=project, name=name, version=ref)
            except (NotFound, InvalidInput) as exc:
                raise _bad_source(source, str(exc)) from None
            storage = parent.storage_location
            run, logged_model = parent.run, parent.logged_model
            # Pinned to the number, as MLflow does: moving the alias later moves no copy.
            source = f"models:/{parent.registered_model.name}/{parent.version}"
        else:
            model_id = rest
    elif match := _RUNS_URI.fullmatch(source):
        run_id = run_id or match["run_id"]
        model_path = (match["path"] or "").strip("/")
    if model_id:
        logged_model = (
            LoggedModel.objects.select_related("source_run", "experiment")
            .filter(model_id=model_id, lifecycle=Lifecycle.ACTIVE, experiment__project=project)
            .first()
        )
        if logged_model is None:
            raise _bad_source(source, f"Logged model with ID '{model_id}' not found.")
        if _MODELS_URI.fullmatch(source) and source.strip("/").endswith(model_id):
            storage = logged_model.artifact_location
        run = run or logged_model.source_run
    if run_id and (run is None or run.run_id != run_id):
        run = Run.objects.filter(run_id=run_id, experiment__project=project).first()
        if run is None:
            raise InvalidInput(f"Run with id={run_id} not found", field="run_id")
    if logged_model is None and run is not None and model_path:
        logged_model = _run_logged_model(run, model_path)
        if logged_model is not None:
            # MLflow 3 keeps a logged model's files under the model, not under the run's
            # artifacts, so `runs:/<run>/<name>` alone would load nothing.
            storage = logged_model.artifact_location
    return {"source": source, "storage_location": storage, "run": run, "logged_model": logged_model}


def _run_logged_model(run: Run, name: str) -> LoggedModel | None:
    """The run's logged model called `name`, as MLflow 3's register_model picks one for a
    `runs:/<run_id>/<name>` URI: the one the run output at the largest step, else the newest."""
    return (
        LoggedModel.objects.filter(source_run=run, name=name, lifecycle=Lifecycle.ACTIVE)
        .annotate(
            output_step=Max(
                "run_links__step",
                filter=Q(run_links__run=run, run_links__direction=RunModelLink.Direction.OUTPUT),
            )
        )
        .order_by(F("output_step").desc(nulls_last=True), "-created_time", "model_id")
        .first()
    )
