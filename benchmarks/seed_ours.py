"""Copying runs in our own database, for the part of a 10,000-run sweep not made in time.

Run as `python -m benchmarks.seed_ours` with DATABASE_URL set: it needs Django, and the
benchmark's own process stays free of it. Like the MLflow seeding (benchmarks.seed_sql), the
copies are made of exactly the rows our server wrote for the runs the sweep created through the
API, each under a new run id, so the runs table and search see data of the shape the API makes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHUNK = 500


def clone_in_subprocess(database_url: str, templates: list[str], copies: int) -> None:
    """Make `copies` copies of the `templates` runs in our database at `database_url`."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "mlplatform.settings",
        # Settings want a data directory and a key; neither is used by a bulk insert.
        "MLPLATFORM_DATA_DIR": tempfile.mkdtemp(prefix="bench-seed-"),
        "SECRET_KEY": os.urandom(16).hex(),
    }
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.seed_ours", str(copies)],
        input=json.dumps(templates),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"copying runs failed: {result.stderr[-2000:]}")


def _copy(obj, **changes):
    values = {
        f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if not f.primary_key
    }
    values.update(changes)
    return type(obj)(**values)


def clone_runs(templates: list[str], copies: int) -> None:
    from django.db import transaction

    from tracking.models import Run, new_run_id

    related = ["params", "tags", "latest_metrics", "metrics", "metric_summaries"]
    by_id = {
        run.run_id: run
        for run in Run.objects.filter(run_id__in=templates).prefetch_related(*related)
    }
    ordered = [by_id[run_id] for run_id in templates]
    for start in range(0, copies, CHUNK):
        with transaction.atomic():
            sources = [ordered[g % len(ordered)] for g in range(start, min(copies, start + CHUNK))]
            runs = Run.objects.bulk_create(
                [
                    _copy(source, run_id=new_run_id(), name=f"{source.name}-copy-{start + i}")
                    for i, source in enumerate(sources)
                ]
            )
            for name in related:
                rows = [
                    _copy(row, run_id=run.pk)
                    for source, run in zip(sources, runs, strict=True)
                    for row in getattr(source, name).all()
                ]
                if rows:
                    type(rows[0]).objects.bulk_create(rows, batch_size=5000)


if __name__ == "__main__":
    import django

    django.setup()
    clone_runs(json.loads(sys.stdin.read()), int(sys.argv[1]))
