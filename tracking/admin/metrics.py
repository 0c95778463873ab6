"""Latest values, summaries and rollups in the admin: read-only, written by ingestion and by the
summary workers."""

from __future__ import annotations

from datetime import datetime

from django.contrib import admin

from tracking.admin.common import ReadOnlyRunChildAdmin, ms_to_datetime
from tracking.models import LatestMetric, MetricRollup, MetricSummary


@admin.register(LatestMetric)
class LatestMetricAdmin(ReadOnlyRunChildAdmin):
    list_display = ("key", "value_display", "step", "logged_at", "run")
    search_fields = ("run__run_id__exact", "key__exact")
    ordering = ("run_id", "key")

    @admin.display(description="value")
    def value_display(self, latest: LatestMetric) -> float:
        return latest.display_value

    @admin.display(description="logged at")
    def logged_at(self, latest: LatestMetric) -> datetime | None:
        return ms_to_datetime(latest.timestamp)


@admin.register(MetricSummary)
class MetricSummaryAdmin(ReadOnlyRunChildAdmin):
    list_display = ("key", "count", "nan_count", "min", "max", "mean", "seq", "computed_at", "run")
    ordering = ("run_id", "key")


@admin.register(MetricRollup)
class MetricRollupAdmin(ReadOnlyRunChildAdmin):
    list_display = (
        "key",
        "width",
        "block",
        "count",
        "min",
        "max",
        "first_step",
        "last_step",
        "seq",
        "run",
    )
    search_fields = ("run__run_id__exact", "key__exact")
    # The unique constraint's column order, so the index serves the order and the run filter.
    ordering = ("run_id", "key", "width", "block")
