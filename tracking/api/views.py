"""The native REST API of tracking: experiments, runs, logging, metrics, artifacts and exports.

Views only translate: they validate input, call one service or selector, and serialize.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Iterator

from django.db import transaction
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery, prefetch_related_objects
from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import renderers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import Actor, project_for, require_role
from accounts.models import Role
from mlplatform.api.base import NativeAPIView
from tracking import artifacts, search
from tracking.errors import InvalidInput
from tracking.exports import csv_lines
from tracking.filters import ExperimentFilter, RunFilter
from tracking.models import Experiment, LatestMetric, Metric, Param, Run, RunTag
from tracking.selectors.lookups import experiment_for_user, run_for_user
from tracking.selectors.metrics import MAX_HISTORY_PAGE, metric_history
from tracking.selectors.runs import run_queryset
from tracking.selectors.series import metric_series
from tracking.selectors.summaries import metric_summary_list
from tracking.services import experiments as experiment_services
from tracking.services import runs as run_services
from tracking.services.ingest import MetricIn, ParamIn, TagIn, run_log_batch

from . import serializers as s
from .pagination import next_link, page_size_from, paginate

MAX_SERIES_RUNS = 100
CSV_CHUNK = 2000
RUN_CSV_CHUNK = 500
COLUMN_PREFIXES = {"params": Param, "metrics": LatestMetric, "tags": RunTag}


class CSVRenderer(renderers.BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation; errors still render as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class OctetRenderer(CSVRenderer):
    media_type = "application/octet-stream"
    format = "bin"
    charset = None


def _actor(request: Request) -> Actor:
    return Actor.from_request(request)


def _valid(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _project_experiment(request: Request, slug: str, experiment_id: int) -> Experiment:
    actor = _actor(request)
    project = project_for(actor=actor, slug=slug)
    experiment = experiment_for_user(actor=actor, experiment_id=experiment_id)
    if experiment.project_id != project.pk:
        raise Http404("No such experiment in this project.")
    return experiment


def _with_tags(experiment: Experiment) -> Experiment:
    prefetch_related_objects([experiment], "tags")
    return experiment


# --- experiments ----------------------------------------------------------------------------

PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The `next` link's cursor."),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": 1000},
        description="Rows per page, 1-1000 (default 100).",
    ),
]


class ExperimentListView(NativeAPIView, GenericAPIView):
    queryset = Experiment.objects.all()
    filterset_class = ExperimentFilter
    serializer_class = s.ExperimentCreateSerializer

    @extend_schema(
        summary="List the project's experiments",
        operation_id="experiments_list",
        parameters=PAGE_PARAMETERS,
        filters=True,
        responses=s.ExperimentPageSerializer,
    )
    def get(self, request: Request, slug: str) -> Response:
        project = project_for(actor=_actor(request), slug=slug)
        qs = (
            Experiment.objects.filter(project=project)
            .select_related("project")
            .order_by("name", "pk")
        )
        filterset = ExperimentFilter(request.query_params, queryset=qs, request=request)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        rows, cursor = paginate(request, filterset.qs, keyset=False)
        prefetch_related_objects(rows, "tags")
        data = {"next": next_link(request, cursor), "results": rows}
        return Response(s.ExperimentPageSerializer(data).data)

    @extend_schema(
        summary="Create an experiment",
        request=s.ExperimentCreateSerializer,
        responses={201: s.ExperimentSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = _actor(request)
        project = project_for(actor=actor, slug=slug)
        data = _valid(s.ExperimentCreateSerializer, request.data)
        experiment = experiment_services.experiment_create(
            actor=actor,
            project=project,
            name=data["name"],
            description=data["description"],
            tags=data.get("tags"),
        )
        return Response(s.ExperimentSerializer(_with_tags(experiment)).data, status=201)


class ExperimentDetailView(NativeAPIView):
    @extend_schema(
        summary="Retrieve an experiment",
        operation_id="experiments_retrieve",
        responses=s.ExperimentSerializer,
    )
    def get(self, request: Request, slug: str, experiment_id: int) -> Response:
        experiment = _project_experiment(request, slug, experiment_id)
        return Response(s.ExperimentSerializer(_with_tags(experiment)).data)

    @extend_schema(
        summary="Rename an experiment, change its description or set tags",
        request=s.ExperimentUpdateSerializer,
        responses=s.ExperimentSerializer,
    )
    def patch(self, request: Request, slug: str, experiment_id: int) -> Response:
        actor = _actor(request)
        experiment = _project_experiment(request, slug, experiment_id)
        data = _valid(s.ExperimentUpdateSerializer, request.data)
        with transaction.atomic():
            experiment = experiment_services.experiment_update(
                actor=actor,
                experiment=experiment,
                name=data.get("name"),
                description=data.get("description"),
            )
            for key, value in sorted(data.get("tags", {}).items()):
                experiment_services.experiment_set_tag(
                    actor=actor, experiment=experiment, key=key, value=value
                )
        return Response(s.ExperimentSerializer(_with_tags(experiment)).data)

    @extend_schema(summary="Delete an experiment (restorable) with its runs", responses={204: None})
    def delete(self, request: Request, slug: str, experiment_id: int) -> Response:
        experiment = _project_experiment(request, slug, experiment_id)
        experiment_services.experiment_delete(actor=_actor(request), experiment=experiment)
        return Response(status=204)


class ExperimentRestoreView(NativeAPIView):
    @extend_schema(
        summary="Restore a deleted experiment with its runs",
        request=None,
        responses=s.ExperimentSerializer,
    )
    def post(self, request: Request, slug: str, experiment_id: int) -> Response:
        experiment = _project_experiment(request, slug, experiment_id)
        experiment_services.experiment_restore(actor=_actor(request), experiment=experiment)
        return Response(s.ExperimentSerializer(_with_tags(experiment)).data)


# --- runs -----------------------------------------------------------------------------------

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


def _columns(request: Request) -> dict[str, list[str]] | None:
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


def _prefetches(columns: dict[str, list[str]] | None) -> list[Prefetch]:
    related = {"params": "params", "metrics": "latest_metrics", "tags": "tags"}
    prefetches = []
    for kind, model in COLUMN_PREFIXES.items():
        qs = model.objects.order_by("key")
        if columns is not None:
            qs = qs.filter(key__in=columns[kind])
        prefetches.append(Prefetch(related[kind], queryset=qs))
    return prefetches


def _with_description(qs: QuerySet[Run]) -> QuerySet[Run]:
    notes = RunTag.objects.filter(run=OuterRef("pk"), key=s.NOTE_TAG).values("value")[:1]
    return qs.select_related("parent").annotate(description=Subquery(notes))


def _search_queryset(request: Request, experiment: Experiment) -> tuple[QuerySet[Run], bool]:
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
        experiment = experiment_for_user(actor=_actor(request), experiment_id=experiment_id)
        columns = _columns(request)
        qs, default_order = _search_queryset(request, experiment)
        rows, cursor = paginate(request, qs, keyset=default_order)
        prefetch_related_objects(rows, *_prefetches(columns))
        data = {"next": next_link(request, cursor), "results": rows}
        return Response(s.RunPageSerializer(data).data)

    @extend_schema(
        summary="Start a run", request=s.RunCreateSerializer, responses={201: s.RunSerializer}
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        actor = _actor(request)
        experiment = experiment_for_user(actor=actor, experiment_id=experiment_id)
        data = _valid(s.RunCreateSerializer, request.data)
        run = run_services.run_create(
            actor=actor,
            experiment=experiment,
            name=data["name"],
            start_time=data.get("start_time"),
            tags=data.get("tags"),
        )
        return Response(_run_data(run.run_id), status=201)


def _run_data(run_id: str) -> dict:
    run = _with_description(Run.objects.select_related("experiment__project", "user")).get(
        run_id=run_id
    )
    prefetch_related_objects([run], *_prefetches(None))
    return s.RunSerializer(run).data


class RunDetailView(NativeAPIView):
    @extend_schema(summary="Retrieve a run", responses=s.RunSerializer)
    def get(self, request: Request, run_id: str) -> Response:
        actor = _actor(request)
        run = run_for_user(actor=actor, run_id=run_id)
        return Response(_run_data(run.run_id))

    @extend_schema(
        summary="Change a run's name, status, end time or description",
        request=s.RunUpdateSerializer,
        responses=s.RunSerializer,
    )
    def patch(self, request: Request, run_id: str) -> Response:
        actor = _actor(request)
        run = run_for_user(actor=actor, run_id=run_id)
        data = _valid(s.RunUpdateSerializer, request.data)
        run_services.run_update(
            actor=actor,
            run=run,
            status=data.get("status"),
            end_time=data.get("end_time"),
            name=data.get("name"),
            description=data.get("description"),
        )
        return Response(_run_data(run.run_id))

    @extend_schema(summary="Delete a run (restorable)", responses={204: None})
    def delete(self, request: Request, run_id: str) -> Response:
        actor = _actor(request)
        run_services.run_delete(actor=actor, run=run_for_user(actor=actor, run_id=run_id))
        return Response(status=204)


class RunRestoreView(NativeAPIView):
    @extend_schema(summary="Restore a deleted run", request=None, responses=s.RunSerializer)
    def post(self, request: Request, run_id: str) -> Response:
        actor = _actor(request)
        run = run_for_user(actor=actor, run_id=run_id)
        run_services.run_restore(actor=actor, run=run)
        return Response(_run_data(run.run_id))


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
        actor = _actor(request)
        run = run_for_user(actor=actor, run_id=run_id)
        require_role(actor=actor, project=run.experiment.project, need=Role.EDITOR)
        data = _valid(s.LogBatchSerializer, request.data)
        run_log_batch(
            run=run,
            metrics=[MetricIn(**m) for m in data["metrics"]],
            params=[ParamIn(**p) for p in data["params"]],
            tags=[TagIn(**t) for t in data["tags"]],
        )
        return Response(status=204)


# --- metrics --------------------------------------------------------------------------------


class RunMetricsView(NativeAPIView):
    @extend_schema(
        summary="Each metric's latest value and its summary",
        description="The summary is computed asynchronously; `stale` says newer points exist.",
        responses=s.MetricSummarySerializer(many=True),
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_for_user(actor=_actor(request), run_id=run_id)
        return Response(s.MetricSummarySerializer(metric_summary_list(run=run), many=True).data)


SERIES_PARAMETERS = [
    OpenApiParameter(
        "points",
        {"type": "integer", "minimum": 1, "maximum": 5000},
        description="Downsample to at most this many buckets (1-5000), each with its min, max "
        "and last value.",
    ),
    OpenApiParameter("x", str, enum=["step", "time", "relative"], description="Bucket axis."),
    OpenApiParameter("step_min", int, description="Zoom: first step (with `points`)."),
    OpenApiParameter("step_max", int, description="Zoom: last step (with `points`)."),
]


def _series_options(request: Request) -> dict:
    return _valid(s.SeriesQuerySerializer, request.query_params)


class MetricHistoryView(NativeAPIView):
    @extend_schema(
        summary="A metric's raw points, paged, or a downsampled series",
        parameters=[
            *SERIES_PARAMETERS,
            OpenApiParameter("cursor", str, description="The `next` link's cursor (raw pages)."),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY_PAGE},
                description=f"Points per raw page, 1-{MAX_HISTORY_PAGE} (default 1000).",
            ),
        ],
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="MetricHistory",
                    serializers=[s.MetricHistoryPageSerializer, s.MetricSeriesSerializer],
                    resource_type_field_name=None,
                ),
                description="Raw points (MetricHistoryPage) without `points`; with it, "
                "a downsampled MetricSeries.",
            )
        },
    )
    def get(self, request: Request, run_id: str, key: str) -> Response:
        run = run_for_user(actor=_actor(request), run_id=run_id)
        options = _series_options(request)
        if options.get("points") is not None:
            buckets = metric_series(
                run=run,
                key=key,
                points=options["points"],
                x=options["x"],
                step_min=options.get("step_min"),
                step_max=options.get("step_max"),
            )
            data = {"key": key, "x": options["x"], "buckets": [b.as_dict() for b in buckets]}
            return Response(s.MetricSeriesSerializer(data).data)
        if options.get("step_min") is not None or options.get("step_max") is not None:
            raise InvalidInput("step_min and step_max need `points`.", field="step_min")
        size = page_size_from(request, default=1000, limit=MAX_HISTORY_PAGE)
        try:
            points, token = metric_history(
                run=run,
                key=key,
                max_results=size,
                page_token=request.query_params.get("cursor") or None,
            )
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field="cursor") from None
        data = {"key": key, "next": next_link(request, token), "results": points}
        return Response(s.MetricHistoryPageSerializer(data).data)


class MultiSeriesView(NativeAPIView):
    @extend_schema(
        summary="One metric of several runs, downsampled",
        parameters=[
            OpenApiParameter("runs", str, required=True, description="Comma-separated run ids."),
            OpenApiParameter("key", str, required=True, description="The metric key."),
            *SERIES_PARAMETERS,
        ],
        responses=s.MultiSeriesSerializer,
    )
    def get(self, request: Request) -> Response:
        options = _valid(s.MultiSeriesQuerySerializer, request.query_params)
        run_ids = list(dict.fromkeys(r.strip() for r in options["runs"].split(",") if r.strip()))
        if not run_ids:
            raise InvalidInput("Give at least one run id.", field="runs")
        if len(run_ids) > MAX_SERIES_RUNS:
            raise InvalidInput(f"At most {MAX_SERIES_RUNS} runs at once.", field="runs")
        runs = {
            run.run_id: run
            for run in Run.objects.select_related("experiment__project").filter(run_id__in=run_ids)
        }
        actor = _actor(request)
        checked: set[int] = set()
        for run_id in run_ids:
            run = runs.get(run_id)
            if run is None:
                raise Http404(f"No such run: {run_id[:40]}.")
            if run.experiment.project_id not in checked:
                require_role(actor=actor, project=run.experiment.project)
                checked.add(run.experiment.project_id)
        series = [
            {
                "run_id": run_id,
                "buckets": [
                    b.as_dict()
                    for b in metric_series(
                        run=runs[run_id],
                        key=options["key"],
                        points=options["points"],
                        x=options["x"],
                        step_min=options.get("step_min"),
                        step_max=options.get("step_max"),
                    )
                ],
            }
            for run_id in run_ids
        ]
        data = {"key": options["key"], "x": options["x"], "series": series}
        return Response(s.MultiSeriesSerializer(data).data)


# --- artifacts ------------------------------------------------------------------------------


def _artifact_root(run: Run) -> str:
    # The same layout as MLflow's proxied artifact endpoints, so both see the same files.
    return f"{run.experiment_id}/{run.run_id}/artifacts"


class ArtifactListView(NativeAPIView):
    @extend_schema(
        summary="List a run's artifacts",
        operation_id="run_artifacts_list",
        parameters=[OpenApiParameter("path", str, description="A folder under the run's root.")],
        responses=s.ArtifactListSerializer,
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_for_user(actor=_actor(request), run_id=run_id)
        sub = artifacts.safe_artifact_path(request.query_params.get("path", ""), allow_empty=True)
        root = _artifact_root(run)
        entries = artifacts.artifact_list(path=posixpath.join(root, sub) if sub else root)
        files = [
            {
                "path": posixpath.join(sub, e.path) if sub else e.path,
                "is_dir": e.is_dir,
                "size": e.size,
            }
            for e in entries
        ]
        return Response(s.ArtifactListSerializer({"path": sub, "files": files}).data)


class ArtifactDownloadView(NativeAPIView):
    renderer_classes = [renderers.JSONRenderer, OctetRenderer]

    @extend_schema(
        summary="Download one artifact",
        operation_id="run_artifact_download",
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def get(self, request: Request, run_id: str, path: str) -> FileResponse:
        run = run_for_user(actor=_actor(request), run_id=run_id)
        sub = artifacts.safe_artifact_path(path)
        handle = artifacts.artifact_open(path=posixpath.join(_artifact_root(run), sub))
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=posixpath.basename(sub),
            content_type="application/octet-stream",
        )
        # Artifacts are whatever a training job wrote: never let a browser render them.
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox"
        return response


# --- CSV exports ----------------------------------------------------------------------------


def _csv_response(filename: str, lines: Iterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


CSV_RESPONSE = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV rows.")}
RUN_ATTRIBUTES = ["run_id", "name", "status", "start_time", "end_time", "lifecycle", "user"]


class RunsCsvView(NativeAPIView, GenericAPIView):
    queryset = Run.objects.all()
    filterset_class = RunFilter
    serializer_class = s.RunSerializer
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        summary="Export the runs table as CSV, streamed",
        parameters=RUN_QUERY_PARAMETERS,
        filters=True,
        responses=CSV_RESPONSE,
    )
    def get(self, request: Request, experiment_id: int) -> StreamingHttpResponse:
        experiment = experiment_for_user(actor=_actor(request), experiment_id=experiment_id)
        columns = _columns(request)
        qs, _ = _search_queryset(request, experiment)
        if columns is None:
            runs = Run.objects.filter(experiment=experiment)
            columns = {
                kind: sorted(set(model.objects.filter(run__in=runs).values_list("key", flat=True)))
                for kind, model in COLUMN_PREFIXES.items()
            }
        header = RUN_ATTRIBUTES + [
            f"{kind}.{key}" for kind in COLUMN_PREFIXES for key in columns[kind]
        ]
        runs = qs.prefetch_related(*_prefetches(columns)).iterator(chunk_size=RUN_CSV_CHUNK)
        return _csv_response(
            f"experiment-{experiment.pk}-runs.csv",
            csv_lines(header, (_run_row(run, columns) for run in runs)),
        )


def _run_row(run: Run, columns: dict[str, list[str]]) -> list[object]:
    params = {p.key: p.value for p in run.params.all()}
    metrics = {m.key: m.display_value for m in run.latest_metrics.all()}
    tags = {t.key: t.value for t in run.tags.all()}
    values = {"params": params, "metrics": metrics, "tags": tags}
    row: list[object] = [
        run.run_id,
        run.name,
        run.status,
        run.start_time,
        run.end_time,
        run.lifecycle,
        run.user.get_username() if run.user_id else "",
    ]
    for kind in COLUMN_PREFIXES:
        row.extend(values[kind].get(key) for key in columns[kind])
    return row


class MetricHistoryCsvView(NativeAPIView):
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(
        summary="Export a metric's full history as CSV, streamed", responses=CSV_RESPONSE
    )
    def get(self, request: Request, run_id: str, key: str) -> StreamingHttpResponse:
        run = run_for_user(actor=_actor(request), run_id=run_id)
        points = (
            Metric.objects.filter(run=run, key=key)
            .order_by("step", "timestamp", "pk")
            .values_list("step", "timestamp", "value", "is_nan")
            .iterator(chunk_size=CSV_CHUNK)
        )
        rows = ((step, ts, math.nan if nan else value) for step, ts, value, nan in points)
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)
        return _csv_response(
            f"{run.run_id}-{safe}.csv", csv_lines(["step", "timestamp", "value"], rows)
        )


class EndpointNotFoundView(NativeAPIView):
    """Any other address under /api/v1/: a 404 in the API's error shape, not the HTML page."""

    schema = None

    def _not_found(self, request: Request, *args, **kwargs) -> Response:
        raise Http404("No API endpoint at this address.")

    get = post = put = patch = delete = _not_found
