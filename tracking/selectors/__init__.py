"""Reads of the tracking domain. Every selector takes the actor, so access is never forgotten."""

from .lookups import experiment_for_user, project_list, run_for_user

__all__ = ["experiment_for_user", "project_list", "run_for_user"]
