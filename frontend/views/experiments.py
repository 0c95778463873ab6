"""The project page: experiments on the left, the selected experiment's runs table on the right."""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import Actor
from accounts.models import Role
from frontend import selectors
from frontend.forms import DescriptionForm, ExperimentForm
from frontend.views.common import can_edit, can_manage, get_experiment, get_project, get_run
from tracking.errors import TrackingError
from tracking.exports import csv_row
from tracking.filters import ExperimentFilter
from tracking.models import DEFAULT_EXPERIMENT_NAME, Experiment, Lifecycle, Run, RunStatus
from tracking.search import SearchError
from tracking.services.experiments import (
    experiment_create,
    experiment_delete,
    experiment_purge,
    experiment_restore,
    experiment_update,
)


def _experiments(project, request):
    show_deleted = request.GET.get("deleted") == "1"
    search = request.GET.get("eq", "").strip()
    experiments = ExperimentFilter(
        {"name_contains": search, "lifecycle": "all" if show_deleted else Lifecycle.ACTIVE},
        queryset=project.experiments.all(),
    ).qs
    return experiments.order_by("name"), search, show_deleted


def _table_columns(
    request, experiment: Experiment, *, chooser: bool = True
) -> tuple[list, selectors.ColumnChoices]:
    """The columns chosen in the URL (or the defaults), and every choice (without the tag keys
    when the page shows no chooser)."""
    choices = selectors.column_choices(
        experiment_runs=Run.objects.active().filter(experiment=experiment), with_tags=chooser
    )
    if "col" in request.GET:
        columns = [c for c in map(selectors.Column.parse, request.GET.getlist("col")) if c]
        columns = [c for c in columns if c.kind != "attr" or c.key in selectors.OPTIONAL_ATTRIBUTES]
    else:
        columns = choices.default
    return columns, choices


def runs_table(request, experiment: Experiment) -> dict:
    """The runs table of the request's filter, sort, columns and page, as template context."""
    get = request.GET
    query = selectors.RunsQuery.from_get(get)
    sort = query.sort
    error, error_position = None, None
    try:
        runs = selectors.experiment_runs(experiment=experiment, user=request.user, query=query)
    except SearchError as exc:
        error, error_position = str(exc), getattr(exc, "position", None)
        runs = selectors.sorted_runs(Run.objects.none(), sort)
    # Unfiltered, child runs sit under their parent (expandable). A filter shows every match, and
    # so does a sort by a value: a parent without the metric must not hide its best child.
    grouped = not query.narrowed and sort.column.kind == "attr"
    runs = runs.filter(parent__isnull=True) if grouped else runs.select_related("parent")
    cursor = selectors.decode_cursor(get["after"]) if get.get("after") else None
    if cursor is not None:
        runs = selectors.after_cursor(runs, sort, cursor)
    page = list(runs[: selectors.PAGE_SIZE + 1])
    next_cursor = None
    if len(page) > selectors.PAGE_SIZE:
        page = page[: selectors.PAGE_SIZE]
        next_cursor = selectors.encode_cursor(page[-1].sort_value, page[-1].run_id)

    columns, choices = _table_columns(request, experiment)
    rows = selectors.run_rows(page, columns)

    state = query.state()
    base = [(k, v) for k, v in state.items() if v] + [("col", c.id) for c in columns]
    if "col" in get and not columns:
        base.append(("col", ""))

    def url_with(**changes) -> str:
        pairs = [(k, v) for k, v in base if k not in changes]
        pairs += [(k, v) for k, v in changes.items() if v]
        return "?" + urlencode(pairs)

    headers = []
    for column in [selectors.Column("attr", k) for k in selectors.FIXED_ATTRIBUTES] + columns:
        active = sort.column == column
        next_token = column.id if active and sort.descending else "-" + column.id
        headers.append(
            {
                "column": column,
                "label": column.label,
                "kind": column.kind,
                "url": url_with(sort=next_token),
                "aria_sort": ("descending" if sort.descending else "ascending")
                if active
                else "none",
            }
        )
    return {
        "experiment": experiment,
        "rows": rows,
        "columns": columns,
        "headers": headers,
        "state": state,
        "filter_error": error,
        "filter_error_position": error_position,
        "grouped": grouped,
        "next_url": url_with(after=next_cursor) if next_cursor else None,
        "first_url": url_with() if cursor else None,
        "csv_url": reverse(
            "runs_csv", kwargs={"slug": experiment.project.slug, "experiment_id": experiment.pk}
        )
        + url_with(after=get.get("after", "")),
        "charts_url": reverse(
            "experiment_charts",
            kwargs={"slug": experiment.project.slug, "experiment_id": experiment.pk},
        )
        + url_with(),
        "live": any(row.run.status == RunStatus.RUNNING for row in rows),
        "param_keys": choices.params,
        "metric_keys": choices.metrics,
        "tag_keys": choices.tags,
        "optional_attributes": selectors.OPTIONAL_ATTRIBUTES,
        "chosen": {c.id for c in columns},
        "statuses": RunStatus.choices,
    }


@login_required
def project_page(request, slug: str, experiment_id: int | None = None):
    project = get_project(request, slug)
    experiments, search, show_deleted = _experiments(project, request)
    if experiment_id is None:
        active = project.experiments.filter(lifecycle=Lifecycle.ACTIVE)
        experiment = active.filter(name=DEFAULT_EXPERIMENT_NAME).first() or active.first()
    else:
        experiment = get_experiment(request, slug, experiment_id)
    context = {
        "project": project,
        "experiments": experiments,
        "experiment_search": search,
        "show_deleted": show_deleted,
        "selected": experiment,
        "can_edit": can_edit(request, project),
        "can_manage": can_manage(request, project),
        "experiment_form": ExperimentForm(),
    }
    if experiment is not None:
        context["table"] = runs_table(request, experiment)
        context["has_any_run"] = bool(context["table"]["rows"]) or (
            Run.objects.filter(experiment__project=project).exists()
        )
    if request.htmx and request.htmx.target == "runs" and experiment is not None:
        return render(request, "frontend/partials/runs_table.html", context)
    return render(request, "frontend/project.html", context)


@login_required
def runs_csv(request, slug: str, experiment_id: int):
    experiment = get_experiment(request, slug, experiment_id)
    table = runs_table(request, experiment)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="runs-{experiment.pk}.csv"'
    writer = csv.writer(response)
    columns = table["columns"]
    writer.writerow(
        csv_row(
            ["run_id", "name", "status", "user", "start_time", "end_time", "duration_ms", "parent"]
            + [c.id for c in columns]
        )
    )
    for row in table["rows"]:
        run = row.run
        writer.writerow(
            csv_row(
                [
                    run.run_id,
                    run.name,
                    run.status,
                    run.user.username if run.user else "",
                    run.start_time,
                    run.end_time,
                    run.duration_ms,
                    run.parent.run_id if run.parent_id and run.parent else "",
                ]
                + [row.value(c) for c in columns]
            )
        )
    return response


@login_required
def run_children(request, slug: str, run_id: str):
    """The child runs of a run, as rows inserted under it when its row is expanded."""
    parent = get_run(request, slug, run_id)
    # Only the columns: the parent's whole table page is not needed to draw its children.
    columns, _ = _table_columns(request, parent.experiment, chooser=False)
    children = list(
        Run.objects.active()
        .filter(parent=parent)
        .select_related("user")
        .order_by("-start_time")[: selectors.PAGE_SIZE]
    )
    for child in children:
        child.parent = parent  # each row names its parent; no query per row for it
    rows = selectors.run_rows(children, columns)
    return render(
        request,
        "frontend/partials/run_rows.html",
        {
            "rows": rows,
            "columns": columns,
            "child_rows": True,
            "project": parent.experiment.project,
        },
    )


def _back(experiment: Experiment | None, slug: str):
    if experiment is not None:
        return redirect("experiment", slug=slug, experiment_id=experiment.pk)
    return redirect("project", slug=slug)


@login_required
@require_POST
def experiment_new(request, slug: str):
    project = get_project(request, slug, need=Role.EDITOR)
    form = ExperimentForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["name"]))
        return _back(None, slug)
    try:
        experiment = experiment_create(
            actor=Actor.from_request(request), project=project, name=form.cleaned_data["name"]
        )
    except TrackingError as exc:
        messages.error(request, exc.message)
        return _back(None, slug)
    messages.success(request, f"Experiment {experiment.name} created.")
    return _back(experiment, slug)


@login_required
@require_POST
def experiment_rename(request, slug: str, experiment_id: int):
    experiment = get_experiment(request, slug, experiment_id, need=Role.EDITOR)
    form = ExperimentForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["name"]))
        return _back(experiment, slug)
    try:
        experiment_update(
            actor=Actor.from_request(request), experiment=experiment, name=form.cleaned_data["name"]
        )
    except TrackingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Experiment renamed to {experiment.name}.")
    return _back(experiment, slug)


@login_required
@require_POST
def experiment_describe(request, slug: str, experiment_id: int):
    experiment = get_experiment(request, slug, experiment_id, need=Role.EDITOR)
    form = DescriptionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The description is limited to 5,000 characters.")
        return _back(experiment, slug)
    try:
        experiment_update(
            actor=Actor.from_request(request),
            experiment=experiment,
            description=form.cleaned_data["description"],
        )
    except TrackingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Description saved.")
    return _back(experiment, slug)


@login_required
@require_POST
def experiment_remove(request, slug: str, experiment_id: int):
    experiment = get_experiment(request, slug, experiment_id, need=Role.EDITOR)
    try:
        experiment_delete(actor=Actor.from_request(request), experiment=experiment)
    except TrackingError as exc:
        messages.error(request, exc.message)
        return _back(experiment, slug)
    messages.success(request, f"Experiment {experiment.name} deleted; you can restore it.")
    return redirect(reverse("project", kwargs={"slug": slug}) + "?deleted=1")


@login_required
@require_POST
def experiment_bring_back(request, slug: str, experiment_id: int):
    experiment = get_experiment(request, slug, experiment_id, need=Role.EDITOR)
    try:
        experiment_restore(actor=Actor.from_request(request), experiment=experiment)
    except TrackingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Experiment {experiment.name} restored.")
    return _back(experiment, slug)


@login_required
@require_POST
def experiment_purge_page(request, slug: str, experiment_id: int):
    """Delete a deleted experiment for good, which also frees its name (managers only)."""
    experiment = get_experiment(request, slug, experiment_id, need=Role.MANAGER)
    name = experiment.name
    try:
        experiment_purge(actor=Actor.from_request(request), experiment=experiment)
    except TrackingError as exc:
        messages.error(request, exc.message)
        return _back(experiment, slug)
    messages.success(request, f"Experiment {name} purged; its name is free again.")
    return redirect(reverse("project", kwargs={"slug": slug}) + "?deleted=1")
