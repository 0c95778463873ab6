"""Fetch one experiment or run for an actor, through the one access rule."""

from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404

from accounts.access import Actor, projects_for, require_role
from accounts.models import Project, Role
from tracking.models import Experiment, Lifecycle, Run
from tracking.validation import parse_pk


def project_list(*, actor: Actor) -> QuerySet[Project]:
    """The actor's projects with the counts the projects page shows."""
    return projects_for(actor=actor).annotate(
        experiment_count=Count(
            "experiments",
            filter=Q(experiments__lifecycle=Lifecycle.ACTIVE),
            distinct=True,
        ),
        run_count=Count(
            "experiments__runs",
            filter=Q(experiments__runs__lifecycle=Lifecycle.ACTIVE),
            distinct=True,
        ),
        last_run_start=Max("experiments__runs__start_time"),
    )


def experiment_for_user(
    *, actor: Actor, experiment_id: int | str, need: Role = Role.VIEWER
) -> Experiment:
    """The experiment, or Http404 when it does not exist or the actor cannot see its project."""
    pk = parse_pk(experiment_id)
    if pk is None:
        raise Http404("No such experiment.")
    experiment = Experiment.objects.select_related("project").filter(pk=pk).first()
    if experiment is None:
        raise Http404("No such experiment.")
    require_role(actor=actor, project=experiment.project, need=need)
    return experiment


def run_for_user(*, actor: Actor, run_id: str, need: Role = Role.VIEWER) -> Run:
    """The run, or Http404 when it does not exist or the actor cannot see its project."""
    # run_id is unique: without the model's default ordering there is no ORDER BY to compile,
    # which costs more than the rest of this query.
    found = (
        Run.objects.select_related("experiment__project", "user", "parent")
        .filter(run_id=str(run_id))
        .order_by()[:1]
    )
    run = next(iter(found), None)
    if run is None:
        raise Http404("No such run.")
    require_role(actor=actor, project=run.experiment.project, need=need)
    return run


def runs_for_user(*, actor: Actor, run_ids: list[str], project: Project | None = None) -> list[Run]:
    """The runs among `run_ids` that the actor may read (in `project` when given), in the order
    asked, each once; ids of runs they cannot see are left out, as if they did not exist, and
    the caller decides whether that is an error. One query, whatever the number of runs."""
    ids = list(dict.fromkeys(str(run_id) for run_id in run_ids))
    runs = Run.objects.select_related("experiment__project", "user").filter(
        run_id__in=ids, experiment__project__in=projects_for(actor=actor)
    )
    if project is not None:
        runs = runs.filter(experiment__project=project)
    found = {run.run_id: run for run in runs}
    return [found[run_id] for run_id in ids if run_id in found]
