"""Profile our `log-batch` write path in-process: `python -m benchmarks.profile_ingest`.

Makes a fresh PostgreSQL database, one user, project and token, then posts `--batches`
requests of 1,000 points (100 keys x 10 steps, as benchmark figure 1 does) through Django's test
client: once timed without the profiler, once under cProfile, whose top entries it prints.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time

from benchmarks.servers import DEFAULT_POSTGRES, fresh_database


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_ingest")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server to make the DB on")
    parser.add_argument("--database", default="bench_profile", help="name of the fresh database")
    parser.add_argument("--batches", type=int, default=30, help="requests (or runs) to time")
    parser.add_argument(
        "--endpoint",
        choices=["log-batch", "log-metric", "sweep"],
        default="log-batch",
        help="log-batch: 1,000 points a request; log-metric: one point a request; "
        "sweep: create, log 10 params + 10 metrics, finish (figure 3)",
    )
    parser.add_argument("--top", type=int, default=40, help="profile entries to print")
    parser.add_argument(
        "--sort", default="cumulative", help="pstats sort key: cumulative, tottime, ncalls"
    )
    args = parser.parse_args()

    os.environ.update(
        DATABASE_URL=fresh_database(args.postgres, args.database),
        DJANGO_SETTINGS_MODULE="mlplatform.settings",
        ALLOWED_HOSTS="testserver",
        MLPLATFORM_DATA_DIR=tempfile.mkdtemp(prefix="bench-profile-"),
        SECRET_KEY=os.urandom(16).hex(),
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import TokenScope, User
    from accounts.services import token_create
    from tracking.services.projects import project_create

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("profile", "profile@example.org", "profile-password-1")
    project = project_create(slug="profile", name="Profile", owner=user)
    _, raw = token_create(
        user=user, project=project, name="profile", scope=TokenScope.WRITE, expires_at=None
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def post(path: str, body: dict) -> dict:
        response = client.post(path, json.dumps(body), content_type="application/json")
        if response.status_code != 200:
            raise SystemExit(f"{path} -> {response.status_code}: {response.content[:300]!r}")
        return response.json()

    api = "/api/2.0/mlflow"
    experiment_id = post(f"{api}/experiments/create", {"name": "profile"})["experiment_id"]
    run = post(f"{api}/runs/create", {"experiment_id": experiment_id, "start_time": 0})
    run_id = run["run"]["info"]["run_id"]

    def batch(b: int) -> dict:
        now = int(time.time() * 1000)
        metrics = [
            {"key": f"m{k:03d}", "value": (b * 7 + k * 13 + s) % 1000 / 7.0, "timestamp": now,
             "step": b * 10 + s}
            for k in range(100)
            for s in range(10)
        ]  # fmt: skip
        return {"run_id": run_id, "metrics": metrics}

    def one_point(b: int) -> None:
        metric = {"key": "loss", "value": 1.0 / (b + 1), "timestamp": 0, "step": b}
        post(f"{api}/runs/log-metric", {"run_id": run_id, **metric})

    def trial(b: int) -> None:
        created = post(f"{api}/runs/create", {"experiment_id": experiment_id, "run_name": f"t{b}"})
        trial_id = created["run"]["info"]["run_id"]
        post(
            f"{api}/runs/log-batch",
            {
                "run_id": trial_id,
                "params": [{"key": f"p{j}", "value": str(b % (j + 2))} for j in range(10)],
                "metrics": [
                    {"key": f"m{j}", "value": b / (j + 1), "timestamp": 0, "step": 0}
                    for j in range(10)
                ],
                "tags": [{"key": "team", "value": "rl"}],
            },
        )
        post(f"{api}/runs/update", {"run_id": trial_id, "status": "FINISHED", "end_time": 1})

    work, unit, per = {
        "log-batch": (lambda b: post(f"{api}/runs/log-batch", batch(b)), "points", 1000),
        "log-metric": (one_point, "requests", 1),
        "sweep": (trial, "runs", 1),
    }[args.endpoint]
    work(0)  # warm: imports, connection, first keys
    started = time.perf_counter()
    for b in range(1, args.batches + 1):
        work(b)
    seconds = time.perf_counter() - started
    rate = args.batches * per / seconds
    print(f"{args.batches} x {args.endpoint}, no profiler: {rate:,.0f} {unit}/s")

    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for b in range(args.batches + 1, 2 * args.batches + 1):
        work(b)
    profile.disable()
    seconds = time.perf_counter() - started
    print(
        f"{args.batches} x {args.endpoint}, profiled: {args.batches * per / seconds:,.0f} {unit}/s"
    )
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
