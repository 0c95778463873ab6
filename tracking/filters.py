"""django-filter FilterSets over runs and experiments, shared by the native API and the pages."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django_filters.fields import IsoDateTimeField

from tracking.models import Experiment, ExperimentTag, Lifecycle, Run, RunStatus

ALL = "all"
LIFECYCLE_CHOICES = [*Lifecycle.choices, (ALL, "All")]


def _lifecycle(qs: QuerySet, value: str | None) -> QuerySet:
    # Deleted objects are hidden unless asked for, as in MLflow's ACTIVE_ONLY default.
    if value == ALL:
        return qs
    return qs.filter(lifecycle=value or Lifecycle.ACTIVE)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, as UTC: PostgreSQL refuses offsets beyond ±15:59."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("The date is out of range.", code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class RunFilter(django_filters.FilterSet):
    """Structured filters of the runs table; MLflow's `filter=` grammar is applied beside it."""

    status = django_filters.MultipleChoiceFilter(
        choices=RunStatus.choices, help_text="Run status; repeat to match any of several."
    )
    lifecycle = django_filters.ChoiceFilter(
        choices=LIFECYCLE_CHOICES,
        method="filter_lifecycle",
        empty_label=None,
        help_text="active (the default), deleted or all.",
    )
    user = django_filters.CharFilter(
        field_name="user__username", help_text="Username of whoever started the run."
    )
    start_time_min = django_filters.NumberFilter(
        field_name="start_time", lookup_expr="gte", help_text="Started at or after (ms)."
    )
    start_time_max = django_filters.NumberFilter(
        field_name="start_time", lookup_expr="lte", help_text="Started at or before (ms)."
    )
    parent = django_filters.CharFilter(
        field_name="parent__run_id", help_text="Only the child runs of this run id."
    )
    name = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", help_text="Run name contains (any case)."
    )

    class Meta:
        model = Run
        fields = ["status", "lifecycle", "user", "start_time_min", "start_time_max", "parent"]

    def filter_lifecycle(self, qs: QuerySet[Run], name: str, value: str) -> QuerySet[Run]:
        return qs  # applied in filter_queryset, so that the default holds without the field

    def filter_queryset(self, queryset: QuerySet[Run]) -> QuerySet[Run]:
        queryset = super().filter_queryset(queryset)
        return _lifecycle(queryset, self.form.cleaned_data.get("lifecycle"))


class ExperimentFilter(django_filters.FilterSet):
    """Filters of a project's experiment list."""

    name = django_filters.CharFilter(field_name="name", help_text="Exact experiment name.")
    name_contains = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", help_text="Name contains (any case)."
    )
    lifecycle = django_filters.ChoiceFilter(
        choices=LIFECYCLE_CHOICES,
        method="filter_lifecycle",
        empty_label=None,
        help_text="active (the default), deleted or all.",
    )
    tag_key = django_filters.CharFilter(
        method="filter_tag", help_text="Has a tag with this key (and `tag_value`, when given)."
    )
    tag_value = django_filters.CharFilter(
        method="filter_tag", help_text="With `tag_key`: the tag has this value."
    )
    created_after = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lte", help_text="Created at or before (ISO 8601)."
    )
    ordering = django_filters.OrderingFilter(
        fields=(("name", "name"), ("created_at", "created_at"), ("updated_at", "updated_at")),
        help_text="name, created_at or updated_at; prefix with - for descending.",
    )

    class Meta:
        model = Experiment
        fields = ["name", "lifecycle"]

    def filter_lifecycle(self, qs, name, value):
        return qs

    def filter_tag(self, qs, name, value):
        return qs  # both tag fields are read together in filter_queryset

    def filter_queryset(self, queryset: QuerySet[Experiment]) -> QuerySet[Experiment]:
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        key, value = data.get("tag_key"), data.get("tag_value")
        if key:
            tags = ExperimentTag.objects.filter(experiment=OuterRef("pk"), key=key)
            if value:
                tags = tags.filter(value=value)
            queryset = queryset.filter(Exists(tags))
        elif value:
            queryset = queryset.filter(
                Exists(ExperimentTag.objects.filter(experiment=OuterRef("pk"), value=value))
            )
        return _lifecycle(queryset, data.get("lifecycle"))
