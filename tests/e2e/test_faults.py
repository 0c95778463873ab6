"""Faults injected into a real `mlplatform server` while the official client ingests.

The server runs on a PostgreSQL instance and a Redis of this module's own (throw-away, on free
ports), so stopping them disturbs nobody else: a web worker killed mid-batch, the database
stopped and started, Redis stopped and started, an artifact store that cannot be written.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import psycopg
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from tests.e2e.conftest import (
    ServerProcess,
    free_port,
    require_service,
    run_mlplatform,
    server_env,
    start_mlplatform,
)

pytestmark = pytest.mark.e2e

POINTS = 1000
SERVICE_TIMEOUT = 30
SUMMARY_TIMEOUT = 60


def wait_until(condition: Callable[[], bool], what: str, timeout: float, log=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s\n{log()}")
        time.sleep(0.1)


# --- A PostgreSQL instance of our own -----------------------------------------------------------


@dataclass
class Postgres:
    """A throw-away cluster in a temporary folder; as root, run as the `postgres` user, since
    PostgreSQL refuses to run as root."""

    bin_dir: Path
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/mlplatform"

    def _run(self, *argv: str, timeout: float = SERVICE_TIMEOUT) -> None:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"

    def init(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "postgres.log"),
            "-w",
            "-t",
            str(SERVICE_TIMEOUT),
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(found[0]).parent if found else None


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    bin_dir = postgres_bin_dir()
    require_service(bin_dir is not None, "PostgreSQL's initdb and pg_ctl are not installed")
    if os.geteuid() == 0:
        require_service(
            shutil.which("runuser") is not None and _has_user("postgres"),
            "running PostgreSQL as root needs runuser and a postgres user",
        )
    folder = Path(tempfile.mkdtemp(prefix="mlp-fault-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    instance = Postgres(bin_dir=bin_dir, folder=folder, port=free_port())
    try:
        instance.init()
        instance.start()
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{instance.port}/postgres", autocommit=True
        ) as admin:
            admin.execute("CREATE DATABASE mlplatform")
        yield instance
    finally:
        with contextlib.suppress(Exception):
            if instance.running():
                instance._run(
                    str(bin_dir / "pg_ctl"), "-D", str(instance.data), "-m", "immediate", "stop"
                )
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- A Redis of our own -------------------------------------------------------------------------


@dataclass
class Redis:
    folder: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self.ping, f"Redis on port {self.port}", SERVICE_TIMEOUT, self.log)

    def stop(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=SERVICE_TIMEOUT)
        self.process = None

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=1).ping()
        except redis.RedisError:
            return False

    def log(self) -> str:
        return (self.folder / "redis.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[Redis]:
    require_service(shutil.which("redis-server") is not None, "redis-server is not installed")
    instance = Redis(folder=tmp_path_factory.mktemp("redis"), port=free_port())
    instance.start()
    try:
        yield instance
    finally:
        if instance.process is not None:
            instance.stop()


# --- The server under test and its user ---------------------------------------------------------

SETUP_USER = """
from accounts.models import User
from accounts.services import token_create
from tracking.services.projects import project_create
user = User.objects.create_user("faulty", "faulty@example.org", "correct-Horse-battery-42")
project = project_create(slug="faults", name="Faults", owner=user)
print("token", token_create(user=user, project=project, name="ingest")[1])
"""


@dataclass
class Deployment:
    server: ServerProcess
    postgres: Postgres
    redis: Redis
    token: str

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def start_deployment(
    postgres: Postgres, redis_server: Redis, folder: Path, **env: str
) -> ServerProcess:
    environment = server_env(
        folder / "data",
        DATABASE_URL=postgres.url,
        REDIS_URL=redis_server.url,
        MLPLATFORM_SUMMARY_RECONCILE_SECONDS="1",
        **env,
    )
    server = start_mlplatform(
        ["server", "--port", str(free_port()), "--workers", "2", "--threads", "4"],
        env=environment,
        log_path=folder / "server.log",
    )
    try:
        server.wait_until_healthy(timeout=90)
    except BaseException:
        server.kill_everything()
        raise
    return server


@pytest.fixture(scope="module")
def deployment(postgres, redis_server, tmp_path_factory) -> Iterator[Deployment]:
    server = start_deployment(postgres, redis_server, tmp_path_factory.mktemp("server"))
    try:
        done = run_mlplatform(["shell", "-c", SETUP_USER], env=server.env)
        assert done.returncode == 0, done.stderr
        token = done.stdout.split("token", 1)[1].split()[0]
        yield Deployment(server=server, postgres=postgres, redis=redis_server, token=token)
    finally:
        server.kill_everything()


@pytest.fixture
def client(deployment, monkeypatch) -> MlflowClient:
    """The official client as a training job runs it, retrying quickly so the test stays short."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", deployment.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", deployment.token)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "10")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    mlflow.set_tracking_uri(deployment.url)
    return MlflowClient(deployment.url)


def new_run(client: MlflowClient, name: str) -> str:
    experiment_id = client.create_experiment(f"{name}-{time.time_ns()}")
    return client.create_run(experiment_id, run_name=name).info.run_id


def batch(key: str) -> list[Metric]:
    return [Metric(key, float(step) / 7, 1_700_000_000_000 + step, step) for step in range(POINTS)]


def batch_json(run_id: str, key: str) -> dict:
    return {
        "run_id": run_id,
        "metrics": [
            {"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step}
            for m in batch(key)
        ],
    }


def point_counts(postgres: Postgres, run_id: str) -> dict[str, int]:
    """Points stored per key of a run, read from the database itself."""
    with postgres.connect() as db:
        rows = db.execute(
            "SELECT m.key, COUNT(*) FROM tracking_metric m JOIN tracking_run r ON r.id = m.run_id"
            " WHERE r.run_id = %s GROUP BY m.key",
            (run_id,),
        ).fetchall()
    return dict(rows)


def distinct_points(postgres: Postgres, run_id: str) -> dict[str, int]:
    with postgres.connect() as db:
        rows = db.execute(
            "SELECT key, COUNT(*) FROM (SELECT DISTINCT m.key, m.step, m.timestamp, m.value"
            " FROM tracking_metric m JOIN tracking_run r ON r.id = m.run_id WHERE r.run_id = %s)"
            " points GROUP BY key",
            (run_id,),
        ).fetchall()
    return dict(rows)


def in_parallel(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls in threads at once; each result, or the exception it raised."""
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a client call hung for 120 s"
    return results


def web_workers(server: ServerProcess) -> list:
    """gunicorn's workers: the children of its arbiter."""
    procs = server.descendants()
    arbiter = next(p for p in procs if "gunicorn" in p.cmdline and p.ppid == server.process.pid)
    return [p for p in procs if p.ppid == arbiter.pid]


def wait_for_web_workers(server: ServerProcess, count: int) -> None:
    server.wait_for(lambda: len(web_workers(server)) == count, f"{count} web workers", 30)
    server.wait_until_healthy()


# --- kill -9 of a web worker --------------------------------------------------------------------


SENDS_PER_CLIENT = 50


def kill_soon(started: threading.Event, killed: threading.Event, pid: int) -> None:
    """SIGKILL `pid` a moment after the first batch went out, while the workers parse and write."""
    started.wait(10)
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    killed.set()


def test_a_web_worker_killed_mid_batch_leaves_each_batch_whole_or_absent(deployment, client):
    run_id = new_run(client, "killed")
    keys = [f"m{i:02d}" for i in range(16)]
    session = requests.Session()
    started, killed = threading.Event(), threading.Event()

    def send(key: str):
        # The same batch again and again (a retry each time) until the kill, so the workers
        # are busy whenever it lands, however fast the machine is.
        started.set()
        for _ in range(SENDS_PER_CLIENT):
            response = session.post(
                f"{deployment.url}/api/2.0/mlflow/runs/log-batch",
                json=batch_json(run_id, key),
                headers=deployment.headers(),
                timeout=60,
            )
            if killed.is_set():
                break
        return response

    killed_mid_request = False
    for _attempt in range(3):
        victim = web_workers(deployment.server)[0]
        killer = threading.Thread(target=kill_soon, args=(started, killed, victim.pid), daemon=True)
        killer.start()
        results = in_parallel([lambda k=key: send(k) for key in keys])
        killer.join(timeout=15)
        failed = [r for r in results if isinstance(r, Exception)]
        statuses = {r.status_code for r in results if not isinstance(r, Exception)}
        assert statuses <= {200}, [r.text[:300] for r in results if hasattr(r, "text")]
        # Whatever the kill interrupted is all there or not there at all.
        counts = point_counts(deployment.postgres, run_id)
        assert set(counts.values()) <= {POINTS}, counts
        wait_for_web_workers(deployment.server, 2)
        if failed:
            killed_mid_request = True
            break
        started.clear()
        killed.clear()
    assert killed_mid_request, "three kills never landed during a request"

    # The client retries every batch (those that made it too, as after a lost response), through
    # another kill: each point is stored once.
    victim = web_workers(deployment.server)[1]
    killer = threading.Timer(0.3, os.kill, (victim.pid, signal.SIGKILL))
    killer.start()
    results = in_parallel([lambda k=key: client.log_batch(run_id, batch(k)) for key in keys])
    killer.join()
    assert [r for r in results if isinstance(r, Exception)] == []
    assert point_counts(deployment.postgres, run_id) == dict.fromkeys(keys, POINTS)
    assert distinct_points(deployment.postgres, run_id) == dict.fromkeys(keys, POINTS)
    history = client.get_metric_history(run_id, keys[0])
    assert sorted(m.step for m in history) == list(range(POINTS))
    wait_for_web_workers(deployment.server, 2)


# --- PostgreSQL stopped during ingestion --------------------------------------------------------


def test_postgresql_down_answers_json_503_and_the_clients_retries_store_each_point_once(
    deployment, client
):
    run_id = new_run(client, "db-down")
    deployment.postgres.stop()
    try:
        response = requests.post(
            f"{deployment.url}/api/2.0/mlflow/runs/log-batch",
            json=batch_json(run_id, "refused"),
            headers=deployment.headers(),
            timeout=30,
        )
        assert response.status_code == 503, response.text[:500]
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"

        native = requests.get(
            f"{deployment.url}/api/v1/projects/", headers=deployment.headers(), timeout=30
        )
        assert native.status_code == 503, native.text[:500]
        assert native.headers["Content-Type"] == "application/json"
        assert native.json()["error"]["code"] == "unavailable"

        # Clients keep logging while the database is away; they retry until it is back.
        keys = [f"during{i}" for i in range(4)]
        results: list[object] = []
        ingest = threading.Thread(
            target=lambda: results.extend(
                in_parallel([lambda k=key: client.log_batch(run_id, batch(k)) for key in keys])
            ),
            daemon=True,
        )
        ingest.start()
        time.sleep(2)
        assert ingest.is_alive(), f"the client gave up while the database was down: {results}"
    finally:
        deployment.postgres.start()
    ingest.join(timeout=90)
    assert not ingest.is_alive(), "the client's retries did not finish after PostgreSQL came back"
    assert [r for r in results if isinstance(r, Exception)] == []
    assert point_counts(deployment.postgres, run_id) == dict.fromkeys(keys, POINTS)
    # The refused batch left nothing, and a retry of it now stores it once.
    client.log_batch(run_id, batch("refused"))
    client.log_batch(run_id, batch("refused"))
    assert point_counts(deployment.postgres, run_id)["refused"] == POINTS


# --- Redis stopped during ingestion -------------------------------------------------------------


def summaries(postgres: Postgres, run_id: str) -> dict[str, int]:
    with postgres.connect() as db:
        rows = db.execute(
            "SELECT s.key, s.count FROM tracking_metricsummary s"
            " JOIN tracking_run r ON r.id = s.run_id WHERE r.run_id = %s",
            (run_id,),
        ).fetchall()
    return dict(rows)


def test_redis_down_keeps_writes_working_and_summaries_catch_up(deployment, client, monkeypatch):
    run_id = new_run(client, "redis-down")
    log_start = len(deployment.server.output())
    deployment.redis.stop()
    try:
        for key in ("loss", "acc"):
            client.log_batch(run_id, batch(key))
        client.log_metric(run_id, "loss", -1.0, timestamp=1_800_000_000_000, step=POINTS)

        # Every write succeeded the first time: the server answered none of them with an
        # error the client retried. (The client keeps its retries for a dropped connection.)
        # gunicorn writes a request's access line just after its answer.
        def answers() -> list[tuple[str, str]]:
            written = deployment.server.output()[log_start:]
            return re.findall(r'"POST (\S+) HTTP/1.1" (\d+)', written)

        wait_until(lambda: len(answers()) >= 3, "the writes' access lines", 5, answers)
        assert answers() == [
            ("/api/2.0/mlflow/runs/log-batch", "200"),
            ("/api/2.0/mlflow/runs/log-batch", "200"),
            ("/api/2.0/mlflow/runs/log-metric", "200"),
        ]
        assert point_counts(deployment.postgres, run_id) == {"loss": POINTS + 1, "acc": POINTS}
        time.sleep(1.5)  # a reconciler round, which cannot reach the broker either
        assert summaries(deployment.postgres, run_id) == {}
    finally:
        deployment.redis.start()

    def caught_up() -> bool:
        return summaries(deployment.postgres, run_id) == {"loss": POINTS + 1, "acc": POINTS}

    wait_until(
        caught_up,
        "summaries after Redis came back",
        SUMMARY_TIMEOUT,
        lambda: f"{summaries(deployment.postgres, run_id)}\n{deployment.server.output()[-5000:]}",
    )
    assert client.get_run(run_id).data.metrics == {"loss": -1.0, "acc": (POINTS - 1) / 7}


# --- An artifact store that cannot be written ---------------------------------------------------


def test_an_unwritable_artifact_store_answers_json_and_stores_nothing(
    deployment, tmp_path, monkeypatch
):
    # A file where the store's folder should be: even root cannot create anything below it.
    blocked = tmp_path / "artifacts"
    blocked.write_text("not a folder")
    server = start_deployment(
        deployment.postgres,
        deployment.redis,
        tmp_path,
        MLPLATFORM_ARTIFACTS_DIR=str(blocked),
    )
    try:
        url = server.url.rstrip("/")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", deployment.token)
        # The setup keeps the client's retries: with none, a keep-alive connection the server
        # closed in the same instant fails the test (seen once in CI, on runs/get).
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
        mlflow.set_tracking_uri(url)
        client = MlflowClient(url)
        run = client.get_run(new_run(client, "no-store"))
        path = f"{run.info.experiment_id}/{run.info.run_id}/artifacts/model.txt"

        response = requests.put(
            f"{url}/api/2.0/mlflow-artifacts/artifacts/{path}",
            data=b"weights",
            headers=deployment.headers(),
            timeout=30,
        )
        assert response.status_code == 503, response.text[:500]
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert "artifact store" in response.json()["message"]

        (tmp_path / "model.txt").write_text("weights")
        # The client gives up after its retries on 503 (one here) and says so.
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        with pytest.raises(MlflowException, match="503"):
            client.log_artifact(run.info.run_id, str(tmp_path / "model.txt"))
        assert client.list_artifacts(run.info.run_id) == []
        assert blocked.read_text() == "not a folder"
    finally:
        server.kill_everything()
