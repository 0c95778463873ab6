"""The tracking domain: experiments, runs, params, tags and metric points with their summaries."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from accounts.models import Project

DEFAULT_EXPERIMENT_NAME = "Default"


# Param and tag values up to this many characters are indexed by (key, value): nearly all are,
# and a B-tree entry cannot hold the longest values. Search adds the redundant length test to
# `value = '...'` so PostgreSQL and SQLite can prove the partial index applies.
INDEXED_VALUE_LENGTH = 200


def _short_value_index(name: str) -> models.Index:
    # With the run in the index, a search's `params.lr = '0.01'` finds its runs without reading
    # the table (an index-only scan, on PostgreSQL, once vacuum has marked the pages visible).
    return models.Index(
        fields=["key", "value"],
        name=name,
        condition=Q(LessThanOrEqual(Length("value"), INDEXED_VALUE_LENGTH)),
        include=["run"],
    )


def now_ms() -> int:
    return int(timezone.now().timestamp() * 1000)


def new_run_id() -> str:
    return uuid.uuid4().hex


class Lifecycle(models.TextChoices):
    ACTIVE = "active", "Active"
    DELETED = "deleted", "Deleted"


class RunStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    SCHEDULED = "SCHEDULED", "Scheduled"
    FINISHED = "FINISHED", "Finished"
    FAILED = "FAILED", "Failed"
    KILLED = "KILLED", "Killed"


class ExperimentQuerySet(models.QuerySet):
    def visible_to(self, user) -> ExperimentQuerySet:
        return self.filter(project__in=Project.objects.visible_to(user))

    def active(self) -> ExperimentQuerySet:
        return self.filter(lifecycle=Lifecycle.ACTIVE)


class Experiment(models.Model):
    """A named group of runs inside a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=500)
    # MLflow's `mlflow.note.content` tag, so a tag value's limit (forms check it; so do services).
    description = models.TextField(blank=True, max_length=8000)
    lifecycle = models.CharField(max_length=8, choices=Lifecycle.choices, default=Lifecycle.ACTIVE)
    artifact_location = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ExperimentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="experiment_unique_name"),
            models.CheckConstraint(
                condition=Q(lifecycle__in=Lifecycle.values), name="experiment_lifecycle_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # What tracking.services.experiments refuses too, as a form error for the admin.
        if self.pk and self.lifecycle != Lifecycle.ACTIVE:
            stored = Experiment.objects.filter(pk=self.pk).values_list("description", flat=True)
            if stored.first() not in (None, self.description):
                raise ValidationError(
                    {"description": "The experiment is deleted; restore it first."}
                )

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_EXPERIMENT_NAME


class ExperimentTag(models.Model):
    """A key/value label on an experiment; the last write wins."""

    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="tags", db_index=False
    )
    key = models.CharField(max_length=250)
    value = models.CharField(max_length=8000, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="experimenttag_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class RunQuerySet(models.QuerySet):
    def visible_to(self, user) -> RunQuerySet:
        return self.filter(experiment__project__in=Project.objects.visible_to(user))

    def active(self) -> RunQuerySet:
        return self.filter(lifecycle=Lifecycle.ACTIVE)


class Run(models.Model):
    """One execution of training code: its status, times, and what it logged."""

    run_id = models.CharField(max_length=32, unique=True, default=new_run_id, editable=False)
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=250, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    start_time = models.BigIntegerField(default=now_ms, help_text="Milliseconds since the epoch.")
    end_time = models.BigIntegerField(null=True, blank=True)
    lifecycle = models.CharField(max_length=8, choices=Lifecycle.choices, default=Lifecycle.ACTIVE)
    deleted_time = models.BigIntegerField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
    )
    artifact_uri = models.CharField(max_length=1000, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    # Bumped by every write of metric points; summaries record the value they cover, so a
    # summary is stale exactly when a later write exists (see tracking.services.summaries).
    metric_seq = models.BigIntegerField(default=0)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-start_time", "run_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="run_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(lifecycle__in=Lifecycle.values), name="run_lifecycle_valid"
            ),
        ]
        indexes = [
            # The default order of an experiment's runs (the runs table, MLflow's search), run id
            # included, so a page is read off the index in order, without sorting.
            models.Index(
                fields=["experiment", "-start_time", "run_id"], name="run_experiment_start_id"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.run_id

    @property
    def duration_ms(self) -> int | None:
        if self.end_time is None or self.start_time is None:
            return None
        return self.end_time - self.start_time


class Param(models.Model):
    """A hyper-parameter of a run; immutable once logged."""

    # The unique (run, key) index serves lookups by run; a second index would only slow writes.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="params", db_index=False)
    key = models.CharField(max_length=250)
    value = models.CharField(max_length=6000, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="param_unique_key")]
        indexes = [_short_value_index("param_key_short_value")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class RunTag(models.Model):
    """A key/value label on a run; the last write wins."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tags", db_index=False)
    key = models.CharField(max_length=250)
    value = models.CharField(max_length=8000, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="runtag_unique_key")]
        indexes = [_short_value_index("runtag_key_short_value")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


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
    rewrites only the blocks new points fall in; a key's rollups are usable while their highest
    seq is not below its LatestMetric's seq. NaN points are left out, as charts leave them out.
    """

    # The unique (run, key, block) index serves lookups by run too.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="metric_rollups", db_index=False
    )
    key = models.CharField(max_length=250)
    block = models.BigIntegerField(help_text="step // ROLLUP_STEPS.")
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
            models.UniqueConstraint(fields=["run", "key", "block"], name="metricrollup_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key}[{self.block}]: {self.count} points"


class ArtifactDeletion(models.Model):
    """Artifacts in storage to delete because their experiment (or run) was purged.

    Written in the purge's transaction and removed only once the files are gone, so a failed,
    lost or interrupted deletion is retried (tracking.tasks) and never forgotten.
    """

    path = models.CharField(max_length=1000, help_text="A folder of the artifact store.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.path


# --- MLflow 3: logged models and datasets ---------------------------------------------------


def new_model_id() -> str:
    return f"m-{uuid.uuid4().hex}"


def new_dataset_id() -> str:
    return uuid.uuid4().hex


class LoggedModelStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    READY = "READY", "Ready"
    FAILED = "FAILED", "Upload failed"


class LoggedModelQuerySet(models.QuerySet):
    def visible_to(self, user) -> LoggedModelQuerySet:
        return self.filter(experiment__project__in=Project.objects.visible_to(user))

    def active(self) -> LoggedModelQuerySet:
        return self.filter(lifecycle=Lifecycle.ACTIVE)


class LoggedModel(models.Model):
    """A model a run (or a script) logged, with its files under the experiment's artifacts."""

    model_id = models.CharField(max_length=40, unique=True, default=new_model_id, editable=False)
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="logged_models"
    )
    name = models.CharField(max_length=250)
    source_run = models.ForeignKey(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="logged_models"
    )
    model_type = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=8, choices=LoggedModelStatus.choices, default=LoggedModelStatus.PENDING
    )
    status_message = models.TextField(blank=True)
    lifecycle = models.CharField(max_length=8, choices=Lifecycle.choices, default=Lifecycle.ACTIVE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="logged_models",
    )
    artifact_location = models.CharField(max_length=1000)
    created_time = models.BigIntegerField(default=now_ms, help_text="Milliseconds since the epoch.")
    updated_time = models.BigIntegerField(default=now_ms, help_text="Milliseconds since the epoch.")

    objects = LoggedModelQuerySet.as_manager()

    class Meta:
        ordering = ["-created_time", "model_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=LoggedModelStatus.values), name="loggedmodel_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(lifecycle__in=Lifecycle.values), name="loggedmodel_lifecycle_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["experiment", "-created_time", "model_id"],
                name="loggedmodel_experiment_created",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def artifact_root(self) -> str:
        """The storage path of its files (the part after `mlflow-artifacts:/`)."""
        return f"{self.experiment_id}/models/{self.model_id}/artifacts"


class LoggedModelParam(models.Model):
    """A parameter of a logged model."""

    model = models.ForeignKey(
        LoggedModel, on_delete=models.CASCADE, related_name="params", db_index=False
    )
    key = models.CharField(max_length=250)
    value = models.CharField(max_length=6000, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["model", "key"], name="loggedmodelparam_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class LoggedModelTag(models.Model):
    """A key/value label on a logged model; the last write wins."""

    model = models.ForeignKey(
        LoggedModel, on_delete=models.CASCADE, related_name="tags", db_index=False
    )
    key = models.CharField(max_length=250)
    value = models.CharField(max_length=8000, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["model", "key"], name="loggedmodeltag_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class LoggedModelMetric(models.Model):
    """A metric point logged for a model (MLflow 3's `model_id` on a metric), optionally
    measured on a dataset; the run's own copy of the point is in Metric."""

    model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="metrics")
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, null=True, blank=True, related_name="model_metrics"
    )
    key = models.CharField(max_length=250)
    value = models.FloatField()
    is_nan = models.BooleanField(default=False)
    timestamp = models.BigIntegerField()
    step = models.BigIntegerField(default=0)
    dataset_name = models.CharField(max_length=500, blank=True)
    dataset_digest = models.CharField(max_length=36, blank=True)

    class Meta:
        ordering = ["key", "step", "timestamp"]
        constraints = [
            # A retried batch writes a point once, as for runs.
            models.UniqueConstraint(
                fields=[
                    "model",
                    "key",
                    "step",
                    "timestamp",
                    "run",
                    "dataset_name",
                    "dataset_digest",
                ],
                name="loggedmodelmetric_unique_point",
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}[{self.step}]={self.display_value}"

    @property
    def display_value(self) -> float:
        return float("nan") if self.is_nan else self.value


class Dataset(models.Model):
    """A dataset runs of an experiment used, once per (name, digest) in the experiment."""

    dataset_id = models.CharField(
        max_length=32, unique=True, default=new_dataset_id, editable=False
    )
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=500)
    digest = models.CharField(max_length=36)
    source_type = models.CharField(max_length=36)
    source = models.TextField()
    schema = models.TextField(blank=True)
    profile = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "digest"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "name", "digest"], name="dataset_unique_name_digest"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.digest})"


class RunInput(models.Model):
    """A dataset a run used, with the input's tags (e.g. `mlflow.data.context`)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="dataset_inputs")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="inputs")
    tags = models.JSONField(default=dict, blank=True)
    # The `mlflow.data.context` tag ("training", "eval", ...), kept apart for filters.
    context = models.CharField(max_length=8000, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["run", "dataset"], name="runinput_unique_dataset")
        ]

    def __str__(self) -> str:
        return f"{self.run_id} <- {self.dataset_id}"


class RunModelLink(models.Model):
    """A logged model a run produced (an output, at a step) or used (an input)."""

    class Direction(models.TextChoices):
        OUTPUT = "output", "Output"
        INPUT = "input", "Input"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="model_links")
    model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="run_links")
    direction = models.CharField(max_length=6, choices=Direction.choices)
    step = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "model", "direction"], name="runmodellink_unique"
            ),
            models.CheckConstraint(
                condition=Q(direction__in=["output", "input"]), name="runmodellink_direction_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.direction} {self.model_id}"
