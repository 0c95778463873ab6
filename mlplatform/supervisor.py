"""The process supervisor of `mlplatform server`: starts the web server, the Celery worker and
beat as children, reports when the server listens, and stops them all together."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

# Long enough for a worker to finish a summary or a request, short enough for a Ctrl-C.
STOP_TIMEOUT = 10.0
READY_TIMEOUT = 60.0
POLL_INTERVAL = 0.2


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _connect_host(host: str) -> str:
    """Where to knock to see whether the server listens: a wildcard address means loopback."""
    wildcards = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104
    return wildcards.get(host, host)


def _parent_death_signal() -> None:
    """In the child, before exec: get SIGTERM if the supervisor dies without stopping us."""
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up in the parent: a child between fork and exec should do as little as possible.
_prctl = _load_prctl()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # glibc gives each thread that allocates its own malloc arena and keeps what it freed
    # there, which grows every threaded web worker; two arenas reuse that memory instead. An
    # operator's own setting wins.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


@dataclass
class Child:
    """One supervised process, leader of its own process group."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        # A session (and so a process group) of its own: a Ctrl-C in the terminal reaches only
        # the supervisor, which stops the children in order, and the whole group, including
        # gunicorn's workers and Celery's pool, can be killed at once if it must be.
        self.process = subprocess.Popen(
            self.argv, start_new_session=True, preexec_fn=_parent_death_signal, env=_child_env()
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def has_exited(self) -> bool:
        return self.exit_status() is not None

    def exit_status(self) -> str | None:
        """How it exited, or None while it runs; never reaps it, so its group id stays ours."""
        if self.process is None:
            return "not started"
        if self.process.returncode is not None:
            return f"code {self.process.returncode}"
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return "unknown status"
        if info is None:
            return None
        if info.si_code == os.CLD_EXITED:
            return f"code {info.si_status}"
        return f"signal {signal.Signals(info.si_status).name}"

    def signal(self, signum: int) -> None:
        if not self.has_exited():
            os.kill(self.pid, signum)

    def kill_group(self) -> None:
        """SIGKILL everything left in its process group (call before reaping the leader)."""
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def reap(self) -> int:
        assert self.process is not None
        return self.process.wait()


class Supervisor:
    """Starts the children, reports when the server is up, and stops them all together."""

    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self.stop_requested: int | None = None
        self.force = False

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stop_requested is not None:
            # A second Ctrl-C: do not wait for a graceful stop any longer.
            self.force = True
        self.stop_requested = signum

    def run(self, *, host: str, port: int) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        try:
            for child in self.children:
                child.start()
            exit_code = self._supervise(host=host, port=port)
        finally:
            self._stop_all()
        return exit_code

    def _dead_child(self) -> Child | None:
        return next((child for child in self.children if child.has_exited()), None)

    def _supervise(self, *, host: str, port: int) -> int:
        deadline = time.monotonic() + READY_TIMEOUT
        ready = False
        while self.stop_requested is None:
            dead = self._dead_child()
            if dead is not None:
                print(
                    f"mlplatform: the {dead.name} (pid {dead.pid}) exited unexpectedly with "
                    f"{dead.exit_status()}; stopping the others.",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            if not ready:
                if _listening(_connect_host(host), port):
                    ready = True
                    print(f"MLPlatform is running at {_url(host, port)}", flush=True)
                    print("Press Ctrl-C to stop.", flush=True)
                elif time.monotonic() > deadline:
                    print(
                        f"mlplatform: the web server did not listen on {host}:{port} within "
                        f"{READY_TIMEOUT:.0f} s; stopping.",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
            time.sleep(POLL_INTERVAL)
        print(f"mlplatform: {signal.Signals(self.stop_requested).name}, stopping.", flush=True)
        return 0

    def _stop_all(self) -> None:
        running = [child for child in self.children if not child.has_exited()]
        # gunicorn and Celery both stop gracefully on SIGTERM and take their workers with them.
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                child.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and not self.force:
            if all(child.has_exited() for child in running):
                break
            time.sleep(0.1)
        for child in self.children:
            if child.process is None:
                continue
            if not child.has_exited():
                print(
                    f"mlplatform: the {child.name} has not stopped yet; killing it.",
                    file=sys.stderr,
                    flush=True,
                )
            # Also sweeps up a pool child or worker that outlived its leader.
            child.kill_group()
            child.reap()


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
