"""Experiments and runs, with the params and tags they carry."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Project
from tracking.models.common import (
    DEFAULT_EXPERIMENT_NAME,
    Lifecycle,
    RunStatus,
    new_run_id,
    now_ms,
    short_value_index,
)


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
        indexes = [short_value_index("param_key_short_value")]

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
        indexes = [short_value_index("runtag_key_short_value")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"
