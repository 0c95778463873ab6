"""MLPlatform's Django project package.

Named ``mlplatform`` and not ``platform``: a top-level ``platform`` package would shadow the
standard library module that ``uuid``, and therefore Django, import at start-up.
"""

from .celery import app as celery_app

__all__ = ("celery_app",)
