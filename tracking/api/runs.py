"""The native API for runs: search, create, read, change, delete, restore, and log to."""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery, prefetch_related_objects
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
)
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import require_role
from accounts.models import Role
from mlplatform.api.base import NativeAPIView
from tracking import search
from tracking.batch import MetricIn, ParamIn, TagIn
from tracking.errors import InvalidInput
from tracking.filters import RunFilter
from tracking.models import Experiment, LatestMetric, Param, Run, RunTag
from tracking.selectors.lookups import experiment_for_user, run_for_user
from tracking.selectors.runs import run_queryset
from tracking.services import runs as run_services
from tracking.services.ingest import run_log_batch
from tracking.validation import NOTE_TAG

from . import serializers as s
from .common import (
    PAGE_PARAMETERS,
    request_actor,
    valid,
)
from .pagination import next_link, paginate

COLUMN_PREFIXES = {"params": Param, "metrics": LatestMetric, "tags": RunTag}


RUN_QUERY_PARAMETERS = [
    OpenApiParameter(
        "filter",
        str,
        description="MLflow's filter grammar, e.g. `metrics.acc > 0.9 and params.lr = '0.01'`.",
    ),
    OpenApiParameter(
        "order_by",
        str,
        many=True,
        explode=True,
        description="MLflow order_by clauses on attributes, params and metrics, e.g. "
        "`metrics.loss ASC`; repeat for several.",
    ),
    OpenApiParameter(
        "columns",
        str,
        description="Comma-separated `params.<key>`, `metrics.<key>`, `tags.<key>` to include; "
        "absent: all of them; empty: none.",
    ),
]


def requested_columns(request: Request) -> dict[str, list[str]] | None:
    """The keys asked for per kind, or None for everything."""
    raw = request.query_params.get("columns")
    if raw is None:
        return None
    wanted: dict[str, list[str]] = {kind: [] for kind in COLUMN_PREFIXES}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        kind, dot, key = item.partition(".")
        if not dot or kind not in COLUMN_PREFIXES or not key:
            raise InvalidInput(
                f"Invalid column '{item[:100]}': use params.<key>, metrics.<key> or tags.<key>.",
                field="columns",
            )
        wanted[kind].append(key)
    return wanted


def column_prefetches(columns: dict[str, list[str]] | None) -> list[Prefetch]:
    related = {"params": "params", "metrics": "latest_metrics", "tags": "tags"}
    prefetches = []
    for kind, model in COLUMN_PREFIXES.items():
        qs = model.objects.order_by("key")
        if columns is not None:
            qs = qs.filter(key__in=columns[kind])
        prefetches.append(Prefetch(related[kind], queryset=qs))
    return prefetches


def _with_description(qs: QuerySet[Run]) -> QuerySet[Run]:
    notes = RunTag.objects.filter(run=OuterRef("pk"), key=NOTE_TAG).values("value")[:1]
    return qs.select_related("parent").annotate(description=Subquery(notes))


def search_queryset(request: Request, experiment: Experiment) -> tuple[QuerySet[Run], bool]:
    """The experiment's runs matching FilterSet and `filter=`, ordered; and whether in default
    order."""
    filter_string = request.query_params.get("filter", "")
    order_by = [clause for clause in request.query_params.getlist("order_by") if clause.strip()]
    try:
        search.parse_filter(filter_string)
    except search.SearchError as exc:
        raise InvalidInput(str(exc), field="filter") from None
    try:
        search.parse_order_by(order_by)
    except search.SearchError as exc:
        raise InvalidInput(str(exc), field="order_by") from None
    qs = run_queryset(
        experiments=[experiment],
        filter_string=filter_string,
        order_by=order_by,
        run_view_type="ALL",
    )
    filterset = RunFilter(request.query_params, queryset=_with_description(qs), request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs, not order_by


class RunListView(NativeAPIView, GenericAPIView):
    queryset = Run.objects.all()
    filterset_class = RunFilter
    serializer_class = s.RunCreateSerializer

    @extend_schema(
        summary="List and search an experiment's runs",
        parameters=[*RUN_QUERY_PARAMETERS, *PAGE_PARAMETERS],
        filters=True,
        responses=s.RunPageSerializer,
    )
    def get(self, request: Request, experiment_id: int) -> Response:
        experiment = experiment_for_user(actor=request_actor(request), experiment_id=experiment_id)
        columns = requested_columns(request)
        qs, default_order = search_queryset(request, experiment)
        rows, cursor = paginate(request, qs, keyset=default_order)
        prefetch_related_objects(rows, *column_prefetches(columns))
        data = {"next": next_link(request, cursor), "results": rows}
        return Response(s.RunPageSerializer(data).data)

    @extend_schema(
        summary="Start a run", request=s.RunCreateSerializer, responses={201: s.RunSerializer}
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        actor = request_actor(request)
        experiment = experiment_for_user(actor=actor, experiment_id=experiment_id)
        data = valid(s.RunCreateSerializer, request.data)
        run = run_services.run_create(
            actor=actor,
            experiment=experiment,
            name=data["name"],
            start_time=data.get("start_time"),
            tags=data.get("tags"),
        )
        return Response(run_data(run.run_id), status=201)


def run_data(run_id: str) -> dict:
    run = _with_description(Run.objects.select_related("experiment__project", "user")).get(
        run_id=run_id
    )
    prefetch_related_objects([run], *column_prefetches(None))
    return s.RunSerializer(run).data


class RunDetailView(NativeAPIView):
    @extend_schema(summary="Retrieve a run", responses=s.RunSerializer)
    def get(self, request: Request, run_id: str) -> Response:
        actor = request_actor(request)
        run = run_for_user(actor=actor, run_id=run_id)
        return Response(run_data(run.run_id))

    @extend_schema(
        summary="Change a run's name, status, end time or description",
        request=s.RunUpdateSerializer,
        responses=s.RunSerializer,
    )
    def patch(self, request: Request, run_id: str) -> Response:
        actor = request_actor(request)
        run = run_for_user(actor=actor, run_id=run_id)
        data = valid(s.RunUpdateSerializer, request.data)
        run_services.run_update(
            actor=actor,
            run=run,
            status=data.get("status"),
            end_time=data.get("end_time"),
            name=data.get("name"),
            description=data.get("description"),
        )
        return Response(run_data(run.run_id))

    @extend_schema(summary="Delete a run (restorable)", responses={204: None})
    def delete(self, request: Request, run_id: str) -> Response:
        actor = request_actor(request)
        run_services.run_delete(actor=actor, run=run_for_user(actor=actor, run_id=run_id))
        return Response(status=204)


class RunRestoreView(NativeAPIView):
    @extend_schema(summary="Restore a deleted run", request=None, responses=s.RunSerializer)
    def post(self, request: Request, run_id: str) -> Response:
        actor = request_actor(request)
        run = run_for_user(actor=actor, run_id=run_id)
        run_services.run_restore(actor=actor, run=run)
        return Response(run_data(run.run_id))


class RunLogView(NativeAPIView):
    throttle_scope = "log"

    @extend_schema(
        summary="Log one batch of metrics, params and tags",
        description="All or nothing, with MLflow's limits (1000 metrics, 100 params, 100 tags); "
        "a retried batch writes nothing twice. Params are immutable.",
        request=s.LogBatchSerializer,
        responses={204: None},
    )
    def post(self, request: Request, run_id: str) -> Response:
        actor = request_actor(request)
        run = run_for_user(actor=actor, run_id=run_id)
        require_role(actor=actor, project=run.experiment.project, need=Role.EDITOR)
        data = valid(s.LogBatchSerializer, request.data)
        run_log_batch(
            run=run,
            metrics=[MetricIn(**m) for m in data["metrics"]],
            params=[ParamIn(**p) for p in data["params"]],
            tags=[TagIn(**t) for t in data["tags"]],
        )
        return Response(status=204)
