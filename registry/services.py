"""Writes to the model registry. Every change of an alias, every rename and every deletion is
audited with who did it; the callers have checked access already (selectors or the API)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.access import Actor
from accounts.audit import audit_record
from accounts.models import AuditAction, Project
from registry.models import (
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
)
from tracking.errors import AlreadyExists, InvalidInput
from tracking.models import LoggedModel, Run, now_ms
from tracking.validation import (
    MAX_MODEL_SOURCE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    validate_alias_name,
    validate_description,
    validate_key,
    validate_registered_model_name,
    validate_text,
)


def validate_registry_tags(tags: dict[str, str]) -> None:
    for key, value in tags.items():
        validate_key(key, what="Tag key", field="tags")
        validate_text(value, limit=MAX_TAG_VALUE_LENGTH, what=f"Tag '{key}'", field="tags")


def _exists(name: str) -> AlreadyExists:
    return AlreadyExists(f"Registered Model (name={name}) already exists.", field="name")


@transaction.atomic
def registered_model_create(
    *,
    actor: Actor,
    project: Project,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> RegisteredModel:
    validate_registered_model_name(name)
    validate_description(description or "")
    validate_registry_tags(tags or {})
    if RegisteredModel.objects.filter(project=project, name=name).exists():
        raise _exists(name)
    try:
        with transaction.atomic():
            model = RegisteredModel.objects.create(
                project=project, name=name, description=description or "", created_by=actor.user
            )
    except IntegrityError:
        raise _exists(name) from None
    RegisteredModelTag.objects.bulk_create(
        RegisteredModelTag(registered_model=model, key=k, value=v) for k, v in (tags or {}).items()
    )
    return model


def _touch(model: RegisteredModel) -> None:
    model.updated_time = now_ms()
    model.save(update_fields=["updated_time"])


@transaction.atomic
def registered_model_update(*, model: RegisteredModel, description: str) -> RegisteredModel:
    model.description = validate_description(description)
    model.updated_time = now_ms()
    model.save(update_fields=["description", "updated_time"])
    return model


@transaction.atomic
def registered_model_change(
    *,
    actor: Actor,
    model: RegisteredModel,
    name: str | None = None,
    description: str | None = None,
) -> RegisteredModel:
    """A new description and/or name, both or neither: a refused name keeps the old
    description."""
    if description is not None:
        registered_model_update(model=model, description=description)
    if name is not None:
        registered_model_rename(actor=actor, model=model, new_name=name)
    return model


@transaction.atomic
def registered_model_rename(
    *, actor: Actor, model: RegisteredModel, new_name: str
) -> RegisteredModel:
    validate_registered_model_name(new_name, field="new_name")
    old = model.name
    if new_name == old:
        return model
    if RegisteredModel.objects.filter(project_id=model.project_id, name=new_name).exists():
        raise _exists(new_name)
    model.name = new_name
    model.updated_time = now_ms()
    try:
        with transaction.atomic():
            model.save(update_fields=["name", "updated_time"])
    except IntegrityError:
        raise _exists(new_name) from None
    audit_record(
        user=actor.user,
        action=AuditAction.REGISTERED_MODEL_RENAMED,
        project=model.project,
        target=model,
        detail=f"{old} -> {new_name}",
    )
    return model


@transaction.atomic
def registered_model_delete(*, actor: Actor, model: RegisteredModel) -> None:
    versions = model.versions.count()
    audit_record(
        user=actor.user,
        action=AuditAction.REGISTERED_MODEL_DELETED,
        project=model.project,
        target=model,
        detail=f"{model.name} with {versions} version(s)",
    )
    model.delete()


@transaction.atomic
def registered_model_set_tag(*, model: RegisteredModel, key: str, value: str) -> None:
    validate_registry_tags({key: value})
    RegisteredModelTag.objects.update_or_create(
        registered_model=model, key=key, defaults={"value": value}
    )
    _touch(model)


@transaction.atomic
def registered_model_delete_tag(*, model: RegisteredModel, key: str) -> None:
    validate_key(key, what="Tag key", field="key")
    RegisteredModelTag.objects.filter(registered_model=model, key=key).delete()
    _touch(model)


@transaction.atomic
def model_version_create(
    *,
    actor: Actor,
    model: RegisteredModel,
    source: str,
    storage_location: str,
    run: Run | None = None,
    logged_model: LoggedModel | None = None,
    run_link: str = "",
    description: str = "",
    tags: dict[str, str] | None = None,
) -> ModelVersion:
    """The next version of the model; the model row is locked so two registrations at once
    get consecutive numbers."""
    validate_text(source, limit=MAX_MODEL_SOURCE_LENGTH, what="The source", field="source")
    validate_text(
        run_link or "", limit=MAX_MODEL_SOURCE_LENGTH, what="The run link", field="run_link"
    )
    validate_description(description or "")
    validate_registry_tags(tags or {})
    model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
    last = model.versions.order_by("-version").values_list("version", flat=True).first()
    created = now_ms()
    version = ModelVersion.objects.create(
        registered_model=model,
        version=(last or 0) + 1,
        source=source,
        storage_location=storage_location,
        run=run,
        logged_model=logged_model,
        run_link=run_link or "",
        description=description or "",
        created_by=actor.user,
        created_time=created,
        updated_time=created,
    )
    ModelVersionTag.objects.bulk_create(
        ModelVersionTag(model_version=version, key=k, value=v) for k, v in (tags or {}).items()
    )
    model.updated_time = created
    model.save(update_fields=["updated_time"])
    return version


@transaction.atomic
def model_version_register(
    *, actor: Actor, project: Project, name: str, **resolved
) -> ModelVersion:
    """A new version under the name, creating the registered model if it is new; all or
    nothing (the pages' *Register* form)."""
    model = RegisteredModel.objects.filter(project=project, name=name).first()
    if model is None:
        model = registered_model_create(actor=actor, project=project, name=name)
    return model_version_create(actor=actor, model=model, **resolved)


@transaction.atomic
def model_version_update(*, version: ModelVersion, description: str) -> ModelVersion:
    version.description = validate_description(description)
    version.updated_time = now_ms()
    version.save(update_fields=["description", "updated_time"])
    return version


@transaction.atomic
def model_version_transition_stage(
    *, version: ModelVersion, stage: str, archive_existing: bool = False
) -> ModelVersion:
    """MLflow's deprecated stages; `archive_existing` archives the model's other versions in
    the target stage, as MLflow does."""
    matches = [s for s in Stage.values if s.lower() == (stage or "").lower()]
    if not matches:
        raise InvalidInput(
            f"Invalid Model Version stage: {stage}. Value must be one of "
            f"{', '.join(Stage.values)}.",
            field="stage",
        )
    target = matches[0]
    now = now_ms()
    if archive_existing and target in (Stage.STAGING, Stage.PRODUCTION):
        ModelVersion.objects.filter(
            registered_model_id=version.registered_model_id, stage=target
        ).exclude(pk=version.pk).update(stage=Stage.ARCHIVED, updated_time=now)
    version.stage = target
    version.updated_time = now
    version.save(update_fields=["stage", "updated_time"])
    return version


@transaction.atomic
def model_version_delete(*, actor: Actor, version: ModelVersion) -> None:
    model = version.registered_model
    aliases = sorted(version.aliases.values_list("alias", flat=True))
    detail = f"{model.name} version {version.version}"
    if aliases:
        detail += " (aliases removed: " + ", ".join(f"@{a}" for a in aliases) + ")"
    audit_record(
        user=actor.user,
        action=AuditAction.MODEL_VERSION_DELETED,
        project=model.project,
        target=model,
        detail=detail,
    )
    version.delete()
    _touch(model)


@transaction.atomic
def model_version_set_tag(*, version: ModelVersion, key: str, value: str) -> None:
    validate_registry_tags({key: value})
    ModelVersionTag.objects.update_or_create(
        model_version=version, key=key, defaults={"value": value}
    )
    version.updated_time = now_ms()
    version.save(update_fields=["updated_time"])


@transaction.atomic
def model_version_delete_tag(*, version: ModelVersion, key: str) -> None:
    validate_key(key, what="Tag key", field="key")
    ModelVersionTag.objects.filter(model_version=version, key=key).delete()


@transaction.atomic
def model_alias_set(*, actor: Actor, version: ModelVersion, alias: str) -> ModelAlias:
    """Point the alias at the version, moving it from another version if it had one."""
    validate_alias_name(alias)
    model = version.registered_model
    current = (
        ModelAlias.objects.select_for_update()
        .select_related("model_version")
        .filter(registered_model=model, alias=alias)
        .first()
    )
    if current is not None and current.model_version_id == version.pk:
        return current
    if current is None:
        row = ModelAlias.objects.create(registered_model=model, alias=alias, model_version=version)
        detail = f"@{alias} -> version {version.version}"
    else:
        detail = f"@{alias}: version {current.model_version.version} -> version {version.version}"
        current.model_version = version
        current.save(update_fields=["model_version"])
        row = current
    audit_record(
        user=actor.user,
        action=AuditAction.MODEL_ALIAS_SET,
        project=model.project,
        target=model,
        detail=detail,
    )
    _touch(model)
    return row


@transaction.atomic
def model_alias_delete(*, actor: Actor, model: RegisteredModel, alias: str) -> None:
    """Remove the alias; removing one that is not there changes nothing, as in MLflow."""
    if not isinstance(alias, str) or not alias:
        raise InvalidInput("Registered model alias name cannot be empty.", field="alias")
    current = (
        ModelAlias.objects.select_related("model_version")
        .filter(registered_model=model, alias=alias)
        .first()
    )
    if current is None:
        return
    audit_record(
        user=actor.user,
        action=AuditAction.MODEL_ALIAS_DELETED,
        project=model.project,
        target=model,
        detail=f"@{alias} removed (was version {current.model_version.version})",
    )
    current.delete()
    _touch(model)
