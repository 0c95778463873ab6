"""Figure 10: many clients at once, each on its own keep-alive connection, mixing log-batch,
log-metric, runs/search and (ours) page views of a logged-in person; afterwards every point a
server acknowledged is looked for through its API.

Clients are threads in a few processes: 64 processes would take more of the two cores than the
server, and in one process the GIL would pace the clients. A thread waits on its socket most of
the time, so 8 threads a process keep 8 requests in flight."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import zlib

from benchmarks.client import MLFLOW, Client, MlflowApi
from benchmarks.measure import ms, parallel, percentile

BATCH_KEYS = 5
BATCH_STEPS = 20  # 100 points a batch: what a training loop flushes every few steps
SINGLE_KEY = "mixed_single"
KEYS = [SINGLE_KEY] + [f"mixed_b{k}" for k in range(BATCH_KEYS)]
# The share of each request. A peer's page views are its UI's runs/search, the request its own
# runs table makes, so every server gets the same reads to writes.
WEIGHTS_OURS = {"log_batch": 2, "log_metric": 4, "search": 2, "page": 2}
WEIGHTS_PEER = {"log_batch": 2, "log_metric": 4, "search": 4}
PAGES = ["/p/{project}/e/{experiment_id}/", "/p/{project}/runs/{run_id}/"]
THREADS_PER_PROCESS = 8
TIMEOUT = 60.0


def _body(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def _client(
    url: str, token: str | None, cookies: dict, pages: list[str], experiment_id: str,
    run_id: str, weights: dict, seed: int, deadline: float, out: dict,
) -> None:  # fmt: skip
    """One client until `deadline`; what it saw goes into `out`."""
    api = Client(url, token, timeout=TIMEOUT)
    browser = Client(url, timeout=TIMEOUT) if cookies else None
    if browser is not None:
        browser.cookies = dict(cookies)
    rng = random.Random(seed)
    kinds, shares = list(weights), list(weights.values())
    json_headers = {"Content-Type": "application/json"}
    acked: dict[str, list[int]] = {key: [] for key in KEYS}
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    counts = {"server_errors": 0, "other_errors": 0, "transport_errors": 0}
    samples: list[str] = []
    single_step = batch_step = 0
    search = _body({"experiment_ids": [experiment_id], "filter": "",
                    "order_by": ["metrics.mixed_b0 DESC"], "max_results": 100})  # fmt: skip
    while time.time() < deadline:
        kind = rng.choices(kinds, shares)[0]
        now = int(time.time() * 1000)
        written: list[tuple[str, int]] = []
        if kind == "log_metric":
            client, method, path = api, "POST", f"{MLFLOW}/runs/log-metric"
            body = _body({"run_id": run_id, "key": SINGLE_KEY, "value": rng.random(),
                          "timestamp": now, "step": single_step})  # fmt: skip
            written = [(SINGLE_KEY, single_step)]
            single_step += 1
        elif kind == "log_batch":
            client, method, path = api, "POST", f"{MLFLOW}/runs/log-batch"
            steps = range(batch_step, batch_step + BATCH_STEPS)
            written = [(key, step) for key in KEYS[1:] for step in steps]
            body = _body({"run_id": run_id, "params": [], "tags": [], "metrics": [
                {"key": key, "value": rng.random(), "timestamp": now, "step": step}
                for key, step in written
            ]})  # fmt: skip
            batch_step += BATCH_STEPS
        elif kind == "search":
            client, method, path, body = api, "POST", f"{MLFLOW}/runs/search", search
        else:
            client, method, body = browser, "GET", None
            path = rng.choice(pages).format(run_id=run_id)
        started = time.perf_counter()
        try:
            status, _, answer = client.raw(
                method, path, body=body, headers=json_headers if body else None
            )
        except (OSError, http.client.HTTPException) as exc:
            # Connection refused or reset twice (the client retries a dropped connection once),
            # or no answer within the timeout.
            client.close()
            counts["transport_errors"] += 1
            if len(samples) < 5:
                samples.append(f"{kind}: {type(exc).__name__}: {exc}")
            continue
        latencies[kind].append(time.perf_counter() - started)
        if 200 <= status < 300:
            for key, step in written:
                acked[key].append(step)
            continue
        counts["server_errors" if status >= 500 else "other_errors"] += 1
        if len(samples) < 5:
            samples.append(f"{kind} {method} {path} -> {status}: {answer[:200]!r}")
    api.close()
    if browser is not None:
        browser.close()
    out.update(run_id=run_id, acked=acked, latencies=latencies, samples=samples, **counts)


def _process(url, token, cookies, pages, experiment_id, run_ids, weights, start_at, seconds):
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    outs = [{} for _ in run_ids]
    threads = [
        threading.Thread(
            target=_client,
            args=(
                url,
                token,
                cookies,
                pages,
                experiment_id,
                run_id,
                weights,
                zlib.crc32(run_id.encode()),
                deadline,
                out,
            ),
        )
        for run_id, out in zip(run_ids, outs, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"clients": outs, "end": time.time()}


def _stored(api: MlflowApi, run_id: str, key: str) -> list[int]:
    steps: list[int] = []
    params = {"run_id": run_id, "metric_key": key, "max_results": 25000}
    while True:
        response = api.client.call("GET", f"{MLFLOW}/metrics/get-history", params=params)
        steps += [int(point["step"]) for point in response.get("metrics", [])]
        token = response.get("next_page_token")
        if not token:
            return steps
        params = {**params, "page_token": token}


def measure(api: MlflowApi, target, sizes, stamp: str, cookies: dict | None, sampler) -> dict:
    """`cookies`: a logged-in session of ours for the page views (None: no page views)."""
    experiment_id = api.create_experiment(f"bench-mixed-{stamp}")
    run_ids = [api.create_run(experiment_id, f"mixed-{i:02d}") for i in range(sizes.mixed_clients)]
    weights = WEIGHTS_OURS if cookies else WEIGHTS_PEER
    pages = [
        page.format(project=target.project, experiment_id=experiment_id, run_id="{run_id}")
        for page in PAGES
    ]
    processes = max(1, -(-sizes.mixed_clients // THREADS_PER_PROCESS))
    begin = time.time() + 0.5
    jobs = [
        (target.url, target.token, cookies or {}, pages, experiment_id, run_ids[p::processes],
         weights, begin, sizes.mixed_seconds)
        for p in range(processes)
    ]  # fmt: skip
    sampler = sampler() if sampler else None
    try:
        results = parallel(_process, jobs)
    finally:
        memory = sampler.stop() if sampler else {}
    wall = max(r["end"] for r in results) - begin
    clients = [c for r in results for c in r["clients"]]
    by_kind = {kind: [x for c in clients for x in c["latencies"][kind]] for kind in weights}
    every = [x for values in by_kind.values() for x in values]
    # Every acknowledged point must be there; what failed may be there or not.
    acked = stored_count = lost = duplicates = 0
    for c in clients:
        for key in KEYS:
            stored = _stored(api, c["run_id"], key)
            stored_count += len(stored)
            duplicates += len(stored) - len(set(stored))
            acked += len(c["acked"][key])
            lost += len(set(c["acked"][key]) - set(stored))
    counts = {name: sum(c[name] for c in clients)
              for name in ("server_errors", "other_errors", "transport_errors")}  # fmt: skip
    return {
        "requests_per_s": round(len(every) / wall, 1),
        "p50_ms": ms(percentile(every, 50)) if every else None,
        "p99_ms": ms(percentile(every, 99)) if every else None,
        "errors": counts["server_errors"] + counts["transport_errors"],
        **counts,
        "lost_points": lost,
        "points_acknowledged": acked,
        "points_stored": stored_count,
        "duplicate_points": duplicates,
        "requests": len(every),
        "by_kind": {
            kind: {
                "requests": len(values),
                "p50_ms": ms(percentile(values, 50)) if values else None,
                "p99_ms": ms(percentile(values, 99)) if values else None,
            }
            for kind, values in by_kind.items()
        },
        "clients": sizes.mixed_clients,
        "processes": processes,
        "seconds": round(wall, 2),
        "error_samples": [s for c in clients for s in c["samples"]][:10],
        "peak_rss_mb_total": memory.get("peak_rss_mb_total"),
        "peak_rss_mb_web_process": memory.get("peak_rss_mb_web_process"),
    }
