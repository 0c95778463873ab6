"""`mlplatform server`: one command runs the web server, a Celery worker and beat, and stops them
all; it creates the first admin only when asked to."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import time
from pathlib import Path

import psycopg
import pytest
import redis

from tests.e2e.conftest import (
    MLPLATFORM,
    Proc,
    ServerProcess,
    free_port,
    http_get,
    require_service,
    run_mlplatform,
    send_task,
    server_env,
    start_mlplatform,
)

pytestmark = pytest.mark.e2e

ADMIN_HINT = "No admin account exists yet"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/mlp_cli_e2e"
# The test run's own Redis database (a worker's own under xdist, tests/settings.py), else 1.
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1"
STRONG_PASSWORD = "correct-Horse-battery-staple-42"


def role(proc: Proc) -> str | None:
    """Which part of MLPlatform a process is, from its command line."""
    if "gunicorn" in proc.cmdline and "mlplatform.wsgi" in proc.cmdline:
        return "web"
    if "celery" in proc.cmdline and " worker" in proc.cmdline:
        return "worker"
    if "celery" in proc.cmdline and " beat" in proc.cmdline:
        return "beat"
    if "mlplatform server" in proc.cmdline:
        return "server"
    return None


def roles(processes: list[Proc]) -> list[str | None]:
    return sorted((role(proc) for proc in processes), key=str)


def assert_task_round_trips(server: ServerProcess) -> None:
    """A built-in Celery task queued from another process is run by the server's worker."""
    task_id = send_task(server, "celery.accumulate", [7, 11])
    server.wait_for_output(f"Task celery.accumulate[{task_id}] succeeded", timeout=30)
    assert "(7, 11)" in server.output()


def user_rows(data_dir: Path, username: str) -> list[tuple]:
    with sqlite3.connect(data_dir / "db.sqlite3") as db:
        return db.execute(
            "SELECT is_superuser, is_staff, email FROM accounts_user WHERE username = ?",
            (username,),
        ).fetchall()


# --- The embedded default: SQLite and the filesystem broker, no services needed ---------------


@pytest.fixture(scope="module")
def embedded_server(tmp_path_factory):
    """One `mlplatform server` on an empty data directory, shared by the tests below in order;
    the last of them stops it."""
    base = tmp_path_factory.mktemp("embedded")
    server = start_mlplatform(
        ["server", "--port", str(free_port())],
        env=server_env(base / "data"),
        log_path=base / "server.log",
    )
    try:
        server.wait_until_healthy()
        yield server
    finally:
        server.kill_everything()


def test_embedded_server_answers_health_and_the_login_page(embedded_server):
    status, body = http_get(embedded_server.url + "healthz")
    assert status == 200
    assert json.loads(body)["broker"]["kind"] == "embedded"

    status, page = http_get(embedded_server.url + "accounts/login/")
    assert status == 200
    assert "<form" in page
    assert 'name="username"' in page
    assert 'name="password"' in page


def test_embedded_server_says_where_it_runs_and_how_to_create_the_first_admin(embedded_server):
    output = embedded_server.output()
    assert f"MLPlatform is running at {embedded_server.url}" in output
    assert ADMIN_HINT in output
    assert "mlplatform createsuperuser" in output
    assert "DJANGO_SUPERUSER_USERNAME" in output


def test_embedded_server_runs_web_workers_a_celery_worker_and_beat(embedded_server):
    embedded_server.wait_for_output(" ready.")
    found = roles(embedded_server.descendants())
    # gunicorn's arbiter and its two default workers; Celery's worker and its pool process.
    assert found.count("web") == 3
    assert found.count("worker") == 2
    assert found.count("beat") == 1


def test_every_server_process_keeps_to_two_malloc_arenas(embedded_server):
    # Threads would otherwise each get an arena of their own, which keeps what it freed.
    embedded_server.wait_for_output(" ready.")
    for proc in embedded_server.descendants():
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        assert b"MALLOC_ARENA_MAX=2" in environ, proc


def test_a_task_round_trips_through_the_embedded_broker(embedded_server):
    assert_task_round_trips(embedded_server)


def assert_a_longer_url_than_gunicorn_reads_gets_json(url: str) -> None:
    # MLflow's client puts up to 100 run ids in one GET, past gunicorn's default request-line
    # limit; beyond gunicorn's 8 kB ceiling the answer is still JSON, never an HTML page.
    base = url + "api/2.0/mlflow/metrics/get-history-bulk-interval?"
    hundred = base + "&".join(f"run_ids={i:032x}" for i in range(100))
    assert len(hundred) > 4_096
    status, body = http_get(hundred)
    assert status == 401
    assert json.loads(body)["error_code"] == "UNAUTHENTICATED"

    thousand = base + "&".join(f"run_ids={i:032x}" for i in range(1000))
    assert len(thousand) > 16_000
    status, body = http_get(thousand)
    assert status == 414
    assert json.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE"


def read_response(stream) -> tuple[int, bytes]:
    status_line = stream.readline()
    assert status_line, "the server closed the connection without answering"
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), stream.read(int(headers.get("content-length", 0)))


def assert_a_request_behind_a_body_django_did_not_read_is_answered(port: int) -> None:
    # Django refuses an unauthenticated POST without reading its body, which the server drains
    # before keeping the connection. This client sends the body only after the answer, together
    # with its next request, so the drain reads both: gunicorn 26's worker then left that
    # request in its buffer, unanswered, and closed the connection at the keep-alive timeout.
    body = b'{"name": "unread"}'
    post = (
        "POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")
        sock.sendall(post.encode())
        status, answer = read_response(stream)
        assert status == 401
        assert json.loads(answer)["error_code"] == "UNAUTHENTICATED"

        sock.sendall(body + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, answer = read_response(stream)
        assert status == 200
        assert json.loads(answer)["database"]["ok"] is True


def assert_a_kept_alive_connection_serves_requests_sent_at_once_and_later(port: int) -> None:
    # A thread waits a moment on the connection for the next request before the poller takes it
    # back (mlplatform/gunicorn_worker.py): both ways must serve it, on the same connection.
    health = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")
        for pause in (0, 0, 0.2, 0, 0.2):
            time.sleep(pause)
            sock.sendall(health)
            status, answer = read_response(stream)
            assert status == 200
            assert json.loads(answer)["database"]["ok"] is True


def test_a_url_of_100_run_ids_reaches_django_and_a_longer_one_gets_json(embedded_server):
    assert_a_longer_url_than_gunicorn_reads_gets_json(embedded_server.url)


def test_a_request_sent_behind_a_body_django_did_not_read_is_answered(embedded_server):
    assert_a_request_behind_a_body_django_did_not_read_is_answered(embedded_server.port)


def test_a_kept_alive_connection_is_served_at_once_and_after_a_pause(embedded_server):
    assert_a_kept_alive_connection_serves_requests_sent_at_once_and_later(embedded_server.port)


def test_sigterm_stops_every_process_of_the_embedded_server(embedded_server):
    assert len(embedded_server.descendants()) >= 6

    assert embedded_server.stop(signal.SIGTERM, timeout=20) == 0
    assert embedded_server.wait_for_survivors_to_go() == []


# --- First admin --------------------------------------------------------------------------------


def test_superuser_from_the_environment_is_created_once(start_server, tmp_path):
    data_dir = tmp_path / "data"
    env = server_env(
        data_dir,
        DJANGO_SUPERUSER_USERNAME="root-admin",
        DJANGO_SUPERUSER_PASSWORD=STRONG_PASSWORD,
        DJANGO_SUPERUSER_EMAIL="admin@example.org",
    )
    first = start_server(env, "--workers", "1")
    first.wait_for_output("MLPlatform is running at")
    assert first.stop(signal.SIGINT) == 0  # Ctrl-C
    assert "Created the superuser 'root-admin'" in first.output()
    assert ADMIN_HINT not in first.output()
    assert user_rows(data_dir, "root-admin") == [(1, 1, "admin@example.org")]
    assert first.wait_for_survivors_to_go() == []

    # Started again with the same variables (here on a busy port, so it stops right after its
    # start-up checks): the admin exists, nothing is created or changed.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        second = start_server(env, port=busy.getsockname()[1])
        assert second.process.wait(timeout=60) == 2
    assert "address is in use" in second.output()
    assert "Created the superuser" not in second.output()
    assert user_rows(data_dir, "root-admin") == [(1, 1, "admin@example.org")]


def test_weak_superuser_password_from_the_environment_is_refused(start_server, tmp_path):
    data_dir = tmp_path / "data"
    env = server_env(
        data_dir, DJANGO_SUPERUSER_USERNAME="root-admin", DJANGO_SUPERUSER_PASSWORD="admin"
    )
    server = start_server(env)
    assert server.process.wait(timeout=60) == 2
    assert "DJANGO_SUPERUSER_PASSWORD is too weak" in server.output()
    assert user_rows(data_dir, "root-admin") == []


# --- Django's commands under the same name -----------------------------------------------------


def test_help_lists_server_next_to_djangos_commands(tmp_path):
    done = run_mlplatform(["--help"], env=server_env(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    assert "mlplatform server [--host HOST] [--port PORT] [--workers N]" in done.stdout
    assert "[mlplatform]\n    server" in done.stdout
    assert "createsuperuser" in done.stdout
    assert "migrate" in done.stdout


def test_other_subcommands_go_to_django(tmp_path):
    done = run_mlplatform(["showmigrations", "accounts"], env=server_env(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    assert "[ ] 0001_initial" in done.stdout


# --- A child that dies --------------------------------------------------------------------------


def test_server_stops_the_rest_and_fails_when_the_celery_worker_dies(start_server, tmp_path):
    server = start_server(server_env(tmp_path / "data"), "--workers", "1")
    server.wait_until_healthy()
    server.wait_for_output(" ready.")
    worker = next(
        proc
        for proc in server.descendants()
        if role(proc) == "worker" and proc.ppid == server.process.pid
    )
    pool = [proc for proc in server.descendants() if proc.ppid == worker.pid]
    assert pool, "the Celery worker has no pool process"

    worker_pid = worker.pid
    os.kill(worker_pid, signal.SIGKILL)

    assert server.process.wait(timeout=20) == 1
    assert (
        f"the Celery worker (pid {worker_pid}) exited unexpectedly with signal SIGKILL"
        in server.output()
    )
    # Its orphaned pool process, gunicorn and beat are all gone too.
    assert server.wait_for_survivors_to_go() == []


# --- Production services: PostgreSQL and Redis --------------------------------------------------


@pytest.fixture
def postgres_url():
    """A fresh, empty `mlp_cli_e2e` database, dropped afterwards."""
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require_service(False, f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
    with admin:
        admin.execute("DROP DATABASE IF EXISTS mlp_cli_e2e WITH (FORCE)")
        admin.execute("CREATE DATABASE mlp_cli_e2e")
    yield POSTGRES_URL
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
        admin.execute("DROP DATABASE IF EXISTS mlp_cli_e2e WITH (FORCE)")


@pytest.fixture
def redis_url():
    """The run's Redis database, emptied before and after, so no earlier test's messages are
    consumed."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service(False, f"Redis at 127.0.0.1:6379 is not reachable: {exc}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


def test_server_with_postgresql_and_redis_starts_serves_and_stops(
    start_server, tmp_path, postgres_url, redis_url
):
    env = server_env(tmp_path / "data", DATABASE_URL=postgres_url, REDIS_URL=redis_url)
    server = start_server(env, "--workers", "1")
    server.wait_until_healthy()

    status, body = http_get(server.url + "healthz")
    assert status == 200
    assert json.loads(body)["broker"]["kind"] == "redis"
    assert http_get(server.url + "accounts/login/")[0] == 200
    assert ADMIN_HINT in server.output()
    # Migrated into PostgreSQL, not into a SQLite file in the data directory.
    assert not (tmp_path / "data" / "db.sqlite3").exists()

    server.wait_for_output(" ready.")
    assert {"web", "worker", "beat"} <= set(roles(server.descendants()))
    assert_task_round_trips(server)

    assert server.stop(signal.SIGTERM, timeout=20) == 0
    assert server.wait_for_survivors_to_go() == []


def test_a_production_web_node_serves_as_the_server_command_does(tmp_path, postgres_url, redis_url):
    # The README's web node: its own gunicorn, on the settings `mlplatform server` uses.
    env = server_env(tmp_path / "data", DATABASE_URL=postgres_url, REDIS_URL=redis_url)
    migrated = run_mlplatform(["migrate"], env=env, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    args = ["mlplatform.wsgi", "-c", "python:mlplatform.gunicorn_conf", "--workers", "1"]
    node = start_mlplatform(
        [*args, "--bind", f"127.0.0.1:{port}"],
        env=env,
        log_path=tmp_path / "web.log",
        program=MLPLATFORM.parent / "gunicorn",
        port=port,
    )
    try:
        node.wait_until_healthy()
        assert "mlplatform.gunicorn_worker.ThreadWorker" in node.output()
        assert_a_longer_url_than_gunicorn_reads_gets_json(node.url)
        assert_a_request_behind_a_body_django_did_not_read_is_answered(port)
        assert_a_kept_alive_connection_serves_requests_sent_at_once_and_later(port)
        # The access log is on.
        assert '"GET /healthz HTTP/1.1" 200' in node.output()
        assert node.stop(signal.SIGTERM, timeout=20) == 0
    finally:
        node.kill_everything()
