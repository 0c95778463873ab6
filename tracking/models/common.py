"""What the tracking models share: lifecycles, run statuses, ids and times."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

DEFAULT_EXPERIMENT_NAME = "Default"


# Param and tag values up to this many characters are indexed by (key, value): nearly all are,
# and a B-tree entry cannot hold the longest values. Search adds the redundant length test to
# `value = '...'` so PostgreSQL and SQLite can prove the partial index applies.
INDEXED_VALUE_LENGTH = 200


def short_value_index(name: str) -> models.Index:
    # With the run in the index, a search's `params.lr = '0.01'` finds its runs without reading
    # the table (an index-only scan, on PostgreSQL, once vacuum has marked the pages visible).
    return models.Index(
        fields=["key", "value"],
        name=name,
        condition=Q(LessThanOrEqual(Length("value"), INDEXED_VALUE_LENGTH)),
        include=["run"],
    )


def now_ms() -> int:
    return int(timezone.now().timestamp() * 1000)


def new_run_id() -> str:
    return uuid.uuid4().hex


class Lifecycle(models.TextChoices):
    ACTIVE = "active", "Active"
    DELETED = "deleted", "Deleted"


class RunStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    SCHEDULED = "SCHEDULED", "Scheduled"
    FINISHED = "FINISHED", "Finished"
    FAILED = "FAILED", "Failed"
    KILLED = "KILLED", "Killed"


# A run in one of these has stopped writing: its points are what they will be.
STOPPED_STATUSES = (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)
