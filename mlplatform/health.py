"""`/healthz`: is the database answering, and is the broker?"""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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


@never_cache
@require_GET
def healthz(request):
    db_ok, db_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    healthy = db_ok and broker_ok
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
    return JsonResponse(body, status=200 if healthy else 503)
