"""Metric summaries as pages and APIs show them: the figures, when they were computed, and
whether newer points exist; and how far behind the summaries are, for `/healthz`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, Min, OuterRef, QuerySet
from django.utils import timezone

from tracking.models import LatestMetric, MetricSummary, Run

SUMMARY_FIELDS = [
    "count",
    "nan_count",
    "min",
    "max",
    "sum",
    "first_step",
    "last_step",
    "last_timestamp",
    "seq",
    "computed_at",
]


def stale_latest_metrics() -> QuerySet[LatestMetric]:
    """Keys whose summary is missing or older than their newest write."""
    fresh = MetricSummary.objects.filter(
        run_id=OuterRef("run_id"), key=OuterRef("key"), seq__gte=OuterRef("seq")
    )
    return LatestMetric.objects.filter(~Exists(fresh))


@dataclass(frozen=True, slots=True)
class KeySummary:
    """One metric of one run: its latest point, its summary (None until first computed), and
    whether points newer than the summary exist."""

    key: str
    latest_value: float
    latest_step: int
    latest_timestamp: int
    count: int | None
    nan_count: int | None
    min: float | None
    max: float | None
    mean: float | None
    first_step: int | None
    last_step: int | None
    last_timestamp: int | None
    computed_at: datetime | None
    stale: bool


def _key_summary(latest: LatestMetric, summary: MetricSummary | None) -> KeySummary:
    return KeySummary(
        key=latest.key,
        latest_value=latest.display_value,
        latest_step=latest.step,
        latest_timestamp=latest.timestamp,
        count=summary.count if summary else None,
        nan_count=summary.nan_count if summary else None,
        min=summary.min if summary else None,
        max=summary.max if summary else None,
        mean=summary.mean if summary else None,
        first_step=summary.first_step if summary else None,
        last_step=summary.last_step if summary else None,
        last_timestamp=summary.last_timestamp if summary else None,
        computed_at=summary.computed_at if summary else None,
        stale=summary is None or summary.seq < latest.seq,
    )


def metric_summary_map(*, runs: Iterable[Run]) -> dict[int, dict[str, KeySummary]]:
    """Per run pk, per key, in key order: the summaries of runs the caller may already see.

    Two queries whatever the number of runs, for the runs table and the compare page.
    """
    run_pks = [run.pk for run in runs]
    summaries = {
        (s.run_id, s.key): s
        for s in MetricSummary.objects.filter(run_id__in=run_pks).only(
            "run_id", "key", *SUMMARY_FIELDS
        )
    }
    result: dict[int, dict[str, KeySummary]] = {pk: {} for pk in run_pks}
    for latest in LatestMetric.objects.filter(run_id__in=run_pks).order_by("run_id", "key"):
        result[latest.run_id][latest.key] = _key_summary(
            latest, summaries.get((latest.run_id, latest.key))
        )
    return result


def metric_summary_list(*, run: Run) -> list[KeySummary]:
    """The summaries of a run's metrics in key order; `run` comes from `run_for_user`."""
    return list(metric_summary_map(runs=[run])[run.pk].values())


def stale_summary_figures() -> dict:
    """How many keys have a missing or outdated summary, and the age of the oldest of them."""
    now = timezone.now()
    newer = LatestMetric.objects.filter(
        run_id=OuterRef("run_id"), key=OuterRef("key"), seq__gt=OuterRef("seq")
    )
    oldest_computed = MetricSummary.objects.filter(Exists(newer)).aggregate(
        oldest=Min("computed_at")
    )["oldest"]
    any_summary = MetricSummary.objects.filter(run_id=OuterRef("run_id"), key=OuterRef("key"))
    # A key never summarised has no computed_at; the client's timestamp of its latest point is
    # the best clock we have for when it was written.
    never_oldest_ms = (
        stale_latest_metrics().filter(~Exists(any_summary)).aggregate(oldest=Min("timestamp"))
    )["oldest"]
    ages = []
    if oldest_computed is not None:
        ages.append((now - oldest_computed).total_seconds())
    if never_oldest_ms is not None:
        ages.append(now.timestamp() - never_oldest_ms / 1000)
    return {
        "stale_keys": stale_latest_metrics().aggregate(n=Count("id"))["n"],
        "oldest_stale_seconds": round(max(0.0, *ages), 1) if ages else 0.0,
    }
