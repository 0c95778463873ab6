"""A real `celery -A mlplatform worker` process on the test database, for end-to-end tests.

The worker sees what the test commits, so tests using it need `transactional_db`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from mlplatform.celery import app as celery_app
from tracking.dirty_runs import dirty_runs

READY_TIMEOUT = 30
STOP_TIMEOUT = 1


def database_url() -> str:
    """The URL of the database this test process uses (the test database, not the real one)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"], safe="") + (
        f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    )
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def flush_broker() -> None:
    """Drop every queued message and pending marker, as a flushed Redis would.

    With Redis this is FLUSHDB of this test process's own database only (each xdist worker has
    its own, tests/settings.py); the embedded broker loses its message files, its file cache and
    the dirty-run marks with their drain marker, which FLUSHDB takes with it in Redis.
    """
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    else:
        celery_app.control.purge()
        cache.clear()
        marks = dirty_runs()
        shutil.rmtree(marks.folder, ignore_errors=True)
        marks.marker.unlink(missing_ok=True)


class Worker:
    """One worker process group, started and stopped by the test that owns it."""

    def __init__(
        self, log_dir: Path, *, beat: bool = False, summary_delay: float = 0, concurrency: int = 2
    ) -> None:
        self.log_dir = log_dir
        self.beat = beat
        self.concurrency = concurrency
        self.summary_delay = summary_delay
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def start(self) -> Worker:
        name = uuid.uuid4().hex[:8]
        self.log_path = self.log_dir / f"worker-{name}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "MLPLATFORM_DATA_DIR": os.environ["MLPLATFORM_DATA_DIR"],
            "DATABASE_URL": database_url(),
            "MLPLATFORM_SUMMARY_RECONCILE_SECONDS": "1",
        }
        celery = ["-m", "celery"]
        if self.summary_delay:
            celery = ["-m", "tests.e2e.slow_celery", str(self.summary_delay)]
        command = [
            sys.executable,
            *celery,
            "-A",
            "mlplatform",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={self.concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname=test-{name}@%h",
        ]
        if self.beat:
            command += ["--beat", f"--schedule={self.log_dir / f'beat-{name}'}"]
        with open(self.log_path, "wb") as log:
            # Its own process group, so stopping it also stops its pool children and beat.
            self.process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while " ready." not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The worker did not start:\n{self.log()}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL the whole worker: no shutdown, no acknowledgement, nothing cleaned up."""
        self._signal(signal.SIGKILL)

    def kill_pool(self) -> None:
        """SIGKILL the pool processes (where tasks run) and leave the main process alive.

        With one pool process that is busy: an idle one may hold the pool's queue lock, and
        killing it then would hang the pool, which is not what this simulates.
        """
        assert self.concurrency == 1
        for pid in self._children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _children(self) -> list[int]:
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # The command may contain spaces and parentheses; the fields follow the last ")".
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def stop(self) -> None:
        """Warm shutdown, killed after a moment: tests need the process gone, not a clean exit
        (the prefork pool takes seconds to wind down)."""
        if self.process is None or self.process.poll() is not None:
            return
        # To the main process only: it stops its pool children and beat itself.
        self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT)
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.process is None:
            return
        # The whole group: a pool child or beat that outlived the main process goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=15)
