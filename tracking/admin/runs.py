"""Runs, their params and their tags in the admin; changes go through the run services."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from accounts.access import Actor
from accounts.admin import CappedCountPaginator
from accounts.models import Project
from tracking.admin.common import (
    LimitedInlineFormSet,
    RunChildAdmin,
    TagForm,
    apply_service,
    changelist_url,
    ms_to_datetime,
)
from tracking.admin.points import MetricPointsAdmin
from tracking.models import LatestMetric, Lifecycle, MetricSummary, Param, Run, RunTag
from tracking.services.runs import run_delete, run_restore, run_update


class ParamInline(admin.TabularInline):
    """Params are immutable once logged, so the run page lists them read-only."""

    model = Param
    formset = LimitedInlineFormSet
    fields = ["key", "value"]
    readonly_fields = ["key", "value"]
    can_delete = False
    extra = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RunTagInline(admin.TabularInline):
    model = RunTag
    form = TagForm
    formset = LimitedInlineFormSet
    fields = ["key", "value"]
    extra = 0


class RunAdminForm(forms.ModelForm):
    class Meta:
        model = Run
        fields = ["name", "status", "end_time"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.lifecycle != Lifecycle.ACTIVE and self.has_changed():
            raise ValidationError("The run is deleted; restore it before changing it.")
        return cleaned


@admin.register(Run)
class RunAdmin(MetricPointsAdmin, admin.ModelAdmin):
    """Runs are created by the code that trains (MLflow client or API), which sets their user,
    artifact location and system tags; here they can be corrected, deleted and restored."""

    list_display = (
        "run_id",
        "name",
        "experiment",
        "project",
        "status",
        "lifecycle",
        "user",
        "started",
    )
    list_filter = ("status", "lifecycle", "experiment__project")
    list_select_related = ("experiment__project", "user")
    search_fields = ("run_id__exact", "name")
    raw_id_fields = ("experiment", "user", "parent")
    form = RunAdminForm
    inlines = [ParamInline, RunTagInline]
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = ["delete_selected_runs", "restore_selected_runs"]
    fieldsets = (
        (None, {"fields": ("run_id", "name", "experiment", "project", "user", "parent")}),
        (
            "Status",
            {
                "fields": (
                    "status",
                    "started",
                    "end_time",
                    "ended",
                    "lifecycle",
                    "deleted",
                    "artifact_uri",
                )
            },
        ),
        ("Logged data", {"fields": ("logged_data",)}),
    )
    readonly_fields = (
        "run_id",
        "experiment",
        "project",
        "user",
        "parent",
        "started",
        "ended",
        "lifecycle",
        "deleted",
        "artifact_uri",
        "logged_data",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("experiment__project", "user")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="project", ordering="experiment__project__slug")
    def project(self, run: Run) -> Project:
        return run.experiment.project

    @admin.display(description="start time", ordering="start_time")
    def started(self, run: Run) -> datetime | None:
        return ms_to_datetime(run.start_time)

    @admin.display(description="end time")
    def ended(self, run: Run) -> datetime | None:
        return ms_to_datetime(run.end_time)

    @admin.display(description="deleted at")
    def deleted(self, run: Run) -> datetime | None:
        return ms_to_datetime(run.deleted_time)

    @admin.display(description="logged data")
    def logged_data(self, run: Run) -> str:
        return format_html(
            '<a href="{}">Params</a> · <a href="{}">Tags</a> · <a href="{}">Latest metrics</a>'
            ' · <a href="{}">Metric summaries</a> · <a href="{}">Metric points</a>',
            changelist_url(Param, run__id__exact=run.pk),
            changelist_url(RunTag, run__id__exact=run.pk),
            changelist_url(LatestMetric, run__id__exact=run.pk),
            changelist_url(MetricSummary, run__id__exact=run.pk),
            reverse("admin:tracking_run_points", args=[run.pk]),
        )

    def save_model(self, request, obj, form, change) -> None:
        current = Run.objects.select_related("experiment__project").get(pk=obj.pk)
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        if changes:
            run_update(actor=Actor(user=request.user), run=current, **changes)

    @admin.action(description="Delete (archive) selected runs", permissions=["change"])
    def delete_selected_runs(self, request, queryset) -> None:
        apply_service(request, self, queryset, run_delete, "Deleted")

    @admin.action(description="Restore selected runs", permissions=["change"])
    def restore_selected_runs(self, request, queryset) -> None:
        apply_service(request, self, queryset, run_restore, "Restored")


@admin.register(Param)
class ParamAdmin(RunChildAdmin):
    """Params are immutable once logged: shown, never added or changed here."""

    list_display = ("key", "value", "run")
    ordering = ("run_id", "key")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RunTag)
class RunTagAdmin(RunChildAdmin):
    list_display = ("key", "value", "run")
    ordering = ("run_id", "key")
    form = TagForm
