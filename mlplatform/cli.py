"""`mlplatform`: the one-command server, and every Django management command under one name.

`mlplatform server` migrates, then runs the web server (gunicorn), a Celery worker and Celery
beat as child processes until Ctrl-C or SIGTERM. Any other sub-command goes to Django
(`mlplatform createsuperuser`, `mlplatform migrate`, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
# Long enough for a worker to finish a summary or a request, short enough for a Ctrl-C.
STOP_TIMEOUT = 10.0
READY_TIMEOUT = 60.0
POLL_INTERVAL = 0.2

SERVER_SUMMARY = "Start MLPlatform: web server, Celery worker and scheduler, in one command."


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `mlplatform` console script."""
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlplatform.settings")
    args = argv[1:]
    if args[:1] == ["server"]:
        sys.exit(server(args[1:]))
    if args == ["help", "server"]:
        server_parser().print_help()
        return
    if args in ([], ["help"], ["--help"], ["-h"]):
        print(main_help_text(argv))
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


def main_help_text(argv: list[str]) -> str:
    """Django's list of sub-commands, with `server` added, since it is not a Django command."""
    import django
    from django.core.management import ManagementUtility

    # Django lists the commands of installed apps (createsuperuser, ...) only once set up; if
    # the settings are broken, its help says so itself.
    with contextlib.suppress(Exception):
        django.setup()
    django_help = ManagementUtility(argv).main_help_text()
    return (
        "Usage: mlplatform server [--host HOST] [--port PORT] [--workers N]\n"
        f"       {SERVER_SUMMARY}\n"
        "   or: mlplatform <subcommand> [options]\n\n"
        f"{django_help}\n\n[mlplatform]\n    server"
    )


def server_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlplatform server", description=SERVER_SUMMARY)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument(
        "--workers", type=_positive, default=2, help="web server (gunicorn) worker processes"
    )
    parser.add_argument(
        "--threads", type=_positive, default=4, help="threads per web server worker"
    )
    parser.add_argument(
        "--concurrency", type=_positive, default=1, help="Celery worker pool processes"
    )
    return parser


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def _port(value: str) -> int:
    number = _positive(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (1-65535)")
    return number


def server(args: list[str]) -> int:
    """Run `mlplatform server`; the exit code is 0 after a requested stop, non-zero otherwise."""
    options = server_parser().parse_args(args)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", interactive=False, verbosity=1)
    try:
        ensure_first_admin()
    except AdminSetupError as exc:
        print(f"mlplatform: {exc}", file=sys.stderr, flush=True)
        return 2
    # whitenoise serves from the installed packages but warns in every worker when it is absent.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    # The children open their own connections; ours would only hold a lock on SQLite.
    connections.close_all()

    if not _port_is_free(options.host, options.port):
        print(
            f"mlplatform: cannot listen on {options.host}:{options.port}: the address is in use "
            "or not available. Choose another with --port or --host.",
            file=sys.stderr,
            flush=True,
        )
        return 2

    supervisor = Supervisor(
        [
            Child("web server (gunicorn)", _gunicorn_argv(options)),
            Child("Celery worker", _celery_worker_argv(options)),
            Child(
                "Celery beat",
                _celery_argv("beat", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME),
            ),
        ]
    )
    return supervisor.run(host=options.host, port=options.port)


class AdminSetupError(Exception):
    pass


def ensure_first_admin() -> None:
    """Create the superuser named by DJANGO_SUPERUSER_*, once; otherwise say how to make one.

    No account is ever created that the operator did not ask for, so there is no default
    password to forget to change.
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    user_model = get_user_model()
    username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip()
    password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
    if username and password:
        if not user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).exists():
            email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "").strip()
            candidate = user_model(**{user_model.USERNAME_FIELD: username, "email": email})
            try:
                validate_password(password, user=candidate)
            except ValidationError as exc:
                raise AdminSetupError(
                    "DJANGO_SUPERUSER_PASSWORD is too weak for the first admin: "
                    + " ".join(exc.messages)
                ) from None
            user_model.objects.create_superuser(username=username, email=email, password=password)
            print(f"Created the superuser {username!r} from DJANGO_SUPERUSER_*.", flush=True)
    elif username or password:
        raise AdminSetupError(
            "set both DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD to create the "
            "first admin, or neither."
        )
    if not user_model.objects.filter(is_superuser=True).exists():
        print(
            "\nNo admin account exists yet. Create the first one with\n"
            "    mlplatform createsuperuser\n"
            "or start the server with DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD\n"
            "(and optionally DJANGO_SUPERUSER_EMAIL) set.\n",
            flush=True,
        )


def _port_is_free(host: str, port: int) -> bool:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As gunicorn does, so a port in TIME_WAIT after a restart counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return False
    return True


def _celery_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "mlplatform", *args, "--loglevel", "INFO"]


def _celery_worker_argv(options: argparse.Namespace) -> list[str]:
    return _celery_argv(
        "worker", "--concurrency", str(options.concurrency), "--hostname", "mlplatform@%h"
    )


def _gunicorn_argv(options: argparse.Namespace) -> list[str]:
    import gunicorn

    host = f"[{options.host}]" if ":" in options.host else options.host
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "mlplatform.wsgi:application",
        "--bind",
        f"{host}:{options.port}",
        "--workers",
        str(options.workers),
        "--threads",
        str(options.threads),
        "--graceful-timeout",
        str(int(STOP_TIMEOUT) - 2),
        "--access-logfile",
        "-",
    ]
    # gunicorn 25+ opens a control socket at one fixed path per user by default, which two
    # servers on one machine would fight over; this server is stopped through its signals.
    if gunicorn.version_info >= (25,):
        argv.append("--no-control-socket")
    return argv


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
    # there; with gunicorn's threads that grew each web worker by 15 MB under the benchmark,
    # memory that two arenas reuse instead. An operator's own setting wins.
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
