"""The store in the ORM, for any database: SQLite (the embedded default) and PostgreSQL alike.

Each write locks its run's row first (select_for_update; on SQLite every transaction here
begins IMMEDIATE and holds the database's one write lock), so the writes of one run are
serialised: seq moves on monotonically and two batches never merge the same latest points.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.db.models import F

from tracking.batch import MetricColumns, ParamIn, TagIn
from tracking.models import Experiment, LatestMetric, Lifecycle, Metric, Param, Run, RunTag
from tracking.store.common import (
    RunRef,
    Written,
    last_tag_values,
    latest_per_key,
    new_name,
    raise_if_params_changed,
    stored_values,
)

BULK_BATCH_SIZE = 500


def _write_points(*, run_pk: int, seq: int, metrics: MetricColumns) -> None:
    values, nans = stored_values(metrics.values)
    points = dict.fromkeys(
        zip(metrics.keys, metrics.steps, metrics.timestamps, values, nans, strict=True)
    )
    Metric.objects.bulk_create(
        [
            Metric(run_id=run_pk, key=k, step=s, timestamp=t, value=v, is_nan=n, seq=seq)
            for k, s, t, v, n in points
        ],
        ignore_conflicts=True,
        batch_size=BULK_BATCH_SIZE,
    )
    best = latest_per_key(metrics.keys, metrics.steps, metrics.timestamps, values, nans)
    stored = {
        key: (step, timestamp, value, is_nan)
        for key, step, timestamp, value, is_nan in LatestMetric.objects.filter(
            run_id=run_pk, key__in=list(best)
        ).values_list("key", "step", "timestamp", "value", "is_nan")
    }
    latest = []
    for key in sorted(best):
        # The stored latest point stays unless the batch's best orders after it; its seq moves
        # on regardless, since the key's summary is now stale.
        step, timestamp, value, is_nan = max(best[key], stored.get(key, best[key]))
        latest.append(
            LatestMetric(
                run_id=run_pk,
                key=key,
                step=step,
                timestamp=timestamp,
                value=value,
                is_nan=is_nan,
                seq=seq,
            )
        )
    LatestMetric.objects.bulk_create(
        latest,
        update_conflicts=True,
        unique_fields=["run", "key"],
        update_fields=["step", "timestamp", "value", "is_nan", "seq"],
        batch_size=BULK_BATCH_SIZE,
    )


def _write_params(*, run: RunRef, run_pk: int, params: Sequence[ParamIn]) -> None:
    Param.objects.bulk_create(
        [Param(run_id=run_pk, key=p.key, value=p.value) for p in sorted(params, key=_key)],
        ignore_conflicts=True,
    )
    # Keys logged before (by an earlier or a concurrent batch) were skipped above; reading
    # them back inside the transaction finds any with another value, and the error undoes
    # the whole batch.
    raise_if_params_changed(run=RunRef(pk=run_pk), params=params)


def _key(param: ParamIn) -> str:
    return param.key


def log_batch(
    *, run: RunRef, metrics: MetricColumns, params: Sequence[ParamIn], tags: Sequence[TagIn]
) -> Written | None:
    with transaction.atomic():
        row = (
            Run.objects.select_for_update()
            .filter(run.q(), lifecycle=Lifecycle.ACTIVE)
            .values_list("pk", "metric_seq")
            .first()
        )
        if row is None:
            return None
        run_pk, seq = row
        changes: dict[str, object] = {}
        if metrics:
            seq += 1
            changes["metric_seq"] = F("metric_seq") + 1
            _write_points(run_pk=run_pk, seq=seq, metrics=metrics)
        if params:
            _write_params(run=run, run_pk=run_pk, params=params)
        if tags:
            values = last_tag_values(tags)
            RunTag.objects.bulk_create(
                [RunTag(run_id=run_pk, key=key, value=value) for key, value in values.items()],
                update_conflicts=True,
                unique_fields=["run", "key"],
                update_fields=["value"],
            )
            if (name := new_name(values)) is not None:
                changes["name"] = name
        if changes:
            Run.objects.filter(pk=run_pk).update(**changes)
        return Written(run_pk=run_pk, seq=seq)


def create_run(*, run: Run, tags: dict[str, str], project_id: int) -> bool:
    with transaction.atomic():
        active = Experiment.objects.filter(
            pk=run.experiment_id, project_id=project_id, lifecycle=Lifecycle.ACTIVE
        ).exists()
        if not active:
            return False
        run.save(force_insert=True)
        RunTag.objects.bulk_create(
            [RunTag(run_id=run.pk, key=key, value=value) for key, value in sorted(tags.items())]
        )
    return True


def finish_run(*, run: RunRef, status: str | None, end_time: int | None) -> Run | None:
    with transaction.atomic():
        found = (
            Run.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(run.q(), lifecycle=Lifecycle.ACTIVE)
            .first()
        )
        if found is None:
            return None
        fields = []
        if status is not None:
            found.status = status
            fields.append("status")
        if end_time is not None:
            found.end_time = end_time
            fields.append("end_time")
        if fields:
            found.save(update_fields=fields)
    return found
