"""Fetch one experiment or run for an actor, through the one access rule."""

from collections.abc import Iterable

from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404

from accounts.access import Actor, projects_for, require_role
from accounts.models import Project, Role
from tracking.errors import InvalidInput
from tracking.models import Experiment, Lifecycle, Run

# Primary keys are 64-bit integers: longer digit strings cannot name a row, and converting or
# binding them costs time or overflows the column.
_MAX_PK = 2**63 - 1
_MAX_PK_DIGITS = len(str(_MAX_PK))
# Below the bound values of SQLite's default build (32,766) in one `IN` list.
MAX_EXPERIMENT_IDS = 10_000


def parse_pk(value: object) -> int | None:
    """A primary key from an int or a string of ASCII digits, or None when it cannot be one.

    str.isdigit() alone accepts "²" (which int() refuses) and int() accepts other scripts' digits.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= _MAX_PK_DIGITS):
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value <= _MAX_PK:
        return value
    return None


def experiment_pks(ids: Iterable[object], *, field: str = "experiment_ids") -> list[int]:
    """Experiment ids from a request as primary keys; InvalidInput names the first that is not
    one. Whether the actor may see them is the caller's query."""
    pks = []
    for value in ids:
        if len(pks) == MAX_EXPERIMENT_IDS:
            raise InvalidInput(f"At most {MAX_EXPERIMENT_IDS} experiment ids are allowed.", field)
        pk = parse_pk(value)
        if pk is None:
            raise InvalidInput(f"Invalid experiment id {_shown(value)}: expected digits.", field)
        pks.append(pk)
    return pks


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
    if isinstance(value, int) and not isinstance(value, bool):
        return "out of range"
    return f"of type {type(value).__name__}"


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
    # [:1], not first(): run_id is unique, and first() would add an ORDER BY to compile.
    found = Run.objects.select_related("experiment__project", "user", "parent").filter(
        run_id=str(run_id)
    )[:1]
    run = next(iter(found), None)
    if run is None:
        raise Http404("No such run.")
    require_role(actor=actor, project=run.experiment.project, need=need)
    return run
