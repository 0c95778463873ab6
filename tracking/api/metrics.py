"""The native API for metrics: summaries, raw and downsampled histories."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework.request import Request
from rest_framework.response import Response

from mlplatform.api.base import NativeAPIView
from tracking.errors import InvalidInput
from tracking.selectors.lookups import run_for_user, runs_for_user
from tracking.selectors.metrics import MAX_HISTORY_PAGE, metric_history
from tracking.selectors.series import metric_series
from tracking.selectors.summaries import metric_summary_list

from . import serializers as s
from .common import (
    request_actor,
    valid,
)
from .pagination import next_link, page_size_from

MAX_SERIES_RUNS = 100


class RunMetricsView(NativeAPIView):
    @extend_schema(
        summary="Each metric's latest value and its summary",
        description="The summary is computed asynchronously; `stale` says newer points exist.",
        responses=s.MetricSummarySerializer(many=True),
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_for_user(actor=request_actor(request), run_id=run_id)
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
    return valid(s.SeriesQuerySerializer, request.query_params)


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
        run = run_for_user(actor=request_actor(request), run_id=run_id)
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
        options = valid(s.MultiSeriesQuerySerializer, request.query_params)
        run_ids = list(dict.fromkeys(r.strip() for r in options["runs"].split(",") if r.strip()))
        if not run_ids:
            raise InvalidInput("Give at least one run id.", field="runs")
        if len(run_ids) > MAX_SERIES_RUNS:
            raise InvalidInput(f"At most {MAX_SERIES_RUNS} runs at once.", field="runs")
        runs = {
            run.run_id: run for run in runs_for_user(actor=request_actor(request), run_ids=run_ids)
        }
        for run_id in run_ids:
            if run_id not in runs:
                raise Http404(f"No such run: {run_id[:40]}.")
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
