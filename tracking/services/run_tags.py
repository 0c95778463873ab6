"""Setting a run's tag for a person: the access check the batch path leaves to its callers."""

from __future__ import annotations

from accounts.access import Actor, require_role
from accounts.models import Role
from tracking.models import Run
from tracking.services.ingest import TagIn, run_log_batch


def run_set_tag(*, actor: Actor, run: Run, key: str, value: str) -> None:
    """Set (or overwrite) one tag of the run; the batch path validates the key and value."""
    require_role(actor=actor, project=run.experiment.project, need=Role.EDITOR)
    run_log_batch(run=run, tags=[TagIn(key=key, value=value)])
