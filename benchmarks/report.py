"""The side-by-side markdown table: figures of each server and how ours compares."""

from __future__ import annotations

import contextlib
import os
import platform
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


def markdown(results: dict[str, dict | None]) -> str:
    """The table; results maps "mlflow", "fasttrackml", "mlplatform" to a run's result."""
    mlflow, fml, ours = (results.get(k) for k in ("mlflow", "fasttrackml", "mlplatform"))
    lines = [
        "| figure | unit | MLflow server | FastTrackML | MLPlatform | ours vs MLflow "
        "| ours vs FastTrackML | target |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for figure, key, label, unit, higher in ROWS:
        ours_v = value(ours, figure, key)
        vs_m = ratio(ours_v, value(mlflow, figure, key), higher)
        vs_f = ratio(ours_v, value(fml, figure, key), higher)
        lines.append(
            f"| {label} | {unit} | {cell(mlflow, figure, key)} | {cell(fml, figure, key)} "
            f"| {cell(ours, figure, key)} | {_fmt_ratio(vs_m)} | {_fmt_ratio(vs_f)} "
            f"| {target_check(figure, key, higher, ours_v, vs_m, vs_f)} |"
        )
    lines.append("")
    lines.append("Ratios are how many times better ours is (higher throughput, or lower time/RSS).")
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
