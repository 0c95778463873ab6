"""Seed data for page tests and the browser test: runs with params, metrics and summaries.

Rows are written directly (bulk_create), so page tests do not depend on the ingestion service.
"""

from __future__ import annotations

import math

from accounts.models import User
from tracking.models import Experiment, LatestMetric, Metric, MetricSummary, Param, Run, RunStatus

T0 = 1_700_000_000_000
# The names the Model metrics filter is specified against, plus others.
METRIC_KEYS = [
    "metric_step",
    "metric_step_3",
    "metric_step_4",
    "loss",
    "accuracy",
    "system/cpu_utilization_percentage",
]


def add_metric(run: Run, key: str, values: list[float], *, summarize: bool = True) -> None:
    """Points at steps 0..n-1, one second apart, with LatestMetric and (optionally) a summary."""
    points = [
        Metric(
            run=run,
            key=key,
            step=step,
            timestamp=run.start_time + 1000 * step,
            value=0.0 if math.isnan(value) else value,
            is_nan=math.isnan(value),
        )
        for step, value in enumerate(values)
    ]
    Metric.objects.bulk_create(points)
    last = points[-1]
    LatestMetric.objects.create(
        run=run,
        key=key,
        value=last.value,
        is_nan=last.is_nan,
        step=last.step,
        timestamp=last.timestamp,
        seq=1,
    )
    if summarize:
        real = [v for v in values if not math.isnan(v)]
        MetricSummary.objects.create(
            run=run,
            key=key,
            count=len(values),
            nan_count=len(values) - len(real),
            min=min(real) if real else None,
            max=max(real) if real else None,
            sum=sum(real) if real else None,
            first_step=0,
            last_step=len(values) - 1,
            last_timestamp=last.timestamp,
            seq=1,
        )


def make_run(
    experiment: Experiment,
    *,
    name: str,
    user: User | None = None,
    status: str = RunStatus.FINISHED,
    start: int = T0,
    duration: int | None = 60_000,
    params: dict[str, str] | None = None,
    parent: Run | None = None,
) -> Run:
    run = Run.objects.create(
        experiment=experiment,
        name=name,
        user=user,
        status=status,
        start_time=start,
        end_time=start + duration if duration is not None else None,
        parent=parent,
    )
    Param.objects.bulk_create([Param(run=run, key=k, value=v) for k, v in (params or {}).items()])
    return run


def seed_experiment(experiment: Experiment, user: User) -> dict[str, Run]:
    """Two finished runs with different lr and accuracy, a running one, and a child run."""
    good = make_run(
        experiment, name="good-run", user=user, start=T0, params={"lr": "0.01", "optim": "adam"}
    )
    bad = make_run(
        experiment,
        name="bad-run",
        user=user,
        start=T0 + 10_000,
        params={"lr": "0.1", "optim": "adam"},
    )
    live = make_run(
        experiment,
        name="live-run",
        user=user,
        status=RunStatus.RUNNING,
        start=T0 + 20_000,
        duration=None,
        params={"lr": "0.001"},
    )
    child = make_run(experiment, name="child-run", user=user, start=T0 + 30_000, parent=good)
    for run, scale in ((good, 1.0), (bad, 0.5), (live, 0.8)):
        for key in METRIC_KEYS:
            add_metric(run, key, [scale * (i + 1) / 50 for i in range(50)])
    add_metric(good, "once", [3.5])
    add_metric(child, "loss", [0.3, 0.2])
    return {"good": good, "bad": bad, "live": live, "child": child}
