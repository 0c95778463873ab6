"""A run's metric points page in the admin (read-only, 100 points at a time)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from django import forms
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.http import urlencode

from tracking.admin.common import ms_to_datetime
from tracking.models import LatestMetric, Run
from tracking.selectors.metrics import run_points_page

# Metric points have no changelist of their own: Django 5.2's admin cannot register a model whose
# primary key is composite. They are only ever looked at one run at a time anyway, so the run's
# admin has a read-only page of them (MetricPointsAdmin.metric_points_view).

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


class MetricPointsAdmin:
    """The points page of a run, mixed into RunAdmin."""

    def get_urls(self):
        # First: the default URLs end with a catch-all "<path:object_id>/" that would take it.
        points = path(
            "<path:object_id>/points/",
            self.admin_site.admin_view(self.metric_points_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_points",
        )
        return [points, *super().get_urls()]

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
