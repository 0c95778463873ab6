"""The side-by-side markdown table: figures of each server and how ours compares."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess

from benchmarks.servers import base_interpreter

# (figure, field, label, unit, higher is better)
ROWS = [
    ("ingest_batched", "points_per_s", "1. Batched ingestion, 4 clients", "points/s", True),
    ("ingest_single", "requests_per_s", "2. One point per request, 4 clients", "req/s", True),
    ("ingest_single", "p50_ms", "2. One point per request, p50", "ms", False),
    ("ingest_single", "p99_ms", "2. One point per request, p99", "ms", False),
    ("sweep", "runs_per_s", "3. Sweep creation (create, log 10+10, finish)", "runs/s", True),
    ("search", "p50_ms", "4. runs/search, filter + order by, p50", "ms", False),
    ("search", "p99_ms", "4. runs/search, filter + order by, p99", "ms", False),
    ("history_full", "p50_ms", "5a. Full get-history, p50", "ms", False),
    ("history_downsampled", "p50_ms", "5b. Downsampled series, p50", "ms", False),
    ("page_runs_table", "p50_ms", "6. Page: runs table, p50", "ms", False),
    ("page_run_overview", "p50_ms", "6. Page: run overview, p50", "ms", False),
    ("page_metric_data", "p50_ms", "6. Page: metric chart data, p50", "ms", False),
    ("memory", "peak_rss_mb_total", "7. Peak RSS, all server processes", "MB", False),
    ("memory", "peak_rss_mb_web_process", "7. Peak RSS, largest web process", "MB", False),
    ("summary_lag", "p50_s", "8. Summary lag, p50", "s", False),
    ("summary_lag", "p95_s", "8. Summary lag, p95", "s", False),
]
ABSOLUTE_TARGETS = {
    ("page_runs_table", "p50_ms"): ("< 100 ms", lambda v: v < 100),
    ("page_run_overview", "p50_ms"): ("< 100 ms", lambda v: v < 100),
    ("page_metric_data", "p50_ms"): ("< 100 ms", lambda v: v < 100),
    ("summary_lag", "p95_s"): ("< 2 s", lambda v: v < 2),
    ("memory", "peak_rss_mb_web_process"): ("< 250 MB", lambda v: v < 250),
}


# The everyday-size table (issue 22): the target is FastTrackML's figure. Labels are filled in
# from the sizes and the figure of the first result that has them.
EVERYDAY_ROWS = [
    ("everyday_search", "metric_param_p50_ms",
     "E1. runs/search, `metrics.acc > 0.5 and params.p0 = '0.01'` by `metrics.acc DESC` "
     "({metric_param_runs} of {everyday_runs} runs), p50", "ms", False),
    ("everyday_search", "tag_p50_ms",
     "E2. runs/search, `tags.team = 'rl'` by `attributes.start_time DESC` "
     "({tag_runs} of {everyday_runs} runs), p50", "ms", False),
    ("everyday_search", "unfiltered_p50_ms",
     "E3. runs/search, no filter, max_results 1000 ({unfiltered_runs} runs), p50", "ms", False),
    ("everyday_search", "one_run_p50_ms",
     "E4. runs/search, a filter matching {one_run_runs} run of {everyday_runs}, p50", "ms",
     False),
    ("everyday_history", "p50_ms",
     "E5. get-history of a {everyday_history_points}-point metric, p50", "ms", False),
    ("everyday_single", "requests_per_s", "E6. One point per request, {clients} clients",
     "req/s", True),
    ("everyday_sweep", "runs_per_s",
     "E7. Sweep creation, {everyday_runs} runs (create, log 10+10, finish)", "runs/s", True),
]  # fmt: skip
# Artifacts (issue 18), the mixed load (issue 20) and the chart view (issue 21):
# (figure, field, label, unit, higher is better, target, ratio shown)
MORE_ROWS = [
    ("artifacts", "upload_mb_per_s", "9. Artifact upload, {artifact_mb:g} MB", "MB/s", True,
     "mlflow", True),
    ("artifacts", "download_mb_per_s", "9. Artifact download, {artifact_mb:g} MB", "MB/s", True,
     "mlflow", True),
    ("mixed", "requests_per_s", "10. Mixed load, {mixed_clients} clients, {mixed_seconds:g} s",
     "req/s", True, None, True),
    ("mixed", "p99_ms", "10. Mixed load, p99", "ms", False, None, True),
    ("mixed", "errors", "10. Mixed load, 5xx and transport errors", "requests", False, "zero",
     False),
    ("mixed", "lost_points", "10. Mixed load, acknowledged points not stored", "points", False,
     "zero", False),
    ("chart_data", "data_p50_ms",
     "11. Chart view data, {chart_runs} runs x {chart_metrics} metrics x {chart_steps:,} steps "
     "(all its charts, one request), p50", "ms", False, "< 300 ms", False),
    ("chart_data", "request_p50_ms", "11. Chart view data, one chart's request, p50", "ms",
     False, None, False),
    ("chart_data", "page_p50_ms", "11. Chart view page, p50", "ms", False, "< 100 ms", False),
]  # fmt: skip
MORE_TARGETS = {
    "< 300 ms": lambda v: v < 300,
    "< 100 ms": lambda v: v < 100,
    "zero": lambda v: v == 0,
}
HEADER = [
    "| figure | unit | MLflow server | FastTrackML | MLPlatform | ours vs MLflow "
    "| ours vs FastTrackML | target |",
    "|---|---|---:|---:|---:|---:|---:|---|",
]


def label(template: str, results: list[dict | None], figure: str) -> str:
    """The row's label with sizes and counts from the first result that has the figure."""
    for result in results:
        data = (result or {}).get("figures", {}).get(figure) or {}
        if result and data.get("status") not in ("n/a", "error"):
            try:
                return template.format(**{**result.get("sizes", {}), **data})
            except (KeyError, ValueError):
                continue
    return re.sub(r"\{[^}]*\}", "?", template)


def cell(result: dict | None, figure: str, key: str) -> str:
    if result is None:
        return "not run"
    data = result["figures"].get(figure) or {}
    if data.get("status") == "n/a":
        return "n/a (endpoint missing)" if "endpoint missing" in data["reason"] else "n/a"
    if data.get("status") == "error":
        return "error"
    value = data.get(key)
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def value(result: dict | None, figure: str, key: str) -> float | None:
    if result is None:
        return None
    data = result["figures"].get(figure) or {}
    got = data.get(key)
    return float(got) if isinstance(got, int | float) else None


def ratio(ours: float | None, peer: float | None, higher_better: bool) -> float | None:
    """How many times better ours is than the peer (>1: better)."""
    if ours is None or peer is None or ours <= 0 or peer <= 0:
        return None
    return ours / peer if higher_better else peer / ours


def _fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def target_check(figure: str, key: str, higher_better: bool, ours, vs_mlflow, vs_fml) -> str:
    if (figure, key) in ABSOLUTE_TARGETS:
        text, test = ABSOLUTE_TARGETS[(figure, key)]
        if ours is None:
            return f"{text}: -"
        return f"{text}: {'met' if test(ours) else 'missed'}"
    if figure in ("summary_lag", "memory"):
        return ""
    need_fml = 3.0 if figure == "ingest_batched" else 1.0
    if vs_mlflow is None and vs_fml is None:
        return f"≥5x MLflow, ≥{need_fml:g}x FML: -"
    # A peer without the endpoint (FastTrackML has no bulk-interval) is no comparison: the
    # verdict rests on the peer that has it, and says so.
    checks = [
        ratio >= need for ratio, need in ((vs_mlflow, 5.0), (vs_fml, need_fml)) if ratio is not None
    ]
    verdict = "met" if all(checks) else "missed"
    if vs_mlflow is None or vs_fml is None:
        verdict += f" (no {'MLflow' if vs_mlflow is None else 'FastTrackML'} figure)"
    return f"≥5x MLflow, ≥{need_fml:g}x FML: {verdict}"


def peer_target(name: str, vs_peer: float | None) -> str:
    """At least the peer's figure: "mlflow" or "fasttrackml"."""
    text = f"≥1x {'MLflow' if name == 'mlflow' else 'FML'}"
    if vs_peer is None:
        return f"{text}: -"
    return f"{text}: {'met' if vs_peer >= 1 else 'missed'}"


def _row(results, figure, key, text, unit, higher, target, show_ratio=True) -> str:
    mlflow, fml, ours = (results.get(k) for k in ("mlflow", "fasttrackml", "mlplatform"))
    ours_v = value(ours, figure, key)
    vs_m = ratio(ours_v, value(mlflow, figure, key), higher) if show_ratio else None
    vs_f = ratio(ours_v, value(fml, figure, key), higher) if show_ratio else None
    if callable(target):
        verdict = target(ours_v, vs_m, vs_f)
    elif target in ("mlflow", "fasttrackml"):
        verdict = peer_target(target, vs_m if target == "mlflow" else vs_f)
    elif target in MORE_TARGETS:
        met = None if ours_v is None else MORE_TARGETS[target](ours_v)
        verdict = f"{target}: {'-' if met is None else 'met' if met else 'missed'}"
    else:
        verdict = ""
    return (
        f"| {text} | {unit} | {cell(mlflow, figure, key)} | {cell(fml, figure, key)} "
        f"| {cell(ours, figure, key)} | {_fmt_ratio(vs_m)} | {_fmt_ratio(vs_f)} | {verdict} |"
    )


def large_table(results: dict[str, dict | None]) -> list[str]:
    lines = list(HEADER)
    for figure, key, text, unit, higher in ROWS:
        lines.append(
            _row(results, figure, key, text, unit, higher,
                 lambda o, m, f, figure=figure, key=key, higher=higher:
                 target_check(figure, key, higher, o, m, f))
        )  # fmt: skip
    return lines


def everyday_table(results: dict[str, dict | None]) -> list[str]:
    lines = list(HEADER)
    ordered = [results.get(k) for k in ("mlplatform", "fasttrackml", "mlflow")]
    for figure, key, template, unit, higher in EVERYDAY_ROWS:
        text = label(template, ordered, figure)
        lines.append(_row(results, figure, key, text, unit, higher, "fasttrackml"))
    return lines


def more_table(results: dict[str, dict | None]) -> list[str]:
    lines = list(HEADER)
    ordered = [results.get(k) for k in ("mlplatform", "fasttrackml", "mlflow")]
    for figure, key, template, unit, higher, target, show_ratio in MORE_ROWS:
        text = label(template, ordered, figure)
        lines.append(_row(results, figure, key, text, unit, higher, target, show_ratio))
    return lines


def reasons(results: dict[str, dict | None], figures: list[str]) -> list[str]:
    """Why a figure is n/a for a server, when the reason is more than a missing endpoint."""
    notes = []
    for label_, name in (("MLflow server", "mlflow"), ("FastTrackML", "fasttrackml")):
        result = results.get(name)
        for figure in figures:
            data = (result or {}).get("figures", {}).get(figure) or {}
            if data.get("status") == "n/a" and data["reason"] != "skipped (--skip)":
                notes.append(f"- {label_}, {figure}: n/a, {data['reason']}.")
    return notes


def markdown(results: dict[str, dict | None]) -> str:
    """The tables; results maps "mlflow", "fasttrackml", "mlplatform" to a run's result."""
    more = sorted({row[0] for row in MORE_ROWS} - {"chart_data"})
    lines = [
        "#### Large sizes",
        "",
        *large_table(results),
        "",
        "#### Everyday sizes",
        "",
        "Each figure measured twice on every server, the second time in the reverse order, and "
        "the better of the two kept.",
        "",
        *everyday_table(results),
        "",
        "#### Artifacts, mixed load and the chart view",
        "",
        *more_table(results),
        *(["", *reasons(results, more)] if reasons(results, more) else []),
        "",
        "Ratios are how many times better ours is (higher throughput, or lower time/RSS).",
    ]
    return "\n".join(lines)


def machine() -> dict:
    """What the figures were measured on."""
    info: dict = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        # Which build: Debian's and the official images' are built with PGO and LTO, pyenv's by
        # default without, and ran our request path a fifth slower on the same machine.
        "python_executable": str(base_interpreter()),
    }
    try:
        with open("/proc/meminfo") as handle:
            kb = int(handle.readline().split()[1])
        info["memory_gb"] = round(kb / 1024 / 1024, 1)
        with open("/proc/cpuinfo") as handle:
            info["cpu"] = next(
                (line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                "unknown",
            )
        info["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    with contextlib.suppress(OSError):
        info["postgresql"] = subprocess.run(
            ["psql", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return info
