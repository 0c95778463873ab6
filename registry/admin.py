"""Django admin for the registry: browse models and versions; descriptions and tags are
editable, and deletions go through the services so they are audited like any other."""

from __future__ import annotations

from django.contrib import admin, messages

from accounts.access import Actor
from registry import services as svc
from registry.models import ModelAlias, ModelVersion, RegisteredModel, RegisteredModelTag


class TagInline(admin.TabularInline):
    model = RegisteredModelTag
    extra = 0


class AliasInline(admin.TabularInline):
    # Aliases move through the pages or the API, which audit each move.
    model = ModelAlias
    extra = 0
    fields = ("alias", "model_version")
    readonly_fields = ("alias", "model_version")
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class VersionInline(admin.TabularInline):
    model = ModelVersion
    extra = 0
    fields = ("version", "source", "run", "logged_model", "stage", "created_by")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "created_by", "updated_time")
    list_filter = ("project",)
    search_fields = ("name",)
    list_select_related = ("project", "created_by")
    fields = ("project", "name", "description", "created_by", "created_time", "updated_time")
    readonly_fields = ("project", "name", "created_by", "created_time", "updated_time")
    inlines = [TagInline, AliasInline, VersionInline]
    actions = ["delete_audited"]

    def has_add_permission(self, request) -> bool:
        # Created with a version by MLflow's client, the API or the pages.
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj) -> None:
        svc.registered_model_delete(actor=Actor(user=request.user), model=obj)

    @admin.action(
        description="Delete the selected models with their versions", permissions=["delete"]
    )
    def delete_audited(self, request, queryset) -> None:
        count = 0
        for model in queryset:
            svc.registered_model_delete(actor=Actor(user=request.user), model=model)
            count += 1
        self.message_user(request, f"Deleted {count} registered models.", messages.SUCCESS)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("registered_model", "version", "stage", "created_by", "created_time")
    list_select_related = ("registered_model__project", "created_by")
    search_fields = ("registered_model__name", "source")
    fields = (
        "registered_model",
        "version",
        "source",
        "storage_location",
        "run",
        "logged_model",
        "status",
        "stage",
        "description",
        "created_by",
    )
    readonly_fields = (
        "registered_model",
        "version",
        "source",
        "storage_location",
        "run",
        "logged_model",
        "status",
        "stage",
        "created_by",
    )

    def has_add_permission(self, request) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj) -> None:
        svc.model_version_delete(actor=Actor(user=request.user), version=obj)
