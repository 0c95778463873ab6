"""Start and stop the three servers, each on a fresh PostgreSQL database.

MLflow's server and FastTrackML are installed by the command itself into a git-ignored venv
(.bench/venv), pinned, so a comparison is reproducible and never touches the project's venv.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / ".bench"
PEER_VENV = BENCH_DIR / "venv"
MLFLOW_VERSION = "3.17.2"
FASTTRACKML_VERSION = "0.6.0"
PEER_PACKAGES = [f"mlflow=={MLFLOW_VERSION}", "psycopg[binary]==3.3.9"]
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-1"  # noqa: S105 (a throw-away account on a local database)
BENCH_PROJECT = "bench"


@dataclass
class Server:
    """A running server: its URL, its process groups and what the workload needs to log in."""

    label: str
    url: str
    processes: list[subprocess.Popen] = field(default_factory=list)
    workdir: Path | None = None
    token: str | None = None
    ours: bool = False
    database_url: str | None = None
    username: str | None = None
    password: str | None = None
    project: str | None = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def fresh_database(base: str, name: str) -> str:
    """Drop and recreate database `name` on the server of `base`; returns its URL."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(base, name)


def checkpoint(postgres: str) -> bool:
    """Write out every dirty page of the PostgreSQL server (all servers share it), so a step
    does not pay for the write-back of the step before it, another server's. False when the
    user may not (CHECKPOINT needs a superuser or, from PostgreSQL 15, pg_checkpoint)."""
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            return False
    return True


def base_interpreter() -> Path:
    """The Python this one's venv was made from (a venv's own python links to it)."""
    return Path(getattr(sys, "_base_executable", sys.executable)).resolve()


def ensure_peer_venv(log=print) -> Path:
    """The venv with the pinned MLflow server and FastTrackML binary, made on first use."""
    python = PEER_VENV / "bin" / "python"
    marker = PEER_VENV / f"installed-mlflow-{MLFLOW_VERSION}-fml-{FASTTRACKML_VERSION}"
    # MLflow's server runs on the interpreter ours runs on, so neither gains from its build
    # (a Python built without PGO ran our request path a fifth slower here).
    if python.exists() and python.resolve() != base_interpreter():
        log(f"Recreating {PEER_VENV} on {base_interpreter()}")
        shutil.rmtree(PEER_VENV)
    if marker.exists():
        return PEER_VENV
    log(f"Installing MLflow {MLFLOW_VERSION}, FastTrackML {FASTTRACKML_VERSION} into {PEER_VENV}")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *PEER_PACKAGES], check=True)
    # FastTrackML's wheel pins an older mlflow client; only its server binary is needed here.
    subprocess.run([*pip, "--no-deps", f"fasttrackml=={FASTTRACKML_VERSION}"], check=True)
    if not (PEER_VENV / "bin" / "fml").exists():
        raise RuntimeError("the fasttrackml package did not install its fml binary")
    marker.touch()
    return PEER_VENV


def wait_ready(server: Server, path: str, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for process in server.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{server.label} exited with {process.returncode}; see its log")
        try:
            with urllib.request.urlopen(server.url + path, timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{server.label} did not answer {path} within {timeout:.0f} s")


def _spawn(cmd: list[str], log_path: Path, env: dict | None = None, cwd: Path | None = None):
    # Its own process group, so stop() ends the server with every worker it forked.
    handle = open(log_path, "ab")  # noqa: SIM115 (kept open for the life of the process)
    return subprocess.Popen(
        cmd,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )


def start_mlflow(postgres: str, log_dir: Path, database: str = "bench_mlflow") -> Server:
    db = fresh_database(postgres, database)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-mlflow-"))
    server = Server(
        label="mlflow", url=f"http://127.0.0.1:{port}", workdir=workdir, database_url=db
    )
    cmd = [
        str(PEER_VENV / "bin" / "mlflow"), "server",
        "--backend-store-uri", db,
        # Artifacts served through the server (MLflow 3's default, --serve-artifacts): runs get
        # `mlflow-artifacts:/` URIs, and the client uploads and downloads through this server.
        "--artifacts-destination", str(workdir / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "2",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "true"}
    server.processes.append(_spawn(cmd, log_dir / "mlflow.log", env=env, cwd=workdir))
    wait_ready(server, "/health")
    return server


def start_fml(postgres: str, log_dir: Path, database: str = "bench_fml") -> Server:
    db = fresh_database(postgres, database)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-fml-"))
    server = Server(
        label="fasttrackml", url=f"http://127.0.0.1:{port}", workdir=workdir, database_url=db
    )
    fml_db = db.replace("postgresql://", "postgres://", 1) + "?sslmode=disable"
    cmd = [
        str(PEER_VENV / "bin" / "fml"), "server",
        "--listen-address", f"127.0.0.1:{port}",
        "--database-uri", fml_db,
        "--default-artifact-root", str(workdir / "artifacts"),
        "--log-level", "warning",
    ]  # fmt: skip
    server.processes.append(_spawn(cmd, log_dir / "fasttrackml.log", cwd=workdir))
    wait_ready(server, "/health")
    return server


def _manage(args: list[str], env: dict, log_path: Path) -> subprocess.CompletedProcess:
    """Run one of our management commands, logging what it printed."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mlplatform"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    with open(log_path, "a") as handle:
        handle.write(f"$ mlplatform {' '.join(args)}\n{result.stdout}{result.stderr}\n")
    return result


def _must(result: subprocess.CompletedProcess) -> str:
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(result.args[1:])} failed: {result.stderr[-2000:]}")
    return result.stdout


# Used only while `mlplatform create_project` does not exist in this checkout yet.
_CREATE_PROJECT = """
from accounts.models import User
from tracking.services.projects import project_create
project_create(slug={slug!r}, name="Benchmark", owner=User.objects.get(username={user!r}))
"""


def start_ours(database_url: str, log_dir: Path, redis_url: str | None = None) -> Server:
    """Our production shape: `mlplatform server --workers 2` (gunicorn with two workers, one
    Celery worker and beat) on `database_url`, with a user, a project and a write token.
    """
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ours-"))
    log_path = log_dir / "ours.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MLPLATFORM_DATA_DIR": str(workdir),
        "SECRET_KEY": "bench-" + os.urandom(16).hex(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "mlplatform.settings",
        "DJANGO_SUPERUSER_USERNAME": BENCH_USER,
        "DJANGO_SUPERUSER_PASSWORD": BENCH_PASSWORD,
        "DJANGO_SUPERUSER_EMAIL": "bench@example.org",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    try:
        server = _prepare_ours(env, log_path, port, workdir, database_url)
    except Exception:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    cmd = [
        str(Path(sys.executable).parent / "mlplatform"), "server",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
    ]  # fmt: skip
    server.processes.append(_spawn(cmd, log_path, env=env, cwd=workdir))
    try:
        wait_ready(server, "/healthz")
    except Exception:
        server.stop()
        raise
    return server


def _prepare_ours(env: dict, log_path: Path, port: int, workdir: Path, database_url: str) -> Server:
    """Migrate, then make the benchmark's user, project and token; returns the Server."""
    _must(_manage(["migrate", "--noinput", "-v", "0"], env, log_path))
    _must(_manage(["createsuperuser", "--noinput"], env, log_path))
    made = _manage(
        ["create_project", BENCH_PROJECT, "--owner", BENCH_USER, "--name", "Benchmark"],
        env,
        log_path,
    )
    if made.returncode != 0 and "Unknown command" in made.stderr:
        code = _CREATE_PROJECT.format(slug=BENCH_PROJECT, user=BENCH_USER)
        made = _manage(["shell", "-c", code], env, log_path)
    _must(made)
    output = _must(
        _manage(
            ["create_api_token", BENCH_USER, "--project", BENCH_PROJECT, "--scope", "write",
             "--name", "benchmark"],
            env,
            log_path,
        )
    )  # fmt: skip
    return Server(
        label="mlplatform",
        url=f"http://127.0.0.1:{port}",
        workdir=workdir,
        token=output.strip().splitlines()[-1].strip(),
        ours=True,
        database_url=database_url,
        username=BENCH_USER,
        password=BENCH_PASSWORD,
        project=BENCH_PROJECT,
    )
