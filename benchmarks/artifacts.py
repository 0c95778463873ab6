"""Figure 9: a model file uploaded and downloaded through the server's artifact proxy, as the
MLflow client does for a run whose artifact URI is `mlflow-artifacts:/...`: one PUT of the whole
file, one GET of it, under `/api/2.0/mlflow-artifacts/artifacts/<path>`."""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

from benchmarks.client import MLFLOW, MlflowApi
from benchmarks.measure import Skip, percentile, timed_repeats

PROXY = "/api/2.0/mlflow-artifacts/artifacts/"
MB = 1024 * 1024


def _proxy_path(artifact_uri: str) -> str | None:
    """The path under the proxy of a run's artifact URI, None when the URI is not the proxy's
    (the client then writes the files itself, e.g. to a `file://` path)."""
    parts = urlsplit(artifact_uri)
    if parts.scheme != "mlflow-artifacts":
        return None
    return parts.path.strip("/")


def _no_proxy(api: MlflowApi, experiment_id: str, run_id: str, artifact_uri: str) -> str:
    """Why the server cannot be measured: what its proxy URL answers to a small upload."""
    path = f"{PROXY}{experiment_id}/{run_id}/artifacts/probe.bin"
    try:
        status, _, body = api.client.raw("PUT", path, body=b"probe")
        answer = f"{status} {body[:60].decode(errors='replace').strip()!r}"
    except OSError as exc:
        answer = f"{type(exc).__name__}"
    scheme = urlsplit(artifact_uri).scheme
    uri = f"a {scheme}:// artifact URI" if scheme else "a local artifact path"
    return (
        f"no artifact proxy: runs get {uri}, which the client writes to itself, "
        f"and PUT {PROXY}... answers {answer}"
    )


def measure(api: MlflowApi, sizes, stamp: str) -> dict:
    experiment_id = api.create_experiment(f"bench-artifacts-{stamp}")
    payload = {"experiment_id": experiment_id, "run_name": "artifacts",
               "start_time": int(time.time() * 1000)}  # fmt: skip
    info = api.client.call("POST", f"{MLFLOW}/runs/create", payload)["run"]["info"]
    run_id, artifact_uri = info["run_id"], info.get("artifact_uri", "")
    root = _proxy_path(artifact_uri)
    if root is None:
        raise Skip(_no_proxy(api, experiment_id, run_id, artifact_uri))
    size = int(sizes.artifact_mb * MB)
    data = os.urandom(size)
    headers = {"Content-Type": "application/octet-stream"}
    uploads = 0

    def upload() -> None:
        nonlocal uploads
        path = f"{PROXY}{root}/model/model-{uploads}.bin"
        status, _, body = api.client.raw("PUT", path, body=data, headers=headers)
        if not 200 <= status < 300:
            raise ValueError(f"PUT {path} -> {status}: {body[:200]!r}")
        uploads += 1

    downloaded: list[bytes] = []

    def download() -> None:
        status, _, body = api.client.raw("GET", f"{PROXY}{root}/model/model-0.bin")
        if status != 200 or len(body) != size:
            raise ValueError(f"GET model-0.bin -> {status}, {len(body)} bytes of {size}")
        downloaded[:] = [body]

    up = timed_repeats(upload, sizes.artifact_repeats)
    down = timed_repeats(download, sizes.artifact_repeats)
    if downloaded[0] != data:  # checked outside the timing: comparing 50 MB takes a while too
        raise ValueError("the download gave other bytes than were uploaded")
    api.finish_run(run_id)
    mb = size / MB
    return {
        "upload_mb_per_s": round(mb / percentile(up, 50), 1),
        "download_mb_per_s": round(mb / percentile(down, 50), 1),
        "upload_p50_s": round(percentile(up, 50), 3),
        "download_p50_s": round(percentile(down, 50), 3),
        "mb": round(mb, 1),
        "repeats": len(up),
        "artifact_uri": artifact_uri,
    }
