"""Helpers for tests that start real MLPlatform processes: free ports, the process tree, HTTP.

Processes are inspected through /proc, so no extra dependency is needed (Linux only, as CI is).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MLPLATFORM = Path(sys.executable).parent / "mlplatform"
# Variables that would make a child use the test run's settings, database or broker.
_INHERITED_CONFIG = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "MLPLATFORM_DATA_DIR",
    "DJANGO_SUPERUSER_USERNAME",
    "DJANGO_SUPERUSER_PASSWORD",
    "DJANGO_SUPERUSER_EMAIL",
)
# Every command started in this test process, so a failing test's report can show its output.
_STARTED: list[ServerProcess] = []
_FIRST_STARTED = pytest.StashKey[int]()
_LOG_TAIL = 6000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_service(reachable: bool, reason: str) -> None:
    """Skip when a local service is missing, except in CI, where that is a failure."""
    if reachable:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this does not skip)")
    pytest.skip(reason)


def server_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a fresh embedded install: own data directory, no database or broker
    configured, production settings."""
    env = {key: value for key, value in os.environ.items() if key not in _INHERITED_CONFIG}
    env["MLPLATFORM_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


# --- /proc ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    """A process as seen once in /proc; start time tells it apart from a later one with its pid."""

    pid: int
    ppid: int
    state: str
    start_time: int
    cmdline: str

    @property
    def alive(self) -> bool:
        now = read_proc(self.pid)
        return now is not None and now.start_time == self.start_time and now.state != "Z"


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw_cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name in parentheses may itself contain spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        state=fields[0],
        start_time=int(fields[19]),
        cmdline=raw_cmdline.replace(b"\0", b" ").decode(errors="replace").strip(),
    )


def all_processes() -> list[Proc]:
    procs = (read_proc(int(entry)) for entry in os.listdir("/proc") if entry.isdigit())
    return [proc for proc in procs if proc is not None]


def descendants(pid: int) -> list[Proc]:
    """Every living process below `pid`, children first."""
    by_parent: dict[int, list[Proc]] = {}
    for proc in all_processes():
        if proc.state != "Z":
            by_parent.setdefault(proc.ppid, []).append(proc)
    found: list[Proc] = []
    frontier = [pid]
    while frontier:
        children = by_parent.get(frontier.pop(0), [])
        found.extend(children)
        frontier.extend(child.pid for child in children)
    return found


# --- HTTP -------------------------------------------------------------------------------------


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


# --- The `mlplatform` command -----------------------------------------------------------------


@dataclass
class ServerProcess:
    """A running `mlplatform` command, its output collected in a file."""

    process: subprocess.Popen
    log_path: Path
    port: int
    env: dict[str, str]
    # Everything ever seen below it, so a test can check none of it outlives the command.
    seen: dict[tuple[int, int], Proc] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def descendants(self) -> list[Proc]:
        found = descendants(self.process.pid)
        self.seen.update({(proc.pid, proc.start_time): proc for proc in found})
        return found

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"mlplatform exited ({self.process.returncode}) before {what}:\n"
                    + self.output()
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s:\n" + self.output())
            time.sleep(0.2)
        self.descendants()

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        self.wait_for(lambda: text in self.output(), f"{text!r} in the output", timeout)

    def wait_until_healthy(self, timeout: float = 45) -> None:
        def healthy() -> bool:
            try:
                return http_get(self.url + "healthz", timeout=2)[0] == 200
            except OSError:
                return False

        self.wait_for(healthy, "200 from /healthz", timeout)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Signal the command and wait for it to exit; returns its exit code."""
        self.descendants()
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)

    def survivors(self) -> list[Proc]:
        """Processes that ran below the command and are still alive."""
        return [proc for proc in self.seen.values() if proc.alive]

    def wait_for_survivors_to_go(self, timeout: float = 2) -> list[Proc]:
        # A process SIGKILLed a moment ago may still be on its way out.
        deadline = time.monotonic() + timeout
        while (left := self.survivors()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def kill_everything(self) -> None:
        """Last-resort cleanup after a failed test, so it leaves no processes behind."""
        self.descendants()
        for proc in [*self.seen.values(), read_proc(self.process.pid)]:
            if proc is not None and proc.alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start_mlplatform(
    args: list[str],
    *,
    env: dict[str, str],
    log_path: Path,
    program: Path = MLPLATFORM,
    port: int | None = None,
) -> ServerProcess:
    """Start `mlplatform <args>` (the installed console script, or another of the venv's, such
    as gunicorn, with the port it listens on) with its output in `log_path`."""
    if not program.exists():
        raise AssertionError(f"{program} is missing: install the project with `pip install -e .`")
    if port is None:
        port = int(args[args.index("--port") + 1]) if "--port" in args else 8080
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(program), *args],
            env=env,
            cwd=log_path.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process=process, log_path=log_path, port=port, env=env)
    _STARTED.append(server)
    return server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        first = item.stash.get(_FIRST_STARTED, len(_STARTED))
        # A test's own servers are usually stopped by the time it is reported; a module's are not.
        shown = [s for i, s in enumerate(_STARTED) if i >= first or s.process.poll() is None]
        for server in shown:
            with contextlib.suppress(OSError):
                tail = server.output()[-_LOG_TAIL:]
                report.sections.append((f"mlplatform output ({server.log_path})", tail))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_FIRST_STARTED] = len(_STARTED)


def run_mlplatform(
    args: list[str], *, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run a short `mlplatform` command (a management command) to completion."""
    return subprocess.run(
        [str(MLPLATFORM), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def send_task(server: ServerProcess, name: str, args: list) -> str:
    """Queue a task by name through the server's broker, from a separate process; its id."""
    code = (
        "from mlplatform.celery import app; "
        f"print('task-id', app.send_task({name!r}, args={args!r}).id)"
    )
    done = run_mlplatform(["shell", "-c", code], env=server.env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("task-id", 1)[1].split()[0]


@pytest.fixture
def start_server(tmp_path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `mlplatform server` on a free port; whatever is still running is killed at the end."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str], *extra: str, port: int | None = None) -> ServerProcess:
        port = port or free_port()
        log_path = tmp_path / f"server-{len(started) + 1}.log"
        server = start_mlplatform(
            ["server", "--port", str(port), *extra], env=env, log_path=log_path
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill_everything()
