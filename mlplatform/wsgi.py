"""WSGI entry point: `gunicorn mlplatform.wsgi`."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlplatform.settings")

application = get_wsgi_application()


def _freeze_startup_objects() -> None:
    """Leave what the worker built at start-up out of every later garbage collection.

    A web worker holds a great many objects from its imports (modules, classes, URL patterns),
    and Python's full collections would walk all of them with the worker's threads stopped,
    pausing every request in flight; frozen, they are never walked.
    """
    # Import every view now rather than in the first request, so they are frozen too.
    get_resolver().url_patterns  # noqa: B018
    # Start-up's own garbage is freed, not frozen for the life of the process.
    gc.collect()
    gc.freeze()


_freeze_startup_objects()
