"""What both implementations of the store share: how a write names its run, what it answers,
and the rules that are the same whatever wrote the rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q

from tracking.batch import ParamIn, TagIn
from tracking.errors import InvalidInput
from tracking.models import Param
from tracking.validation import RUN_NAME_TAG


@dataclass(frozen=True, slots=True)
class RunRef:
    """The run a write goes to: by primary key (the caller has checked access), or by MLflow's
    run id within a project (a token's write: the store checks the project as it writes)."""

    pk: int | None = None
    run_id: str | None = None
    project_id: int | None = None

    @classmethod
    def in_project(cls, run_id: str, project_id: int) -> RunRef:
        return cls(run_id=str(run_id), project_id=project_id)

    def q(self, prefix: str = "") -> Q:
        if self.pk is not None:
            return Q(**{f"{prefix}pk": self.pk})
        return Q(
            **{f"{prefix}run_id": self.run_id, f"{prefix}experiment__project_id": self.project_id}
        )


@dataclass(frozen=True, slots=True)
class Written:
    """The run a write went to, and its metric_seq after the write."""

    run_pk: int
    seq: int


def latest_per_key(
    keys: list[str], steps: list[int], timestamps: list[int], values: list[float], nans: list[bool]
) -> dict[str, tuple[int, int, float, bool]]:
    """Each key's latest point of a batch: (step, timestamp, value, is_nan), the highest in that
    order, MLflow's order for "latest" (`values` as stored: 0 for NaN)."""
    best: dict[str, tuple[int, int, float, bool]] = {}
    for key, order in zip(keys, zip(steps, timestamps, values, nans, strict=True), strict=True):
        current = best.get(key)
        if current is None or order > current:
            best[key] = order
    return best


def stored_values(values: list[float]) -> tuple[list[float], list[bool]]:
    """The values as stored and their NaN flags: NaN is stored as 0 with is_nan set (Metric)."""
    nans = [value != value for value in values]
    if True in nans:
        values = [0.0 if nan else value for value, nan in zip(values, nans, strict=True)]
    return values, nans


def last_tag_values(tags: Sequence[TagIn]) -> dict[str, str]:
    """Each tag key's last value in the batch, in key order (one lock order for writers)."""
    return dict(sorted({tag.key: tag.value for tag in tags}.items()))


def new_name(tags: dict[str, str]) -> str | None:
    return tags.get(RUN_NAME_TAG)


def raise_if_params_changed(*, run: RunRef, params: Sequence[ParamIn]) -> None:
    """Params are immutable: InvalidInput naming the first one stored with another value."""
    sent = {param.key: param.value for param in params}
    stored = (
        Param.objects.filter(run.q("run__"), key__in=list(sent))
        .order_by("key")
        .values_list("key", "value", "run__run_id")
    )
    for key, value, run_id in stored:
        if sent[key] != value:
            raise InvalidInput(
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{value}' for run ID='{run_id}'. Attempted logging new "
                f"value '{sent[key]}'.",
                field="params",
            )
