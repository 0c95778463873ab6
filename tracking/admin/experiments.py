"""Experiments and their tags in the admin; changes go through the experiment services."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from accounts.access import Actor
from tracking.admin.common import LimitedInlineFormSet, TagForm, apply_service, changelist_url
from tracking.models import Experiment, ExperimentTag, Lifecycle, Run
from tracking.services.experiments import (
    experiment_create,
    experiment_delete,
    experiment_restore,
    experiment_update,
)


class ExperimentTagInline(admin.TabularInline):
    model = ExperimentTag
    form = TagForm
    formset = LimitedInlineFormSet
    extra = 0
    fields = ["key", "value"]


class ExperimentAdminForm(forms.ModelForm):
    class Meta:
        model = Experiment
        fields = ["project", "name", "description"]

    def clean(self):
        cleaned = super().clean()
        # On the change form the project is read-only, so Django's own check of the
        # (project, name) constraint would skip it.
        project = self.instance.project if self.instance.pk else cleaned.get("project")
        name = cleaned.get("name")
        if project is not None and name:
            taken = Experiment.objects.filter(project=project, name=name).exclude(
                pk=self.instance.pk
            )
            if taken.exists():
                self.add_error("name", f"The project already has an experiment named {name}.")
        return cleaned


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "project", "lifecycle", "created_at", "updated_at")
    list_filter = ("lifecycle", "project")
    list_select_related = ("project",)
    search_fields = ("name", "project__slug", "project__name")
    autocomplete_fields = ("project",)
    form = ExperimentAdminForm
    inlines = [ExperimentTagInline]
    actions = ["delete_selected_experiments", "restore_selected_experiments"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["project", "name", "description"]
        return [
            "project",
            "name",
            "description",
            "lifecycle",
            "artifact_location",
            "runs_link",
            "created_at",
            "updated_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        readonly = ["project", "lifecycle", "artifact_location", "runs_link"]
        readonly += ["created_at", "updated_at"]
        if obj.is_default or obj.lifecycle != Lifecycle.ACTIVE:
            # MLflow's experiment id 0 means the Default experiment by name.
            readonly.append("name")
        return readonly

    def get_actions(self, request):
        actions = super().get_actions(request)
        # A hard delete would cascade through every metric point of every run; experiments
        # are deleted (and restored) through their lifecycle instead.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="runs")
    def runs_link(self, experiment: Experiment) -> str:
        return format_html(
            '<a href="{}">Runs of this experiment</a>',
            changelist_url(Run, experiment__id__exact=experiment.pk),
        )

    def save_model(self, request, obj, form, change) -> None:
        actor = Actor(user=request.user)
        if change:
            current = Experiment.objects.select_related("project").get(pk=obj.pk)
            experiment_update(
                actor=actor,
                experiment=current,
                name=form.cleaned_data.get("name", current.name),
                description=form.cleaned_data.get("description", current.description),
            )
            return
        created = experiment_create(
            actor=actor,
            project=obj.project,
            name=obj.name,
            description=obj.description,
        )
        obj.pk = created.pk
        obj.artifact_location = created.artifact_location

    @admin.action(description="Delete (archive) selected experiments", permissions=["change"])
    def delete_selected_experiments(self, request, queryset) -> None:
        apply_service(
            request, self, queryset.select_related("project"), experiment_delete, "Deleted"
        )

    @admin.action(description="Restore selected experiments", permissions=["change"])
    def restore_selected_experiments(self, request, queryset) -> None:
        apply_service(
            request, self, queryset.select_related("project"), experiment_restore, "Restored"
        )


@admin.register(ExperimentTag)
class ExperimentTagAdmin(admin.ModelAdmin):
    list_display = ("key", "value", "experiment")
    list_select_related = ("experiment__project",)
    search_fields = ("key", "experiment__name")
    autocomplete_fields = ("experiment",)
    form = TagForm
