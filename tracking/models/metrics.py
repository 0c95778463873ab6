"""Metric points of runs, each key's latest point, summaries and chart rollups."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from tracking.models.runs import Run


class Metric(models.Model):
    """One logged point of one metric key of a run.

    NaN is stored as value 0 with is_nan set, because SQLite stores NaN as NULL and a NULL would
    slip through the primary key that keeps retried batches from writing twice.
    """

    # The primary key's index starts with run: an index of its own would cost every insert.
    # No database constraint either: its trigger checked every inserted point against the run,
    # a large part of a batch's cost. Points are only written in a statement that
    # has just locked their run's row, and deleting runs (purge) locks them first, so a point
    # cannot outlive its run; deletes cascade in Django's collector as before.
    run = models.ForeignKey(
        Run,
        on_delete=models.CASCADE,
        related_name="metrics",
        db_index=False,
        db_constraint=False,
    )
    key = models.CharField(max_length=250)
    step = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField(help_text="Milliseconds since the epoch.")
    value = models.FloatField()
    is_nan = models.BooleanField(default=False)
    # The run's metric_seq of the write that stored the point (0: stored before seqs were kept),
    # so the summary worker reads only the points written since its last summary. Points
    # inserted outside the app get the database default 0: a key's first summary counts them,
    # a later one does not (`rebuild_summaries` does).
    seq = models.BigIntegerField(default=0, db_default=0)

    # A point is what it holds, as in MLflow's own schema: a retried batch writes nothing twice,
    # and the key is also the index for "history of one key of one run in step order". No
    # surrogate id: its index took an entry for every point, and concurrent batches queued for
    # its last page. Django's admin cannot list a model with a composite key, so points have a
    # page per run there instead (tracking/admin/points.py).
    pk = models.CompositePrimaryKey("run", "key", "step", "timestamp", "value", "is_nan")

    class Meta:
        indexes = [
            # "Points of this run written since seq S". A batch's points share one entry value,
            # which the B-tree stores once (deduplication), so it costs a batch little.
            models.Index(fields=["run", "seq"], name="metric_run_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.key}[{self.step}]={self.display_value}"

    @property
    def display_value(self) -> float:
        return float("nan") if self.is_nan else self.value


class LatestMetric(models.Model):
    """The latest point of each key of a run (highest step, then timestamp, then value).

    Kept exact in the write path, because MLflow's API returns and searches by it.
    """

    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="latest_metrics", db_index=False
    )
    key = models.CharField(max_length=250)
    value = models.FloatField()
    is_nan = models.BooleanField(default=False)
    step = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField()
    # The run's metric_seq of the last write to this key: the summary of the key is stale
    # while its own seq is lower.
    seq = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["key"]
        constraints = [
            # On PostgreSQL it also carries value and is_nan (INCLUDE, migration 0005), so a
            # search's `metrics.acc > 0.5` checks each candidate run without reading the table.
            # Not declared here: Django would leave the whole constraint out on SQLite, which
            # has no such columns, and the upserts need it. Updates cost no more: the value is
            # in latestmetric_key_value already, so they could not be HOT anyway.
            models.UniqueConstraint(fields=["run", "key"], name="latestmetric_unique_key"),
        ]
        indexes = [models.Index(fields=["key", "value"], name="latestmetric_key_value")]

    def __str__(self) -> str:
        return f"{self.key}={self.display_value}"

    @property
    def display_value(self) -> float:
        return float("nan") if self.is_nan else self.value


class MetricSummary(models.Model):
    """Count, min, max and mean of one key of a run, computed by a Celery worker (a run's first
    batch of points right after it is written; see tracking.services.summaries)."""

    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="metric_summaries", db_index=False
    )
    key = models.CharField(max_length=250)
    count = models.BigIntegerField(default=0, help_text="Points, NaN included.")
    nan_count = models.BigIntegerField(default=0)
    min = models.FloatField(null=True, blank=True, help_text="Ignores NaN.")
    max = models.FloatField(null=True, blank=True, help_text="Ignores NaN.")
    sum = models.FloatField(null=True, blank=True, help_text="Of the non-NaN values.")
    first_step = models.BigIntegerField(null=True, blank=True)
    last_step = models.BigIntegerField(null=True, blank=True)
    last_timestamp = models.BigIntegerField(null=True, blank=True)
    seq = models.BigIntegerField(default=0, help_text="The run's metric_seq this summary covers.")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="metricsummary_unique_key"),
        ]
        verbose_name_plural = "metric summaries"

    def __str__(self) -> str:
        return f"{self.key}: {self.count} points"

    @property
    def mean(self) -> float | None:
        values = self.count - self.nan_count
        if not values or self.sum is None:
            return None
        return self.sum / values


class MetricRollup(models.Model):
    """Count, min, max and last point of one block of steps of a long key, for fast charts.

    Kept by the summary worker for keys with many points (tracking.services.summaries), which
    rewrites only the blocks new points fall in; a key's rollups of one width are usable while
    their highest seq is not below its LatestMetric's seq. NaN points are left out, as charts
    leave them out. Two widths (tracking.services.rollups): coarse blocks for one long history,
    fine ones for the chart view of many runs.
    """

    # The unique (run, key, block) index serves lookups by run too.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="metric_rollups", db_index=False
    )
    key = models.CharField(max_length=250)
    width = models.PositiveIntegerField(help_text="Steps per block.")
    block = models.BigIntegerField(help_text="step // width.")
    count = models.BigIntegerField()
    min = models.FloatField()
    max = models.FloatField()
    first_step = models.BigIntegerField()
    last_step = models.BigIntegerField()
    last_timestamp = models.BigIntegerField()
    last_value = models.FloatField()
    seq = models.BigIntegerField(help_text="The run's metric_seq when this block was written.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "key", "width", "block"], name="metricrollup_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}[{self.block} of {self.width}]: {self.count} points"
