"""Fetching what a page shows through the one access rule."""

from __future__ import annotations

import posixpath

import orjson
from django.http import Http404, HttpResponse

from accounts.access import Actor, project_for, role_in
from accounts.models import Project, Role
from tracking.models import Experiment, Run
from tracking.selectors import experiment_for_user, run_for_user


def get_project(request, slug: str, need: Role = Role.VIEWER) -> Project:
    return project_for(actor=Actor.from_request(request), slug=slug, need=need)


def get_experiment(request, slug: str, experiment_id: int, need: Role = Role.VIEWER) -> Experiment:
    """The experiment, or 404 when it is not in the project of the URL."""
    experiment = experiment_for_user(
        actor=Actor.from_request(request), experiment_id=experiment_id, need=need
    )
    if experiment.project.slug != slug:
        raise Http404("No such experiment in this project.")
    return experiment


def get_run(request, slug: str, run_id: str, need: Role = Role.VIEWER) -> Run:
    """The run, or 404 when it is not in the project of the URL."""
    run = run_for_user(actor=Actor.from_request(request), run_id=run_id, need=need)
    if run.experiment.project.slug != slug:
        raise Http404("No such run in this project.")
    return run


def can_edit(request, project: Project) -> bool:
    role = role_in(actor=Actor.from_request(request), project=project)
    return role is not None and role.covers(Role.EDITOR)


def can_manage(request, project: Project) -> bool:
    role = role_in(actor=Actor.from_request(request), project=project)
    return role is not None and role.covers(Role.MANAGER)


def folder_listing(folder: str, entries) -> dict:
    """What the artifact pages show of a folder: its path, its parent and its entries."""
    return {
        "folder": folder,
        "parent_folder": posixpath.dirname(folder) if folder else None,
        "entries": [
            {
                "name": e.path,
                "path": posixpath.join(folder, e.path) if folder else e.path,
                "is_dir": e.is_dir,
                "size": e.size,
            }
            for e in entries
        ],
    }


def chart_data_response(payload: dict) -> HttpResponse:
    """A chart's data as JSON, a float that is not finite (a diverged loss) written as null.

    The charts draw null as a gap, as they draw NaN. The standard library writes `Infinity`,
    which is no JSON: the browser refused the whole answer, and every chart of the request
    with it. orjson also writes the chart view's 200,000 numbers in a fraction of the time.
    """
    return HttpResponse(orjson.dumps(payload), content_type="application/json")
