"""What the tracking admins share: inline limits, the tag form, the actions' service calls and
the admins of rows that hang off a run."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.urls import reverse

from accounts.access import Actor
from accounts.admin import CappedCountPaginator
from tracking.errors import TrackingError
from tracking.validation import validate_key

INLINE_LIMIT = 100


def ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def changelist_url(model, **params) -> str:
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


def apply_service(request, modeladmin, queryset, service, verb: str) -> None:
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


class ReadOnlyRunChildAdmin(RunChildAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
