"""`/healthz`: is the database answering, and is the broker?

Anyone gets whether each part is up (a load balancer needs no more); the details, whose error
texts name hosts and ports, and the summary figures only staff and callers with an API token.
"""

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.exceptions import APIException

from accounts.authentication import ApiTokenAuthentication
from mlplatform.celery import app as celery_app
from mlplatform.health_summaries import summary_health


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not healthy"; the type is in the message
        return False, f"{type(exc).__name__}: {exc}"
    return True, "ok"


def _broker_ok() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, "ok"


def _summaries(*, broker_ok: bool) -> dict:
    try:
        return summary_health(backlog=broker_ok)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _may_see_details(request) -> bool:
    try:
        user = getattr(request, "user", None)
        if user is not None and user.is_active and user.is_staff:
            return True
        return ApiTokenAuthentication().authenticate(request) is not None
    except (APIException, DatabaseError):
        # With the database down no one can be told apart from an anonymous caller.
        return False


@never_cache
@require_GET
def healthz(request):
    db_ok, db_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    healthy = db_ok and broker_ok
    status = 200 if healthy else 503
    if not _may_see_details(request):
        body = {
            "status": "ok" if healthy else "unavailable",
            "database": {"ok": db_ok},
            "broker": {"ok": broker_ok, "kind": "redis" if settings.REDIS_URL else "embedded"},
        }
        return JsonResponse(body, status=status)
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": {"ok": db_ok, "detail": db_detail},
        "broker": {
            "ok": broker_ok,
            "detail": broker_detail,
            "kind": "redis" if settings.REDIS_URL else "embedded",
        },
        # Informational: a summary backlog delays figures on pages but loses nothing, so it
        # never makes the instance unhealthy.
        "summaries": _summaries(broker_ok=broker_ok) if db_ok else None,
    }
    return JsonResponse(body, status=status)
