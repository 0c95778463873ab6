"""The benchmark workload: the same MLflow-protocol calls against any server, eight figures.

Every figure is a dict: its measurements, or {"status": "n/a", "reason": ...} when the server
lacks what the figure needs, or {"status": "error", "error": ...} when a request failed.
"""

from __future__ import annotations

import math
import os
import random
import sqlite3
import threading
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from benchmarks import artifacts, charts, mixed, seed_ours, seed_sql
from benchmarks.client import Client, EndpointMissing, HttpError
from benchmarks.measure import Skip, needs, ok, percentile, timed_repeats
from benchmarks.measure import api as _api
from benchmarks.measure import chunks as _chunks
from benchmarks.measure import ms as _ms
from benchmarks.measure import parallel as _parallel
from benchmarks.measure import split as _split

BATCH_KEYS = 100
BATCH_STEPS = 10  # 100 keys x 10 steps = the 1000 points MLflow allows in one log-batch
SEARCH_FILTER = "metrics.acc > 0.5 and params.lr = '0.01' and tags.team = 'rl'"
SEARCH_ORDER = ["metrics.acc DESC"]
SEARCH_WARMUP = 4
DOWNSAMPLED_POINTS = 1000
# The pages engineer's URLs; a figure whose URL answers 404 reads "n/a (endpoint missing)".
PAGE_PATHS = {
    "page_runs_table": "/p/{project}/e/{experiment_id}/",
    "page_run_overview": "/p/{project}/runs/{run_id}/",
    # What the metric page's chart fetches: the downsampled series, sized to the chart.
    "page_metric_data": "/p/{project}/runs/{run_id}/series.json?key={key}&points=1000",
}
NATIVE_DOWNSAMPLED = "/api/v1/runs/{run_id}/metrics/{key}/history/"
# The steps of the workload, in order, and what the log calls them; all but "seed" are figures.
STEPS = {
    "ingest_batched": "1 batched ingestion",
    "ingest_single": "2 one point per request",
    "sweep": "3 sweep creation",
    "search": "4 search",
    "seed": "seeding the history runs",
    "history_full": "5a full history",
    "history_downsampled": "5b downsampled history",
    **{name: f"6 {name}" for name in PAGE_PATHS},
    "summary_lag": "8 summary lag",
    # Everyday sizes: each figure twice, the second time with the servers in reverse order
    # (REPEATS), and the better of the two kept.
    "everyday_sweep_1": "E sweep creation, round 1",
    "everyday_sweep_2": "E sweep creation, round 2",
    "everyday_search_1": "E search, round 1",
    "everyday_search_2": "E search, round 2",
    "everyday_history_1": "E short history, round 1",
    "everyday_history_2": "E short history, round 2",
    "everyday_single_1": "E one point per request, round 1",
    "everyday_single_2": "E one point per request, round 2",
    "artifacts": "9 artifacts",
    "mixed": "10 mixed load",
    "chart_data": "11 chart view data",
}
# The last step of the large-size workload: memory (figure 7) is sampled until it ends.
LAST_LARGE_STEP = "summary_lag"
EVERYDAY = ("everyday_sweep", "everyday_search", "everyday_history", "everyday_single")
# A step that measures a figure again, and the step whose server order it reverses.
REPEATS = {f"{name}_2": f"{name}_1" for name in EVERYDAY}
# What `--skip` takes: a group of steps by name, or one step.
SKIP_GROUPS = {
    "large": list(STEPS)[: list(STEPS).index(LAST_LARGE_STEP) + 1],
    "everyday": [name for name in STEPS if name.startswith("everyday_")],
    "artifacts": ["artifacts"],
    "mixed": ["mixed"],
    "charts": ["chart_data"],
}
# Everyday sizes (issue 22): a filter on a metric and a param, one on a tag, none, one run.
# (filter, order_by, max_results); {one} is the seed param of a single run.
EVERYDAY_SEARCHES = {
    "metric_param": ("metrics.acc > 0.5 and params.p0 = '0.01'", ["metrics.acc DESC"], 100),
    "tag": ("tags.team = 'rl'", ["attributes.start_time DESC"], 100),
    "unfiltered": ("", [], 1000),
    "one_run": ("params.seed = '{one}'", [], 100),
}
EVERYDAY_TEAMS = ["rl", "cv", "nlp", "audio"]


@dataclass(frozen=True)
class Sizes:
    """How much work each figure does; FULL is the issue's workload, QUICK the CI smoke test."""

    clients: int
    ingest_seconds: float
    single_seconds: float
    sweep_runs: int
    sweep_seconds: float
    search_repeats: int
    history_points: int
    long_history_points: int
    history_repeats: int
    downsample_repeats: int
    overview_metrics: int
    page_repeats: int
    lag_runs: int
    everyday_runs: int
    everyday_sweep_seconds: float
    everyday_history_points: int
    artifact_mb: float
    artifact_repeats: int
    mixed_clients: int
    mixed_seconds: float
    chart_runs: int
    chart_metrics: int
    chart_steps: int
    chart_repeats: int


FULL = Sizes(
    clients=4,
    ingest_seconds=8,
    single_seconds=6,
    sweep_runs=10_000,
    sweep_seconds=30,
    search_repeats=20,
    history_points=100_000,
    long_history_points=1_000_000,
    history_repeats=5,
    downsample_repeats=10,
    overview_metrics=200,
    page_repeats=10,
    lag_runs=15,
    everyday_runs=400,
    everyday_sweep_seconds=60,
    everyday_history_points=50,
    artifact_mb=50,
    artifact_repeats=3,
    mixed_clients=64,
    mixed_seconds=60,
    chart_runs=100,
    chart_metrics=10,
    chart_steps=1000,
    chart_repeats=10,
)
QUICK = Sizes(
    clients=4,
    ingest_seconds=1.5,
    single_seconds=1.5,
    sweep_runs=40,
    sweep_seconds=10,
    search_repeats=5,
    history_points=3_000,
    long_history_points=10_000,
    history_repeats=2,
    downsample_repeats=3,
    overview_metrics=20,
    page_repeats=3,
    lag_runs=3,
    everyday_runs=40,
    everyday_sweep_seconds=20,
    everyday_history_points=50,
    artifact_mb=5,
    artifact_repeats=2,
    mixed_clients=8,
    mixed_seconds=5,
    chart_runs=10,
    chart_metrics=3,
    chart_steps=200,
    chart_repeats=3,
)


@dataclass
class Target:
    """A server under benchmark and what the workload may know about it."""

    url: str
    label: str
    token: str | None = None
    ours: bool = False
    username: str | None = None
    password: str | None = None
    project: str | None = None
    database_url: str | None = None
    # A peer's own database (MLflow's schema, which FastTrackML shares), to copy the sweep's
    # runs its API did not make in time; with series_by_sql the long metrics go in by SQL too.
    peer_database_url: str | None = None
    series_by_sql: bool = False
    pids: list[int] = field(default_factory=list)


def _metric_batch(first_step: int, seed: int) -> list[dict]:
    now = int(time.time() * 1000)
    return [
        {"key": f"m{k:03d}", "value": (seed * 7 + k * 13 + s) % 1000 / 7.0, "timestamp": now,
         "step": first_step + s}
        for k in range(BATCH_KEYS)
        for s in range(BATCH_STEPS)
    ]  # fmt: skip


def _series_batch(key: str, steps: range) -> list[dict]:
    now = int(time.time() * 1000)
    return [
        {"key": key, "value": math.sin(step / 500) + (step % 97) / 97, "timestamp": now,
         "step": step}
        for step in steps
    ]  # fmt: skip


# --- client processes -------------------------------------------------------------------------


def _ingest_client(url: str, token: str | None, run_id: str, start_at: float, seconds: float):
    api = _api(url, token)
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    batches = 0
    while time.time() < deadline:
        api.log_batch(run_id, metrics=_metric_batch(batches * BATCH_STEPS, batches))
        batches += 1
    return {"points": batches * BATCH_KEYS * BATCH_STEPS, "requests": batches, "end": time.time()}


def _single_client(url: str, token: str | None, run_id: str, start_at: float, seconds: float):
    api = _api(url, token)
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    latencies = []
    step = 0
    while time.time() < deadline:
        started = time.perf_counter()
        api.log_metric(run_id, "loss", 1.0 / (step + 1), step)
        latencies.append(time.perf_counter() - started)
        step += 1
    return {"latencies": latencies, "end": time.time()}


def sweep_params(i: int) -> list[dict]:
    values = {
        "lr": ["0.1", "0.01", "0.001"][i % 3],
        "batch_size": ["32", "64", "128"][(i // 3) % 3],
        "optimizer": ["adam", "sgd"][i % 2],
    }
    values.update({f"p{j}": str((i * (j + 3)) % 17) for j in range(3, 10)})
    return [{"key": k, "value": v} for k, v in values.items()]


def sweep_metrics(i: int) -> list[dict]:
    rng = random.Random(i)
    now = int(time.time() * 1000)
    values = {"acc": rng.random(), "loss": rng.random() * 3}
    values.update({f"m{j}": rng.random() for j in range(2, 10)})
    return [{"key": k, "value": v, "timestamp": now, "step": 0} for k, v in values.items()]


def sweep_matches(i: int) -> bool:
    """Whether trial i matches SEARCH_FILTER (lr 0.01, team rl, acc > 0.5)."""
    return i % 3 == 1 and (i // 3) % 3 == 0 and random.Random(i).random() > 0.5


def everyday_params(i: int) -> list[dict]:
    """Ten params: p0 is '0.01' in 9 runs of 50, seed names the run."""
    values = {
        "lr": ["0.1", "0.01", "0.001"][i % 3],
        "p0": "0.01" if i % 50 < 9 else ["0.1", "0.001", "0.0001"][i % 3],
        "seed": str(i),
    }
    values.update({f"p{j}": str((i * (j + 3)) % 17) for j in range(1, 8)})
    return [{"key": k, "value": v} for k, v in values.items()]


def everyday_team(i: int) -> str:
    return EVERYDAY_TEAMS[i % len(EVERYDAY_TEAMS)]


def everyday_one_run(runs: int) -> int:
    """The run the one-run filter finds (its seed param)."""
    return runs // 3


def everyday_matches(name: str, i: int, runs: int) -> bool:
    """Whether run i of an everyday experiment of `runs` runs matches EVERYDAY_SEARCHES[name]."""
    if name == "metric_param":
        return i % 50 < 9 and random.Random(i).random() > 0.5
    if name == "tag":
        return everyday_team(i) == "rl"
    if name == "one_run":
        return i == everyday_one_run(runs)
    return True


def _sweep_client(
    url: str, token: str | None, experiment_id: str, indices: list[int], start_at, seconds,
    everyday: bool = False,
):  # fmt: skip
    api = _api(url, token)
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    created = []
    for i in indices:
        if time.time() > deadline:
            break
        run_id = api.create_run(experiment_id, f"trial-{i:05d}")
        team = everyday_team(i) if everyday else ["rl", "cv", "nlp"][(i // 3) % 3]
        api.log_batch(
            run_id,
            metrics=sweep_metrics(i),
            params=everyday_params(i) if everyday else sweep_params(i),
            tags=[{"key": "team", "value": team}],
        )
        api.finish_run(run_id)
        created.append((i, run_id))
    return {"created": created, "end": time.time()}


def _seed_client(url: str, token: str | None, run_id: str, key: str, steps: list[range]):
    api = _api(url, token)
    for chunk in steps:
        api.log_batch(run_id, metrics=_series_batch(key, chunk))
    return len(steps)


# --- memory ------------------------------------------------------------------------------------


class RssSampler:
    """Samples the resident memory of a server's process trees from /proc while it runs."""

    def __init__(self, root_pids: list[int], interval: float = 0.25):
        self.roots = root_pids
        self.interval = interval
        self.peak_total = 0
        self.peaks: dict[int, tuple[int, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return self.figure()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    stat = handle.read()
            except OSError:
                continue
            # The command name may hold spaces; the fields after its closing parenthesis do not.
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        found, stack = [], list(self.roots)
        while stack:
            pid = stack.pop()
            found.append(pid)
            stack.extend(children.get(pid, []))
        return found

    @staticmethod
    def _rss_kb(pid: int) -> tuple[int, str] | None:
        try:
            with open(f"/proc/{pid}/status") as handle:
                rss = next(
                    (int(line.split()[1]) for line in handle if line.startswith("VmRSS:")), 0
                )
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmd = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError):
            return None
        return rss, cmd

    def sample(self) -> None:
        total = 0
        for pid in self._tree():
            got = self._rss_kb(pid)
            if got is None:
                continue
            rss, cmd = got
            total += rss
            if rss > self.peaks.get(pid, (0, ""))[0]:
                self.peaks[pid] = (rss, cmd)
        self.peak_total = max(self.peak_total, total)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def figure(self) -> dict:
        processes = sorted(
            ({"pid": pid, "peak_rss_mb": round(kb / 1024, 1), "cmd": cmd[:120]}
             for pid, (kb, cmd) in self.peaks.items()),
            key=lambda p: -p["peak_rss_mb"],
        )  # fmt: skip
        # A web process serves requests: anything but the Celery worker and the process that
        # only supervises (a gunicorn master, a `mlflow server` launcher) once it has children.
        web = [
            p["peak_rss_mb"]
            for p in processes
            if "celery" not in p["cmd"]
            and "huey" not in p["cmd"]
            and (p["pid"] not in self.roots or len(processes) == 1)
        ]
        return {
            "peak_rss_mb_total": round(self.peak_total / 1024, 1),
            "peak_rss_mb_web_process": max(web) if web else None,
            "processes": processes,
        }


# --- summary lag (ours) ------------------------------------------------------------------------


class SummaryProbe:
    """Reads a run's MetricSummary straight from our database (the figure is ours only)."""

    QUERY = (
        "SELECT s.count FROM tracking_metricsummary s JOIN tracking_run r ON r.id = s.run_id "
        "WHERE r.run_id = {p} AND s.key = {p}"
    )

    def __init__(self, database_url: str):
        parts = urlsplit(database_url)
        if parts.scheme.startswith("sqlite"):
            self.conn = sqlite3.connect(parts.path, isolation_level=None)
            self.query = self.QUERY.format(p="?")
        else:
            import psycopg

            self.conn = psycopg.connect(database_url, autocommit=True)
            self.query = self.QUERY.format(p="%s")

    STALE = (
        "SELECT count(DISTINCT l.run_id) FROM tracking_latestmetric l WHERE NOT EXISTS ("
        "SELECT 1 FROM tracking_metricsummary s "
        "WHERE s.run_id = l.run_id AND s.key = l.key AND s.seq >= l.seq)"
    )

    # Long keys of stopped runs whose chart blocks (10 steps a block, from 1,000 points) are
    # behind their summary: the worker writes them when a run stops.
    UNBLOCKED = (
        "SELECT count(*) FROM tracking_metricsummary s JOIN tracking_run r ON r.id = s.run_id "
        "WHERE r.status IN ('FINISHED', 'FAILED', 'KILLED') AND s.count - s.nan_count >= 1000 "
        "AND COALESCE((SELECT max(b.seq) FROM tracking_metricrollup b WHERE b.run_id = s.run_id "
        "AND b.key = s.key AND b.width = 10), -1) < s.seq"
    )

    def stale_runs(self) -> int:
        """Runs whose summary is behind their points, and keys of stopped runs whose chart
        blocks are behind their summary: the workers' backlog."""
        return sum(self.conn.execute(query).fetchone()[0] for query in (self.STALE, self.UNBLOCKED))

    def count(self, run_id: str, key: str) -> int:
        row = self.conn.execute(self.query, (run_id, key)).fetchone()
        return row[0] if row else 0

    def close(self) -> None:
        self.conn.close()


# --- the workload ------------------------------------------------------------------------------


def _figure(name: str, fn, log) -> dict:
    log(f"{name} ...")
    started = time.time()
    try:
        result = fn()
    except Skip as exc:
        result = {"status": "n/a", "reason": str(exc)}
    except EndpointMissing as exc:
        result = {"status": "n/a", "reason": f"endpoint missing ({exc})"}
    except (HttpError, OSError, TimeoutError, ValueError, KeyError) as exc:
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    log(f"{name}: {result} ({time.time() - started:.1f} s)")
    return result


def settle_summaries(probe: SummaryProbe, limit: float = 60.0) -> tuple[float, int]:
    """Wait, untimed, until no run's summary is behind its points, or `limit` seconds passed."""
    started = time.perf_counter()
    backlog = probe.stale_runs()
    while backlog and time.perf_counter() - started < limit:
        time.sleep(0.5)
        backlog = probe.stale_runs()
    return time.perf_counter() - started, backlog


def quiesce(database_url: str) -> float:
    """Wait, untimed, until our summary worker has caught up; returns the seconds waited."""
    probe = SummaryProbe(database_url)
    try:
        return settle_summaries(probe)[0]
    finally:
        probe.close()


def run_workload(
    target: Target, sizes: Sizes, log=print, skip: frozenset[str] = frozenset()
) -> dict:
    """Run every figure against one server; returns the result document."""
    return finish(workload_steps(target, sizes, log=log, skip=skip))


def finish(steps: Generator[str, None, dict]) -> dict:
    """Run the steps that are left; returns the result document."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def workload_steps(
    target: Target, sizes: Sizes, log=print, skip: frozenset[str] = frozenset()
) -> Generator[str, None, dict]:
    """The figures against one server, one per `next()`, which gives the step's name (STEPS);
    the result document is the generator's return value. `compare` interleaves the steps of
    the servers, so that each figure of each server is measured within minutes of the others'.
    """
    api = _api(target.url, target.token)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = sizes.clients
    figures: dict[str, dict] = {}
    state: dict[str, Any] = {}
    sampler = RssSampler(target.pids).start() if target.pids else None

    def start_at() -> float:
        return time.time() + 0.3

    def ingest_batched() -> dict:
        experiment_id = api.create_experiment(f"bench-ingest-{stamp}")
        runs = [api.create_run(experiment_id, f"ingest-{i}") for i in range(n)]
        begin = start_at()
        jobs = [(target.url, target.token, r, begin, sizes.ingest_seconds) for r in runs]
        results = _parallel(_ingest_client, jobs)
        state["ingest_experiment"] = experiment_id
        wall = max(r["end"] for r in results) - begin
        points = sum(r["points"] for r in results)
        return {
            "points_per_s": round(points / wall, 1),
            "points": points,
            "requests": sum(r["requests"] for r in results),
            "seconds": round(wall, 2),
        }

    def one_point(experiment_id: str) -> dict:
        runs = [api.create_run(experiment_id, f"single-{i}") for i in range(n)]
        begin = start_at()
        jobs = [(target.url, target.token, r, begin, sizes.single_seconds) for r in runs]
        results = _parallel(_single_client, jobs)
        latencies = [x for r in results for x in r["latencies"]]
        wall = max(r["end"] for r in results) - begin
        return {
            "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": _ms(percentile(latencies, 50)),
            "p99_ms": _ms(percentile(latencies, 99)),
            "requests": len(latencies),
        }

    def ingest_single() -> dict:
        experiment_id = state.get("ingest_experiment") or api.create_experiment(
            f"bench-ingest-{stamp}"
        )
        return one_point(experiment_id)

    def make_sweep(experiment_id: str, runs: int, seconds: float, everyday: bool) -> dict:
        """Runs 0..runs-1 created by `n` clients for at most `seconds`, the rest copied in the
        database; state["indices"] is the trial index of every run in the experiment."""
        begin = start_at()
        parts = _split(list(range(runs)), n)
        jobs = [
            (target.url, target.token, experiment_id, p, begin, seconds, everyday) for p in parts
        ]
        results = _parallel(_sweep_client, jobs)
        wall = max(r["end"] for r in results) - begin
        created = [pair for r in results for pair in r["created"]]
        if not created:
            raise ValueError(f"no run was created in {seconds} s")
        indices = [i for i, _ in created]
        figure = {
            "runs_per_s": round(len(created) / wall, 1),
            "runs": len(created),
            "seconds": round(wall, 2),
        }
        missing = runs - len(created)
        if missing > 0 and (target.peer_database_url or (target.ours and target.database_url)):
            templates = [r for _, r in created]
            if target.peer_database_url:
                seed_sql.clone_runs(target.peer_database_url, templates, missing)
            else:
                seed_ours.clone_in_subprocess(target.database_url, templates, missing)
            indices += [indices[g % len(created)] for g in range(missing)]
            figure["copied_in_database"] = missing
        database_url = target.peer_database_url or (target.ours and target.database_url)
        if database_url:
            seed_sql.analyze(database_url)
        state["indices"] = indices
        return figure

    def sweep() -> dict:
        experiment_id = api.create_experiment(f"bench-sweep-{stamp}")
        state["sweep_experiment"] = experiment_id
        figure = make_sweep(experiment_id, sizes.sweep_runs, sizes.sweep_seconds, False)
        state.update(sweep_done=True, sweep_indices=state["indices"])
        return figure

    def search() -> dict:
        needs(figures["sweep"], "the sweep that seeds the experiment")
        expected = sum(1 for i in state["sweep_indices"] if sweep_matches(i))
        found = []

        def one() -> None:
            found[:] = api.search_runs(state["sweep_experiment"], SEARCH_FILTER, SEARCH_ORDER, 100)

        # Untimed first, as the page figures do: the first search on a database connection of a
        # fresh server plans the query and fills PostgreSQL's catalog caches (ours: 40 to 340 ms,
        # then 19 to 35 ms). Four, as a gunicorn worker has four threads, each with its own
        # connection; every server gets the same.
        for _ in range(SEARCH_WARMUP):
            one()
        latencies = timed_repeats(one, sizes.search_repeats)
        runs = found
        if len(runs) != min(expected, 100):
            raise ValueError(f"search returned {len(runs)} runs, expected {min(expected, 100)}")
        return {
            "p50_ms": _ms(percentile(latencies, 50)),
            "p99_ms": _ms(percentile(latencies, 99)),
            "repeats": len(latencies),
            "matching_runs": expected,
            "runs_in_experiment": len(state["sweep_indices"]),
        }

    def seed_history() -> dict:
        experiment_id = api.create_experiment(f"bench-history-{stamp}")
        run_id = api.create_run(experiment_id, "history")
        overview = api.create_run(experiment_id, "overview")
        state.update(history_experiment=experiment_id, history_run=overview)
        started = time.time()
        chunks = [("long", c) for c in _chunks(sizes.history_points)] + [
            ("huge", c) for c in _chunks(sizes.long_history_points)
        ]
        if target.peer_database_url and target.series_by_sql:
            seed_sql.insert_series(target.peer_database_url, run_id, "long", sizes.history_points)
            seed_sql.insert_series(
                target.peer_database_url, run_id, "huge", sizes.long_history_points
            )
        else:
            jobs = []
            for key in ("long", "huge"):
                mine = [c for k, c in chunks if k == key]
                jobs += [(target.url, target.token, run_id, key, part) for part in _split(mine, n)]
            _parallel(_seed_client, jobs)
        # The overview run: `overview_metrics` keys, 5 steps each.
        points = [
            {"key": f"metric_{k:03d}", "value": k + s / 10, "timestamp": int(time.time() * 1000),
             "step": s}
            for k in range(sizes.overview_metrics)
            for s in range(5)
        ]  # fmt: skip
        for part in range(0, len(points), 1000):
            api.log_batch(overview, metrics=points[part : part + 1000])
        api.finish_run(overview)
        api.finish_run(run_id)
        seconds = time.time() - started
        total = sizes.history_points + sizes.long_history_points
        state["history_seeded"] = run_id
        return {
            "through": "SQL" if target.peer_database_url and target.series_by_sql else "log-batch",
            "points": total,
            "seconds": round(seconds, 1),
            "points_per_s": round(total / seconds),
        }

    def history_full() -> dict:
        needs(state["seed"], "seeding the history run")

        def one() -> None:
            count = api.metric_history(state["history_seeded"], "long")
            if count != sizes.history_points:
                raise ValueError(f"history had {count} points, expected {sizes.history_points}")

        latencies = timed_repeats(one, sizes.history_repeats)
        return {
            "p50_ms": _ms(percentile(latencies, 50)),
            "repeats": len(latencies),
            "points": sizes.history_points,
        }

    def history_downsampled() -> dict:
        needs(state["seed"], "seeding the history run")
        run_id = state["history_seeded"]
        counts = []
        extra: dict[str, float] = {}

        def one() -> None:
            if target.ours:
                path = NATIVE_DOWNSAMPLED.format(run_id=run_id, key="huge")
                body = api.client.call("GET", path, params={"points": DOWNSAMPLED_POINTS})
                counts.append(len(body.get("buckets") or []))
            else:
                counts.append(api.metric_history_interval(run_id, "huge", DOWNSAMPLED_POINTS))

        if target.ours and target.database_url:
            # Our long-history charts read rollups the summary worker keeps; right after the
            # seeding they still lag the last writes and the series is computed from the raw
            # points. One request shows that cost; the figure is measured once the worker has
            # caught up, as a chart of a finished run is.
            started = time.perf_counter()
            one()
            extra["before_rollups_ms"] = _ms(time.perf_counter() - started)
            extra["summaries_settled_s"] = round(quiesce(target.database_url), 2)
        latencies = timed_repeats(one, sizes.downsample_repeats)
        count = counts[-1]
        if not count:
            raise ValueError("the downsampled series of a metric with points was empty")
        return {
            "p50_ms": _ms(percentile(latencies, 50)),
            **extra,
            "repeats": len(latencies),
            "points_in_metric": sizes.long_history_points,
            "points_returned": count,
            "endpoint": NATIVE_DOWNSAMPLED if target.ours else "get-history-bulk-interval",
        }

    def page(name: str):
        def measure() -> dict:
            if not target.ours:
                raise Skip("our pages only")
            if not (target.username and target.password and target.project):
                raise Skip("no --username/--password/--project for the pages")
            needs(figures["sweep"], "the sweep that seeds the runs table")
            needs(state["seed"], "seeding the history run")
            browser = browser_session()
            path = PAGE_PATHS[name].format(
                project=target.project,
                experiment_id=state["sweep_experiment"],
                run_id=state["history_run" if name == "page_run_overview" else "history_seeded"],
                key="huge",
            )
            browser.timed_get(path)  # warm: the first request pays for imports and connections
            latencies = timed_repeats(lambda: browser.timed_get(path), sizes.page_repeats)
            p50 = _ms(percentile(latencies, 50))
            return {"p50_ms": p50, "repeats": len(latencies), "path": path}

        return measure

    def summary_lag() -> dict:
        if not target.ours:
            raise Skip("ours only")
        if not target.database_url:
            raise Skip("no --database-url to read summaries from")
        experiment_id = state.get("history_experiment") or api.create_experiment(
            f"bench-lag-{stamp}"
        )
        probe = SummaryProbe(target.database_url)
        lags = []
        try:
            # The lag of one run, not the time to drain the backlog the earlier figures left
            # (on the embedded broker a worker takes one task a second): wait, untimed, until
            # the workers have caught up, or a minute has passed.
            settled, backlog = settle_summaries(probe)
            for i in range(sizes.lag_runs):
                run_id = api.create_run(experiment_id, f"lag-{i}")
                api.log_batch(run_id, metrics=_series_batch("lag", range(0, 1000)))
                api.log_batch(run_id, metrics=_series_batch("lag", range(1000, 2000)))
                written = time.perf_counter()
                deadline = written + 30
                while probe.count(run_id, "lag") != 2000:
                    if time.perf_counter() > deadline:
                        raise TimeoutError(f"no exact summary of run {run_id} after 30 s")
                    time.sleep(0.01)
                lags.append(time.perf_counter() - written)
        finally:
            probe.close()
        return {
            "p50_s": round(percentile(lags, 50), 3),
            "p95_s": round(percentile(lags, 95), 3),
            "runs": len(lags),
            "backlog_wait_s": round(settled, 1),
            "backlog_left": backlog,
        }

    def everyday_sweep(round_: int) -> dict:
        experiment_id = api.create_experiment(f"bench-everyday-{round_}-{stamp}")
        figure = make_sweep(experiment_id, sizes.everyday_runs, sizes.everyday_sweep_seconds, True)
        state[f"everyday_{round_}"] = (experiment_id, state["indices"])
        return figure

    def everyday_search(round_: int) -> dict:
        needs(figures[f"everyday_sweep_{round_}"], "the sweep that seeds the experiment")
        experiment_id, indices = state[f"everyday_{round_}"]
        one = everyday_one_run(sizes.everyday_runs)
        figure: dict[str, Any] = {}
        for name, (filter_string, order_by, max_results) in EVERYDAY_SEARCHES.items():
            filter_string = filter_string.format(one=one)
            expected = min(
                max_results,
                sum(1 for i in indices if everyday_matches(name, i, sizes.everyday_runs)),
            )
            found: list[dict] = []

            def one_search(f=filter_string, o=order_by, m=max_results, out=found) -> None:
                out[:] = api.search_runs(experiment_id, f, o, m)

            for _ in range(SEARCH_WARMUP):
                one_search()
            latencies = timed_repeats(one_search, sizes.search_repeats)
            if len(found) != expected:
                raise ValueError(f"{filter_string!r} returned {len(found)} runs, not {expected}")
            figure[f"{name}_p50_ms"] = _ms(percentile(latencies, 50))
            figure[f"{name}_runs"] = expected
        figure.update(repeats=len(latencies), runs_in_experiment=len(indices))
        return figure

    def everyday_history(round_: int) -> dict:
        needs(figures[f"everyday_sweep_{round_}"], "the sweep that seeds the experiment")
        experiment_id, _ = state[f"everyday_{round_}"]
        run_id = api.create_run(experiment_id, "short-history")
        points = sizes.everyday_history_points
        api.log_batch(run_id, metrics=_series_batch("short", range(points)))
        api.finish_run(run_id)

        def one() -> None:
            count = api.metric_history(run_id, "short")
            if count != points:
                raise ValueError(f"history had {count} points, expected {points}")

        for _ in range(SEARCH_WARMUP):
            one()
        latencies = timed_repeats(one, sizes.search_repeats)
        return {"p50_ms": _ms(percentile(latencies, 50)), "repeats": len(latencies),
                "points": points}  # fmt: skip

    def everyday_single(round_: int) -> dict:
        needs(figures[f"everyday_sweep_{round_}"], "the sweep that seeds the experiment")
        return one_point(state[f"everyday_{round_}"][0])

    def artifact_transfer() -> dict:
        return artifacts.measure(api, sizes, stamp)

    def browser_session() -> Client:
        """One login through the form for every page figure, as one person browses."""
        if not (target.username and target.password and target.project):
            raise Skip("no --username/--password/--project for the pages")
        if state.get("browser") is None:
            browser = Client(target.url)
            browser.login(target.username, target.password)
            state["browser"] = browser
        return state["browser"]

    def mixed_load() -> dict:
        cookies = None
        if target.ours and target.username and target.project:
            cookies = dict(browser_session().cookies)
        sample = (lambda: RssSampler(target.pids).start()) if target.pids else None
        figure = mixed.measure(api, target, sizes, stamp, cookies, sample)
        if target.ours and not cookies:
            figure["note"] = "no page views: no --username/--password/--project"
        return figure

    def chart_data() -> dict:
        if not target.ours:
            raise Skip("our pages only")
        browser = browser_session()

        def settle() -> float:
            return quiesce(target.database_url) if target.database_url else 0.0

        return charts.measure(api, target, sizes, stamp, browser, settle, n)

    measures = {
        "ingest_batched": ingest_batched,
        "ingest_single": ingest_single,
        "sweep": sweep,
        "search": search,
        "seed": seed_history,
        "history_full": history_full,
        "history_downsampled": history_downsampled,
        **{name: page(name) for name in PAGE_PATHS},
        "summary_lag": summary_lag,
        **{
            f"{name}_{round_}": (lambda fn=fn, round_=round_: fn(round_))
            for name, fn in zip(
                EVERYDAY,
                (everyday_sweep, everyday_search, everyday_history, everyday_single),
                strict=True,
            )
            for round_ in (1, 2)
        },
        "artifacts": artifact_transfer,
        "mixed": mixed_load,
        "chart_data": chart_data,
    }
    skipped = set(skip)
    for name, title in STEPS.items():
        if name in skipped:
            result = {"status": "n/a", "reason": "skipped (--skip)"}
            log(f"{title}: skipped")
        else:
            result = _figure(title, measures[name], log)
        if name == "seed":
            state["seed"] = result
        else:
            figures[name] = result
        if name == LAST_LARGE_STEP:
            # Figure 7 is the memory of the large-size workload; the mixed load records its own.
            if sampler is not None:
                figures["memory"] = sampler.stop()
            else:
                figures["memory"] = {
                    "status": "n/a",
                    "reason": "no server process ids (--pid) given",
                }
        yield name
    for name in EVERYDAY:
        figures[name] = best_of([figures.pop(f"{name}_1"), figures.pop(f"{name}_2")])
    if state.get("browser") is not None:
        state["browser"].close()
    api.client.close()

    return {
        "label": target.label,
        "target": target.url,
        "ours": target.ours,
        "sizes": asdict(sizes),
        "seed": state["seed"],
        "figures": figures,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def best_of(rounds: list[dict]) -> dict:
    """The better of the rounds of an everyday figure, field by field: the highest of a rate
    (`..._per_s`), the lowest of a time (`..._ms`); every round is kept under "rounds"."""
    measured = [r for r in rounds if ok(r)]
    if not measured:
        return {**rounds[0], "rounds": rounds}
    best = dict(measured[0])
    for other in measured[1:]:
        for key, value in other.items():
            if not isinstance(value, int | float) or not isinstance(best.get(key), int | float):
                continue
            if key.endswith("_per_s"):
                best[key] = max(best[key], value)
            elif key.endswith("_ms"):
                best[key] = min(best[key], value)
    best["rounds"] = rounds
    return best


def skipped_steps(names: str | None) -> frozenset[str]:
    """The steps `--skip` names: groups (SKIP_GROUPS) or steps, comma-separated."""
    steps: set[str] = set()
    for name in filter(None, (names or "").split(",")):
        if name in SKIP_GROUPS:
            steps.update(SKIP_GROUPS[name])
        elif name in STEPS and name != "seed":
            steps.add(name)
        else:
            choices = ", ".join([*SKIP_GROUPS, *(s for s in STEPS if s != "seed")])
            raise ValueError(f"--skip {name}: not one of {choices}")
    return frozenset(steps)


def errors(result: dict) -> list[str]:
    """The figures that failed (n/a is not a failure)."""
    return [
        f"{result['label']} {name}: {figure['error']}"
        for name, figure in {**result["figures"], "seed": result["seed"]}.items()
        if figure.get("status") == "error"
    ]
