"""What every figure's measuring shares: percentiles, timed repeats, client processes, and the
way a figure says it cannot be measured."""

from __future__ import annotations

import math
import multiprocessing
import time
from typing import Any

from benchmarks.client import Client, MlflowApi


class Skip(Exception):
    """A figure that cannot be measured on this target, with the reason."""


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def timed_repeats(fn, times: int, budget: float = 15.0) -> list[float]:
    """Seconds of each of up to `times` sequential calls, fewer (but two at least) when the
    calls would take longer than `budget` seconds together: MLflow's server needs 14 s for one
    100,000-point history here, and the whole comparison must fit in ten minutes."""
    latencies: list[float] = []
    begun = time.perf_counter()
    for _ in range(times):
        started = time.perf_counter()
        fn()
        latencies.append(time.perf_counter() - started)
        if len(latencies) >= 2 and time.perf_counter() - begun > budget:
            break
    return latencies


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def api(target_url: str, token: str | None) -> MlflowApi:
    return MlflowApi(Client(target_url, token))


def parallel(fn, arg_lists: list[tuple]) -> list[Any]:
    # fork: the client processes need nothing but their arguments, and start in milliseconds.
    with multiprocessing.get_context("fork").Pool(len(arg_lists)) as pool:
        return pool.starmap(fn, arg_lists)


def chunks(total: int, size: int = 1000) -> list[range]:
    return [range(start, min(start + size, total)) for start in range(0, total, size)]


def split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts)]


def needs(figure: dict, what: str) -> None:
    """Skip a figure whose data another one seeds, giving that one's reason when it is n/a."""
    if figure.get("status") == "n/a":
        raise Skip(figure["reason"])
    if figure.get("status") == "error":
        raise Skip(f"{what} failed")


def ok(figure: dict | None) -> bool:
    return bool(figure) and figure.get("status") not in ("n/a", "error")
