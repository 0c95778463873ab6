"""Figure 11 (ours only): the data of the chart view of an experiment's runs, as the page asks
for it. `frontend/static/frontend/runs_charts.js` fetches the charts that come into view
together in one `charts/series.json?key=...&key=...` (all runs of the view in each chart), with
`points` the chart's width in pixels between 200 and 2,000; a chart card is at least 360 px
wide, so 400 stands for it. The view's data is every metric chart in one request (all of them
in view, the most one request carries here); one chart's request is measured beside it."""

from __future__ import annotations

import json
import math
import time

from benchmarks.client import Client, EndpointMissing, HttpError, MlflowApi
from benchmarks.measure import chunks, ms, parallel, percentile, split

PAGE = "/p/{project}/e/{experiment_id}/charts/"
SERIES = "/p/{project}/e/{experiment_id}/charts/series.json"
CHART_POINTS = 400


def keys(metrics: int) -> list[str]:
    return [f"chart_{k}" for k in range(metrics)]


def _seed_client(url: str, token: str | None, run_ids: list[str], metrics: int, steps: int):
    """Every run's metrics, 1,000 points a log-batch (`metrics` keys x a run of steps)."""
    api = MlflowApi(Client(url, token))
    now = int(time.time() * 1000)
    per_batch = max(1, 1000 // metrics)
    for i, run_id in enumerate(run_ids):
        for part in chunks(steps, per_batch):
            points = [
                {"key": key, "value": math.sin(step / 50 + k) + (i % 7) / 7 + step / steps,
                 "timestamp": now + step, "step": step}
                for k, key in enumerate(keys(metrics))
                for step in part
            ]  # fmt: skip
            api.log_batch(run_id, metrics=points)
        api.finish_run(run_id)
    return len(run_ids)


def _get(browser: Client, path: str, params: dict | list | None = None) -> tuple[float, bytes]:
    started = time.perf_counter()
    status, _, body = browser.raw("GET", path, params=params)
    elapsed = time.perf_counter() - started
    if status == 404:
        raise EndpointMissing(f"GET {path}")
    if status != 200:
        raise HttpError("GET", path, status, body)
    return elapsed, body


def measure(api: MlflowApi, target, sizes, stamp: str, browser: Client, settle, clients: int):
    """Seed the experiment through the API (untimed), let `settle` wait for our summary worker,
    then load the view `sizes.chart_repeats` times after one untimed load."""
    experiment_id = api.create_experiment(f"bench-charts-{stamp}")
    run_ids = [api.create_run(experiment_id, f"chart-{i:03d}") for i in range(sizes.chart_runs)]
    started = time.time()
    jobs = [
        (target.url, target.token, part, sizes.chart_metrics, sizes.chart_steps)
        for part in split(run_ids, clients)
        if part
    ]
    parallel(_seed_client, jobs)
    seed_seconds = time.time() - started
    settled = settle()
    page = PAGE.format(project=target.project, experiment_id=experiment_id)
    series = SERIES.format(project=target.project, experiment_id=experiment_id)
    metric_keys = keys(sizes.chart_metrics)

    def charts(keys: list[str]) -> float:
        params = [("key", key) for key in keys] + [("x", "step"), ("points", CHART_POINTS)]
        elapsed, body = _get(browser, series, params)
        answer = json.loads(body).get("charts") or []
        if [chart["key"] for chart in answer] != keys:
            raise ValueError(f"asked for charts {keys}, got {[c.get('key') for c in answer]}")
        for chart in answer:
            if len(chart["runs"]) != sizes.chart_runs:
                raise ValueError(f"chart {chart['key']} had {len(chart['runs'])} runs")
        return elapsed

    def view() -> tuple[float, float, float]:
        page_s, _ = _get(browser, page)
        return page_s, charts(metric_keys), charts(metric_keys[:1])

    view()  # warm, as the page figures: the first request pays for imports and connections
    pages, views, requests = [], [], []
    for _ in range(sizes.chart_repeats):
        page_s, data_s, one_s = view()
        pages.append(page_s)
        views.append(data_s)
        requests.append(one_s)
    return {
        "data_p50_ms": ms(percentile(views, 50)),
        "request_p50_ms": ms(percentile(requests, 50)),
        "request_p99_ms": ms(percentile(requests, 99)),
        "page_p50_ms": ms(percentile(pages, 50)),
        "repeats": len(views),
        "runs": sizes.chart_runs,
        "metrics": sizes.chart_metrics,
        "steps": sizes.chart_steps,
        "points_per_request": CHART_POINTS,
        "seeded_points": sizes.chart_runs * sizes.chart_metrics * sizes.chart_steps,
        "seed_seconds": round(seed_seconds, 1),
        "summaries_settled_s": round(settled, 2),
        "path": page,
    }
