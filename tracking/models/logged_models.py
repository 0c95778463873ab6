"""MLflow 3: logged models, datasets, and what links them to runs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Project
from tracking.models.common import Lifecycle, now_ms
from tracking.models.runs import Experiment, Run

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
