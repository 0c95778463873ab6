"""Django admin for projects and the tracking domain.

Changes that have rules (creating projects and experiments, renaming, deleting and restoring,
revoking) go through the same services as the API and the pages, so an admin's action is
validated and audited like anyone else's. Tables that grow to millions of rows (metric points,
params, tags, latest values, summaries) are listed without COUNT(*) and searched only through
indexed columns, so a run with a million points opens as fast as one with ten.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from accounts.access import Actor
from accounts.admin import CappedCountPaginator, MembershipFormSet, save_memberships
from accounts.models import Membership, Project, User
from tracking.errors import TrackingError
from tracking.models import (
    Experiment,
    ExperimentTag,
    LatestMetric,
    Lifecycle,
    MetricRollup,
    MetricSummary,
    Param,
    Run,
    RunTag,
)
from tracking.selectors.metrics import run_points_page
from tracking.services.experiments import (
    experiment_create,
    experiment_delete,
    experiment_restore,
    experiment_update,
)
from tracking.services.projects import project_create
from tracking.services.runs import run_delete, run_restore, run_update
from tracking.validation import validate_key

INLINE_LIMIT = 100


def ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _changelist_url(model, **params) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{url}?{query}" if query else url


class LimitedInlineFormSet(BaseInlineFormSet):
    """Shows the first INLINE_LIMIT rows only: a sweep can log thousands of tags on one run."""

    def get_queryset(self) -> QuerySet:
        qs = super().get_queryset()
        if not qs.query.is_sliced:
            qs = qs[:INLINE_LIMIT]
            self._queryset = qs
        return qs


class TagForm(forms.ModelForm):
    """Tag keys follow the same rules as keys logged through the API."""

    def clean_key(self) -> str:
        try:
            return validate_key(self.cleaned_data["key"], what="Tag key", field="key")
        except TrackingError as exc:
            raise ValidationError(exc.message) from None


# --- Projects -------------------------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


class ProjectCreationForm(forms.ModelForm):
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        help_text="Becomes the project's first manager.",
    )

    class Meta:
        model = Project
        fields = ["slug", "name", "description"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    """Projects, created like everywhere else with their owner as manager and a Default
    experiment; here because that needs tracking, which accounts must not depend on."""

    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ProjectCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "slug", "description", "owner"]
        return ["slug", "name", "description", "created_at"]

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if obj is None else {}

    def get_readonly_fields(self, request, obj=None):
        # The slug is in every URL of the project: in bookmarks, scripts and links people share.
        return ["slug", "created_at"] if obj is not None else []

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        # Django's confirmation page loads every object a delete would cascade to, which for a
        # project means every metric point it ever logged.
        return False

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is Membership:
            save_memberships(request, formset)
        else:
            super().save_formset(request, form, formset, change)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = project_create(
            slug=obj.slug,
            name=obj.name,
            description=obj.description,
            owner=form.cleaned_data["owner"],
        )
        obj.pk = created.pk
        obj.created_at = created.created_at


# --- Experiments ----------------------------------------------------------------------------


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


def _apply(request, modeladmin, queryset, service, verb: str) -> None:
    """Run a delete/restore service on each selected object and say what happened."""
    actor = Actor(user=request.user)
    done = 0
    for obj in queryset:
        try:
            service(actor=actor, **{modeladmin.model._meta.model_name: obj})
        except TrackingError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.WARNING)
            continue
        done += 1
    modeladmin.message_user(
        request, f"{verb} {done} {modeladmin.model._meta.verbose_name_plural}.", messages.SUCCESS
    )


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
            _changelist_url(Run, experiment__id__exact=experiment.pk),
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
        _apply(request, self, queryset.select_related("project"), experiment_delete, "Deleted")

    @admin.action(description="Restore selected experiments", permissions=["change"])
    def restore_selected_experiments(self, request, queryset) -> None:
        _apply(request, self, queryset.select_related("project"), experiment_restore, "Restored")


# --- Runs -----------------------------------------------------------------------------------


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


# Metric points have no changelist of their own: Django 5.2's admin cannot register a model whose
# primary key is composite. They are only ever looked at one run at a time anyway, so the run's
# admin has a read-only page of them (RunAdmin.metric_points_view).

POINTS_PER_PAGE = 100
KEY_CHOICES = 200


class MetricPointsQuery(forms.Form):
    """The query string of a run's metric points page."""

    # Metric.key's limits (length, no NUL character), checked on the key exactly as it is given.
    key = forms.CharField(required=False, strip=False, max_length=250)
    # Bounded so that the OFFSET stays a number every database accepts.
    p = forms.IntegerField(required=False, min_value=1, max_value=10**9)


class PointRow(NamedTuple):
    """One line of a run's metric points page."""

    key: str
    step: int
    value: float
    logged_at: datetime | None


def _key_choices(*, run: Run, selected: str | None) -> list[dict]:
    """The key filter's links: All, then the run's keys, read from its latest values because
    reading them from its points would scan them all."""
    keys = LatestMetric.objects.filter(run=run).order_by("key")
    choices = [{"display": "All", "query_string": "?", "selected": selected is None}]
    for key in keys.values_list("key", flat=True)[:KEY_CHOICES]:
        query_string = "?" + urlencode({"key": key})
        choices.append({"display": key, "query_string": query_string, "selected": key == selected})
    return choices


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
class RunAdmin(admin.ModelAdmin):
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

    def get_urls(self):
        # First: the default URLs end with a catch-all "<path:object_id>/" that would take it.
        points = path(
            "<path:object_id>/points/",
            self.admin_site.admin_view(self.metric_points_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_points",
        )
        return [points, *super().get_urls()]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def metric_points_view(self, request: HttpRequest, object_id: str) -> TemplateResponse:
        """A run's metric points, 100 at a time, optionally of one key."""
        run = self.get_object(request, unquote(object_id))
        if run is None:
            raise Http404(f"No run with primary key {object_id!r}.")
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        query = MetricPointsQuery(request.GET)
        query.is_valid()
        # What is not a page number (abc, 0, -1) means the first page.
        page = query.cleaned_data.get("p") or 1
        key = request.GET.get("key") or None
        if query.has_error("key"):  # longer than a key can be, or with a NUL: no point has it
            rows, has_next = [], False
        else:
            points, has_next = run_points_page(
                run=run, key=key, offset=(page - 1) * POINTS_PER_PAGE, limit=POINTS_PER_PAGE
            )
            rows = [
                PointRow(p.key, p.step, p.display_value, ms_to_datetime(p.timestamp))
                for p in points
            ]

        def page_url(number: int) -> str:
            return "?" + urlencode({"key": key, "p": number} if key else {"p": number})

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Metric points of {run}",
            "run": run,
            "points": rows,
            "page": page,
            "previous_url": page_url(page - 1) if page > 1 else None,
            "next_url": page_url(page + 1) if has_next else None,
            "key_choices": _key_choices(run=run, selected=key),
        }
        return TemplateResponse(request, "admin/tracking/run/metric_points.html", context)

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
            _changelist_url(Param, run__id__exact=run.pk),
            _changelist_url(RunTag, run__id__exact=run.pk),
            _changelist_url(LatestMetric, run__id__exact=run.pk),
            _changelist_url(MetricSummary, run__id__exact=run.pk),
            reverse("admin:tracking_run_points", args=[run.pk]),
        )

    def save_model(self, request, obj, form, change) -> None:
        current = Run.objects.select_related("experiment__project").get(pk=obj.pk)
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        if changes:
            run_update(actor=Actor(user=request.user), run=current, **changes)

    @admin.action(description="Delete (archive) selected runs", permissions=["change"])
    def delete_selected_runs(self, request, queryset) -> None:
        _apply(request, self, queryset, run_delete, "Deleted")

    @admin.action(description="Restore selected runs", permissions=["change"])
    def restore_selected_runs(self, request, queryset) -> None:
        _apply(request, self, queryset, run_restore, "Restored")


# --- Params and tags ------------------------------------------------------------------------


class RunChildAdmin(admin.ModelAdmin):
    """Rows that hang off a run: listed without counting the table, found by the run's id."""

    list_select_related = ("run",)
    raw_id_fields = ("run",)
    # Only the run id: other columns of these tables have no index of their own.
    search_fields = ("run__run_id__exact",)
    paginator = CappedCountPaginator
    show_full_result_count = False
    # Sorting a column of a table this size would scan it; the default order follows an index.
    sortable_by: tuple = ()


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


@admin.register(ExperimentTag)
class ExperimentTagAdmin(admin.ModelAdmin):
    list_display = ("key", "value", "experiment")
    list_select_related = ("experiment__project",)
    search_fields = ("key", "experiment__name")
    autocomplete_fields = ("experiment",)
    form = TagForm


# --- Metrics (read-only: written by ingestion and by the summary workers) --------------------


class ReadOnlyRunChildAdmin(RunChildAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LatestMetric)
class LatestMetricAdmin(ReadOnlyRunChildAdmin):
    list_display = ("key", "value_display", "step", "logged_at", "run")
    search_fields = ("run__run_id__exact", "key__exact")
    ordering = ("run_id", "key")

    @admin.display(description="value")
    def value_display(self, latest: LatestMetric) -> float:
        return latest.display_value

    @admin.display(description="logged at")
    def logged_at(self, latest: LatestMetric) -> datetime | None:
        return ms_to_datetime(latest.timestamp)


@admin.register(MetricSummary)
class MetricSummaryAdmin(ReadOnlyRunChildAdmin):
    list_display = ("key", "count", "nan_count", "min", "max", "mean", "seq", "computed_at", "run")
    ordering = ("run_id", "key")


@admin.register(MetricRollup)
class MetricRollupAdmin(ReadOnlyRunChildAdmin):
    list_display = ("key", "block", "count", "min", "max", "first_step", "last_step", "seq", "run")
    search_fields = ("run__run_id__exact", "key__exact")
    # The unique constraint's column order, so the index serves the order and the run filter.
    ordering = ("run_id", "key", "block")
