"""`python -m tests.e2e.slow_celery SECONDS <celery arguments>`: Celery whose summaries pause
SECONDS between reading the points and writing the result, so a test can kill the worker in
the middle of one. The pause is patched in here, in the test's own process, never in the app."""

import os
import sys
import time


def main() -> None:
    delay = float(sys.argv.pop(1))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from tracking.services import summaries

    read = summaries._read

    def read_then_pause(**kwargs):
        rows = read(**kwargs)
        time.sleep(delay)
        return rows

    summaries._read = read_then_pause
    from celery.__main__ import main as celery

    sys.argv[0] = "celery"
    celery()


if __name__ == "__main__":
    main()
