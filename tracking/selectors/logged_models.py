"""Reading logged models: one for an actor, searches, and the models of runs."""

from __future__ import annotations

import base64
import json

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from accounts.access import Actor, require_role
from accounts.models import Role
from tracking import artifacts
from tracking.errors import InvalidInput, NotFound
from tracking.model_search import filter_models, order_models, parse_model_filter, parse_model_order
from tracking.models import (
    Experiment,
    Lifecycle,
    LoggedModel,
    LoggedModelMetric,
    Run,
    RunModelLink,
)

SEARCH_DEFAULT_MAX_RESULTS = 100
SEARCH_MAX_RESULTS = 1000


def with_model_details(models: QuerySet[LoggedModel]) -> QuerySet[LoggedModel]:
    """The models with what model_out and the serializers show, in a fixed number of queries."""
    return models.select_related("experiment__project", "source_run", "user").prefetch_related(
        "params",
        "tags",
        Prefetch(
            "metrics",
            queryset=LoggedModelMetric.objects.select_related("run").order_by(
                "key", "timestamp", "step"
            ),
        ),
    )


def logged_model_for_user(
    *, actor: Actor, model_id: str, need: Role = Role.VIEWER, allow_deleted: bool = False
) -> LoggedModel:
    """The model with its params, tags and metrics; NotFound when it does not exist, is
    deleted, or the actor cannot see its project (never a hint that it exists)."""
    model = with_model_details(LoggedModel.objects.filter(model_id=str(model_id))).first()
    if model is None or (model.lifecycle != Lifecycle.ACTIVE and not allow_deleted):
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    try:
        require_role(actor=actor, project=model.experiment.project, need=need)
    except Http404:
        raise NotFound(f"Logged model with ID '{model_id}' not found.") from None
    return model


def _encode_token(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode()


def _decode_token(token: str) -> dict:
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(state, dict) or not isinstance(state.get("offset"), int):
            raise ValueError
    except (ValueError, UnicodeError, TypeError):
        raise InvalidInput("Invalid page token.", field="page_token") from None
    return state


def logged_model_search(
    *,
    experiments: QuerySet[Experiment],
    experiment_ids: list[str],
    filter_string: str | None = None,
    datasets: list[dict] | None = None,
    order_by: list | None = None,
    max_results: int | None = None,
    page_token: str | None = None,
) -> tuple[list[LoggedModel], str | None]:
    """A page of the active models of the experiments, as MLflow's search_logged_models."""
    max_results = max_results or SEARCH_DEFAULT_MAX_RESULTS
    if not 1 <= max_results <= SEARCH_MAX_RESULTS:
        raise InvalidInput(
            f"Invalid value {max_results} for parameter 'max_results': it must be between 1 and "
            f"{SEARCH_MAX_RESULTS}.",
            field="max_results",
        )
    if datasets and not all(isinstance(d, dict) and d.get("dataset_name") for d in datasets):
        raise InvalidInput(
            "`dataset_name` in the `datasets` clause must be specified.", field="datasets"
        )
    comparisons = parse_model_filter(filter_string)
    orders = parse_model_order(order_by or [])
    # The token remembers the query it pages through, as MLflow's does.
    query = {"experiment_ids": experiment_ids, "filter": filter_string, "order_by": order_by}
    offset = 0
    if page_token:
        state = _decode_token(page_token)
        if {k: state.get(k) for k in query} != json.loads(json.dumps(query)):
            raise InvalidInput("The page token was issued for another search.", field="page_token")
        offset = state["offset"]
    models = LoggedModel.objects.filter(experiment__in=experiments, lifecycle=Lifecycle.ACTIVE)
    models = order_models(filter_models(models, comparisons, datasets), orders)
    page = list(with_model_details(models)[offset : offset + max_results + 1])
    token = None
    if len(page) > max_results:
        token = _encode_token({**query, "offset": offset + max_results})
    return page[:max_results], token


def run_model_links(*, run_pks: list[int]) -> dict[int, list[RunModelLink]]:
    """The logged models each run produced or used, by run pk (active models only)."""
    links: dict[int, list[RunModelLink]] = {pk: [] for pk in run_pks}
    rows = (
        RunModelLink.objects.filter(run_id__in=run_pks, model__lifecycle=Lifecycle.ACTIVE)
        .select_related("model")
        .order_by("pk")
    )
    for link in rows:
        links[link.run_id].append(link)
    return links


def experiment_logged_models(*, experiment: Experiment) -> QuerySet[LoggedModel]:
    """The experiment's active models, newest first, for its Models list."""
    return (
        LoggedModel.objects.filter(experiment=experiment, lifecycle=Lifecycle.ACTIVE)
        .select_related("source_run")
        .order_by("-created_time", "model_id")
    )


_MLMODEL_BYTES = 100_000


def logged_model_flavors(*, model: LoggedModel) -> list[str]:
    """The flavours in the model's MLmodel file (`sklearn`, `python_function`, ...), read from
    its artifacts; empty while the files are not uploaded."""
    try:
        with artifacts.artifact_open(path=f"{model.artifact_root}/MLmodel") as handle:
            text = handle.read(_MLMODEL_BYTES).decode("utf-8", errors="replace")
    except NotFound:
        return []
    # MLmodel is YAML; its `flavors:` block lists one flavour per two-space-indented key.
    flavors, inside = [], False
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            inside = line.rstrip() == "flavors:"
            continue
        if inside and line.startswith("  ") and not line.startswith("   "):
            name = line.strip().split(":", 1)[0]
            if name:
                flavors.append(name)
    return flavors


def run_logged_models(*, run: Run) -> list[LoggedModel]:
    """The active models a run logged (as their source run or as an output), oldest first."""
    linked = RunModelLink.objects.filter(run=run).values("model_id")
    return list(
        LoggedModel.objects.filter(lifecycle=Lifecycle.ACTIVE)
        .filter(Q(source_run=run) | Q(pk__in=linked))
        .order_by("created_time", "model_id")[:100]
    )
