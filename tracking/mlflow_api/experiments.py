"""MLflow's experiment endpoints: `experiments/...`."""

from __future__ import annotations

from django.db.models import prefetch_related_objects

from accounts.access import Actor
from accounts.models import Role
from tracking.errors import NotFound
from tracking.mlflow_api.base import experiment_by_id, token_project
from tracking.mlflow_api.wire import VIEW_TYPES, Fields, experiment_out, tags_in
from tracking.models import Experiment
from tracking.selectors.runs import experiment_search as search_experiments
from tracking.services import experiments as experiment_services
from tracking.validation import DEFAULT_MAX_RESULTS, validate_max_results


def _experiment(fields: Fields, actor: Actor, need: Role = Role.VIEWER) -> Experiment:
    experiment_id = fields.str("experiment_id", required=True)
    return experiment_by_id(actor, experiment_id, need)


def experiment_create(request, fields: Fields, actor: Actor) -> dict:
    name = fields.str("name", required=True)
    # Checked as MLflow checks it, and otherwise unused: artifacts live in this server's store.
    fields.str("artifact_location")
    project = token_project(actor)
    tags = {tag.key: tag.value for tag in tags_in(fields)}
    description = tags.pop("mlflow.note.content", "")
    experiment = experiment_services.experiment_create(
        actor=actor,
        project=project,
        name=name,
        description=description,
        tags=tags,
    )
    return {"experiment_id": str(experiment.pk)}


def experiment_get(request, fields: Fields, actor: Actor) -> dict:
    return {"experiment": experiment_out(_experiment(fields, actor))}


def experiment_get_by_name(request, fields: Fields, actor: Actor) -> dict:
    name = fields.str("experiment_name", required=True)
    experiment = (
        Experiment.objects.filter(project=token_project(actor), name=name)
        .prefetch_related("tags")
        .first()
    )
    if experiment is None:
        raise NotFound(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_out(experiment)}


def experiment_search(request, fields: Fields, actor: Actor) -> dict:
    project = token_project(actor)
    max_results = validate_max_results(fields.int("max_results", default=DEFAULT_MAX_RESULTS))
    experiments, next_token = search_experiments(
        experiments=Experiment.objects.filter(project=project),
        filter_string=fields.str("filter", default="") or "",
        order_by=fields.str_list("order_by"),
        view_type=fields.enum("view_type", VIEW_TYPES, default="ACTIVE_ONLY"),
        max_results=max_results,
        page_token=fields.str("page_token") or None,
    )
    prefetch_related_objects(experiments, "tags")
    body: dict = {"experiments": [experiment_out(e) for e in experiments]}
    if next_token:
        body["next_page_token"] = next_token
    return body


def experiment_update(request, fields: Fields, actor: Actor) -> dict:
    experiment = _experiment(fields, actor, Role.EDITOR)
    experiment_services.experiment_update(
        actor=actor, experiment=experiment, name=fields.str("new_name")
    )
    return {}


def experiment_delete(request, fields: Fields, actor: Actor) -> dict:
    experiment = _experiment(fields, actor, Role.EDITOR)
    experiment_services.experiment_delete(actor=actor, experiment=experiment)
    return {}


def experiment_restore(request, fields: Fields, actor: Actor) -> dict:
    experiment = _experiment(fields, actor, Role.EDITOR)
    experiment_services.experiment_restore(actor=actor, experiment=experiment)
    return {}


def experiment_set_tag(request, fields: Fields, actor: Actor) -> dict:
    experiment = _experiment(fields, actor, Role.EDITOR)
    key = fields.str("key", required=True)
    value = fields.str("value", default="")
    experiment_services.experiment_set_tag(actor=actor, experiment=experiment, key=key, value=value)
    return {}


def experiment_delete_tag(request, fields: Fields, actor: Actor) -> dict:
    experiment = _experiment(fields, actor, Role.EDITOR)
    experiment_services.experiment_delete_tag(
        actor=actor, experiment=experiment, key=fields.str("key", required=True)
    )
    return {}
