"""`python -m benchmarks run --target URL` and `python -m benchmarks compare`.

run: the workload against one running MLflow-compatible server, a JSON result.
compare: starts MLflow's server, FastTrackML and ours, each on a fresh PostgreSQL database,
runs the same workload against each, a step of it on every server before the next step, and
writes JSON plus a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks import report, servers, workload

RESULTS_DIR = servers.REPO / "benchmark-results"
DOCS = servers.REPO / "docs" / "performance.md"
DOCS_START = "<!-- benchmark-table:start -->"
DOCS_END = "<!-- benchmark-table:end -->"
SERVERS = ("mlflow", "fasttrackml", "mlplatform")
SKIP_HELP = (
    "comma-separated figures to leave out: large (figures 1 to 8 and their seeding), everyday, "
    "artifacts, mixed, charts, or a step's name"
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _looks_like_ours(url: str) -> bool:
    """Our /healthz answers JSON naming the database and the broker; a peer's UI may answer any
    unknown path with its index page, so a 200 alone proves nothing."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=5) as response:  # noqa: S310
            body = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return False
    return isinstance(body, dict) and {"database", "broker"} <= body.keys()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    log(f"wrote {path}")


def cmd_run(args: argparse.Namespace) -> int:
    sizes = workload.QUICK if args.quick else workload.FULL
    ours = args.ours if args.ours is not None else _looks_like_ours(args.target)
    target = workload.Target(
        url=args.target.rstrip("/"),
        label=args.label or ("mlplatform" if ours else "server"),
        token=args.token or os.environ.get("MLFLOW_TRACKING_TOKEN"),
        ours=ours,
        username=args.username,
        password=args.password,
        project=args.project,
        database_url=args.database_url,
        peer_database_url=args.peer_database_url,
        series_by_sql=args.series_by_sql,
        pids=args.pid or [],
    )
    result = workload.run_workload(target, sizes, log=log, skip=_skip(args))
    result["machine"] = report.machine()
    out = Path(args.out) if args.out else RESULTS_DIR / f"run-{target.label}-{_stamp()}.json"
    _write(out, json.dumps(result, indent=2))
    failed = workload.errors(result)
    for line in failed:
        log(f"ERROR {line}")
    return 1 if failed else 0


def _skip(args: argparse.Namespace) -> frozenset[str]:
    try:
        return workload.skipped_steps(args.skip)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _start(label: str, args: argparse.Namespace, log_dir: Path) -> servers.Server:
    prefix = args.database_prefix
    if label == "mlflow":
        return servers.start_mlflow(args.postgres, log_dir, database=f"{prefix}mlflow")
    if label == "fasttrackml":
        return servers.start_fml(args.postgres, log_dir, database=f"{prefix}fml")
    if label == "mlplatform":
        db = servers.fresh_database(args.postgres, f"{prefix}ours")
        return servers.start_ours(db, log_dir, redis_url=args.redis)
    raise ValueError(label)


def _target(label: str, server: servers.Server) -> workload.Target:
    return workload.Target(
        url=server.url,
        label=label,
        token=server.token,
        ours=server.ours,
        username=server.username,
        password=server.password,
        project=server.project,
        database_url=server.database_url,
        peer_database_url=None if server.ours else server.database_url,
        # Through its API MLflow's server takes a quarter of an hour for them.
        series_by_sql=label == "mlflow",
        pids=server.pids,
    )


def _interleave(
    running: dict[str, servers.Server],
    sizes: workload.Sizes,
    postgres: str,
    skip: frozenset[str] = frozenset(),
) -> dict[str, dict]:
    """Each step of the workload on every server before the next step, the server going first
    taking turns: this machine's speed drifts by tens of percent within minutes, and one server
    measured minutes after another made ratios of that drift (the fifth session's search: 0.84x
    FastTrackML in one run, 1.37x in the run before). A checkpoint before each server's step
    writes out what the step before left in PostgreSQL's buffers: without it, batched ingestion
    right after another server's was 12 % slower than before it. A step that measures a figure
    a second time (workload.REPEATS) takes the servers in the reverse order of the first."""
    steps = {
        label: workload.workload_steps(
            _target(label, server),
            sizes,
            log=lambda line, label=label: log(f"[{label}] {line}"),
            skip=skip,
        )
        for label, server in running.items()
    }
    labels = list(steps)
    refused = False
    orders: dict[str, list[str]] = {}
    for turn, name in enumerate(workload.STEPS):
        if name in workload.REPEATS:
            order = orders[name] = orders[workload.REPEATS[name]][::-1]
        else:
            first = turn % len(labels)
            order = orders[name] = labels[first:] + labels[:first]
        for label in order:
            if not servers.checkpoint(postgres) and not refused:
                refused = True
                log(f"WARNING {postgres} refused CHECKPOINT: steps may pay for earlier writes")
            next(steps[label])
            server = running[label]
            if server.ours and server.database_url and len(labels) > 1:
                # Our summary worker finishes what the step queued before another server's
                # step starts, so it never runs during a peer's measurement.
                workload.quiesce(server.database_url)
    return {label: workload.finish(generator) for label, generator in steps.items()}


def cmd_compare(args: argparse.Namespace) -> int:
    sizes = workload.QUICK if args.quick else workload.FULL
    skip = _skip(args)
    wanted = args.only.split(",") if args.only else list(SERVERS)
    unknown = set(wanted) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown server {', '.join(sorted(unknown))}: use {', '.join(SERVERS)}")
    stamp = _stamp()
    log_dir = RESULTS_DIR / f"logs-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    machine = report.machine()
    started = time.time()
    if {"mlflow", "fasttrackml"} & set(wanted):
        servers.ensure_peer_venv(log=log)
    running: dict[str, servers.Server] = {}
    try:
        for label in wanted:
            log(f"=== {label}: starting on a fresh database")
            running[label] = _start(label, args, log_dir)
        results = _interleave(running, sizes, args.postgres, skip)
    finally:
        for server in running.values():
            server.stop()
    failed = [line for result in results.values() for line in workload.errors(result)]
    document = {
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "machine": machine,
        "quick": args.quick,
        "seconds": round(time.time() - started, 1),
        "results": results,
    }
    table = report.markdown(results)
    load = ", ".join(f"{x:.2f}" for x in machine.get("load_average_at_start", []))
    summary = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
        f"`{document['command']}` in {document['seconds']:.0f} s on {machine.get('cpus')} CPUs "
        f"({machine.get('cpu', 'unknown')}), {machine.get('memory_gb')} GB, "
        f"load average at start {load}; "
        f"Python {machine.get('python')} ({machine.get('python_executable', 'unknown')}); "
        f"{machine.get('postgresql', '')}.\n\n{table}\n"
    )  # fmt: skip
    _write(RESULTS_DIR / f"compare-{stamp}.json", json.dumps(document, indent=2))
    _write(RESULTS_DIR / f"compare-{stamp}.md", summary)
    _write(RESULTS_DIR / "latest.json", json.dumps(document, indent=2))
    _write(RESULTS_DIR / "latest.md", summary)
    if args.update_docs:
        text = DOCS.read_text()
        pattern = re.compile(re.escape(DOCS_START) + ".*?" + re.escape(DOCS_END), re.S)
        if not pattern.search(text):
            raise SystemExit(f"{DOCS} has no {DOCS_START} ... {DOCS_END} section")
        _write(DOCS, pattern.sub(lambda _: f"{DOCS_START}\n{summary}{DOCS_END}", text))
    print(summary)
    for line in failed:
        log(f"ERROR {line}")
    return 1 if failed else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the workload against one running server")
    run.add_argument("--target", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    run.add_argument("--token", help="API token (default: $MLFLOW_TRACKING_TOKEN)")
    run.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    run.add_argument("--label", help="name of the server in the result")
    run.add_argument(
        "--ours",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure our own figures too (default: when GET /healthz answers 200)",
    )
    run.add_argument("--username", help="a user of ours, for the page figures")
    run.add_argument("--password", help="that user's password")
    run.add_argument("--project", help="the slug of the token's project, for the page figures")
    run.add_argument("--database-url", help="our database, to read summaries for the lag figure")
    run.add_argument(
        "--peer-database-url",
        help="an MLflow or FastTrackML server's database, to copy sweep runs not made in time",
    )
    run.add_argument(
        "--series-by-sql",
        action="store_true",
        help="with --peer-database-url: insert the long metrics by SQL, not through the API",
    )
    run.add_argument("--pid", type=int, action="append", help="server process to sample RSS of")
    run.add_argument("--skip", help=SKIP_HELP)
    run.add_argument("--out", help="where to write the JSON result")
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser("compare", help="start the three servers and compare them")
    compare.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    compare.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", servers.DEFAULT_POSTGRES),
        help="a PostgreSQL URL with the right to create databases",
    )
    compare.add_argument(
        "--redis",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"),
        help="Redis for our server's broker and cache",
    )
    compare.add_argument("--only", help="comma-separated subset: mlflow,fasttrackml,mlplatform")
    compare.add_argument("--skip", help=SKIP_HELP)
    compare.add_argument(
        "--database-prefix",
        default="bench_",
        help="the servers' databases are PREFIXmlflow, PREFIXfml and PREFIXours (dropped first)",
    )
    compare.add_argument(
        "--update-docs", action="store_true", help="replace the table in docs/performance.md"
    )
    compare.set_defaults(func=cmd_compare)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
