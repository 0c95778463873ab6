"""The runs whose summaries are stale, and the marker of a queued drain.

Writes mark their run here (one round trip to Redis), and a worker's drain task summarises the
marked runs in bulk, so a sweep of thousands of one-batch trials costs a few tasks, not
thousands. Each mark carries a version that every write moves on; a drain unmarks a run only
if no write marked it again while it was being summarised, and a worker killed mid-drain leaves
its runs marked for the redelivered task. With Redis the marks are a sorted set (run -> version);
the embedded default keeps one empty file per run in the data directory, its mtime the version.
Losing the marks (a flushed Redis) only delays summaries: the reconciler finds stale runs in
the database and marks them again.
"""

from __future__ import annotations

import contextlib
import os
import time
from functools import cache
from pathlib import Path

import redis
from django.conf import settings

DIRTY_KEY = "mlplatform:summaries:dirty"
DRAIN_KEY = "mlplatform:summaries:drain"

# Unmark each (run, version) pair whose version is still the one the drain saw.
_UNMARK = """
local removed = 0
for i = 1, #ARGV, 2 do
    if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) == tonumber(ARGV[i + 1]) then
        removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
    end
end
return removed
"""


class RedisDirtyRuns:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self._unmark = self.client.register_script(_UNMARK)

    def mark(self, run_pks: list[int], *, drain_ttl: float) -> bool:
        """Mark the runs; True when no drain was queued, and the caller must queue one."""
        pipe = self.client.pipeline(transaction=False)
        for pk in run_pks:
            pipe.zincrby(DIRTY_KEY, 1, pk)
        pipe.set(DRAIN_KEY, 1, nx=True, px=max(1, int(drain_ttl * 1000)))
        return bool(pipe.execute()[-1])

    def peek(self, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` marked runs with their versions."""
        rows = self.client.zrange(DIRTY_KEY, 0, limit - 1, withscores=True)
        return [(int(pk), str(int(score))) for pk, score in rows]

    def unmark(self, marks: list[tuple[int, str]]) -> None:
        if marks:
            self._unmark(keys=[DIRTY_KEY], args=[x for mark in marks for x in mark])

    def drain_started(self) -> None:
        self.client.delete(DRAIN_KEY)

    def count(self) -> int:
        return int(self.client.zcard(DIRTY_KEY))


class DirectoryDirtyRuns:
    """One file per marked run: a write touches it, its mtime (in ns) is the version."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.marker = folder.parent / "summaries-drain"

    def mark(self, run_pks: list[int], *, drain_ttl: float) -> bool:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for pk in run_pks:
            (self.folder / str(pk)).touch()
        with contextlib.suppress(FileNotFoundError):
            if time.time() - self.marker.stat().st_mtime > drain_ttl:
                self.marker.unlink(missing_ok=True)  # its message was lost: queue another
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return False
        return True

    def peek(self, limit: int) -> list[tuple[int, str]]:
        marks = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder):
                if len(marks) == limit:
                    break
                with contextlib.suppress(FileNotFoundError):
                    marks.append((int(entry.name), str(entry.stat().st_mtime_ns)))
        return marks

    def unmark(self, marks: list[tuple[int, str]]) -> None:
        for pk, version in marks:
            path = self.folder / str(pk)
            with contextlib.suppress(FileNotFoundError):
                if str(path.stat().st_mtime_ns) == version:
                    path.unlink()

    def drain_started(self) -> None:
        self.marker.unlink(missing_ok=True)

    def count(self) -> int:
        with contextlib.suppress(FileNotFoundError):
            return sum(1 for _ in os.scandir(self.folder))
        return 0


@cache
def dirty_runs() -> RedisDirtyRuns | DirectoryDirtyRuns:
    if settings.REDIS_URL:
        return RedisDirtyRuns(settings.REDIS_URL)
    return DirectoryDirtyRuns(Path(settings.DATA_DIR) / "summaries-dirty")
