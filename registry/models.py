"""The model registry of a project: named models, their numbered versions, tags and aliases."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Project
from tracking.models import LoggedModel, Run, now_ms


class Stage(models.TextChoices):
    """MLflow's deprecated stages, which its client 3.x still sends and shows."""

    NONE = "None", "None"
    STAGING = "Staging", "Staging"
    PRODUCTION = "Production", "Production"
    ARCHIVED = "Archived", "Archived"


class VersionStatus(models.TextChoices):
    # Versions are registered from files already stored, so they are ready at once.
    READY = "READY", "Ready"
    PENDING_REGISTRATION = "PENDING_REGISTRATION", "Pending registration"
    FAILED_REGISTRATION = "FAILED_REGISTRATION", "Failed registration"


class RegisteredModel(models.Model):
    """A name a project gives to a line of model versions."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="registered_models")
    name = models.CharField(max_length=250)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="registered_models",
    )
    created_time = models.BigIntegerField(default=now_ms, help_text="Milliseconds since the epoch.")
    updated_time = models.BigIntegerField(default=now_ms, help_text="Milliseconds since the epoch.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="registeredmodel_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class RegisteredModelTag(models.Model):
    registered_model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="tags", db_index=False
    )
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "key"], name="registeredmodeltag_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class ModelVersion(models.Model):
    """One numbered version of a registered model, pointing at stored model files."""

    registered_model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="versions", db_index=False
    )
    version = models.PositiveIntegerField()
    # What the caller gave (`models:/<id>`, `runs:/<run>/path`, a URI) and where it resolves.
    source = models.CharField(max_length=1000)
    storage_location = models.CharField(max_length=1000)
    run = models.ForeignKey(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="model_versions"
    )
    logged_model = models.ForeignKey(
        LoggedModel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="model_versions",
    )
    run_link = models.CharField(max_length=1000, blank=True)
    status = models.CharField(
        max_length=24, choices=VersionStatus.choices, default=VersionStatus.READY
    )
    status_message = models.TextField(blank=True)
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.NONE)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="model_versions",
    )
    created_time = models.BigIntegerField(default=now_ms, help_text="Milliseconds since the epoch.")
    updated_time = models.BigIntegerField(default=now_ms, help_text="Milliseconds since the epoch.")

    class Meta:
        ordering = ["registered_model", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "version"], name="modelversion_unique_version"
            ),
            models.CheckConstraint(
                condition=Q(stage__in=Stage.values), name="modelversion_stage_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=VersionStatus.values), name="modelversion_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model.name} v{self.version}"


class ModelVersionTag(models.Model):
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="tags", db_index=False
    )
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "key"], name="modelversiontag_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class ModelAlias(models.Model):
    """`@champion` -> one version of the model; moving it is audited."""

    registered_model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="aliases", db_index=False
    )
    alias = models.CharField(max_length=255)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="aliases"
    )

    class Meta:
        ordering = ["alias"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "alias"], name="modelalias_unique_alias"
            )
        ]

    def __str__(self) -> str:
        return f"@{self.alias}"
