"""Streamed CSV exports of the native API: an experiment's runs, a metric's history."""

from __future__ import annotations

import math
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
)
from rest_framework import renderers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request

from mlplatform.api.base import NativeAPIView
from tracking.exports import csv_lines
from tracking.filters import RunFilter
from tracking.models import Metric, Run
from tracking.selectors.lookups import experiment_for_user, run_for_user

from . import serializers as s
from .common import (
    CSVRenderer,
    request_actor,
)
from .runs import (
    COLUMN_PREFIXES,
    RUN_QUERY_PARAMETERS,
    column_prefetches,
    requested_columns,
    search_queryset,
)

CSV_CHUNK = 2000
RUN_CSV_CHUNK = 500


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
        experiment = experiment_for_user(actor=request_actor(request), experiment_id=experiment_id)
        columns = requested_columns(request)
        qs, _ = search_queryset(request, experiment)
        if columns is None:
            runs = Run.objects.filter(experiment=experiment)
            columns = {
                kind: sorted(set(model.objects.filter(run__in=runs).values_list("key", flat=True)))
                for kind, model in COLUMN_PREFIXES.items()
            }
        header = RUN_ATTRIBUTES + [
            f"{kind}.{key}" for kind in COLUMN_PREFIXES for key in columns[kind]
        ]
        runs = qs.prefetch_related(*column_prefetches(columns)).iterator(chunk_size=RUN_CSV_CHUNK)
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
        run = run_for_user(actor=request_actor(request), run_id=run_id)
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
