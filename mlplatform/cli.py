"""`mlplatform`: the one-command server, and every Django management command under one name.

`mlplatform server` migrates, then runs the web server (gunicorn), a Celery worker and Celery
beat as child processes (`mlplatform.supervisor`) until Ctrl-C or SIGTERM. Any other
sub-command goes to Django (`mlplatform createsuperuser`, `mlplatform migrate`, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from pathlib import Path

from mlplatform.supervisor import STOP_TIMEOUT, Child, Supervisor

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080

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
    host = f"[{options.host}]" if ":" in options.host else options.host
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "mlplatform.wsgi:application",
        "--config",
        "python:mlplatform.gunicorn_conf",
        "--bind",
        f"{host}:{options.port}",
        "--workers",
        str(options.workers),
        "--threads",
        str(options.threads),
        "--graceful-timeout",
        str(int(STOP_TIMEOUT) - 2),
    ]
