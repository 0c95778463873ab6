"""The native API's one error shape: `{"error": {"code", "message", "fields"}}`.

Only the native API's views use this handler (through `NativeAPIView`); the MLflow API keeps
MLflow's own shape.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from mlplatform.db.errors import UNAVAILABLE_MESSAGE, database_unavailable
from tracking.errors import AlreadyExists, InvalidInput, NotFound, Unavailable
from tracking.search import SearchError
from tracking.services.projects import ProjectSlugTaken

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail as {"a.b[0].c": [messages]}."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            elif key == "non_field_errors" and prefix:
                name = prefix
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            fields.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            fields[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    fields.update(_flatten(item, f"{prefix}[{index}]"))
    else:
        fields[prefix or "non_field_errors"] = [str(detail)]
    return fields


def _first_message(fields: dict[str, list[str]]) -> str:
    for name, messages in fields.items():
        if messages:
            return messages[0] if name == "non_field_errors" else f"{name}: {messages[0]}"
    return "The request is invalid."


def _domain_response(exc: Exception) -> Response | None:
    if isinstance(exc, InvalidInput):
        fields = {exc.field: [exc.message]} if exc.field else {}
        return Response(error_body("invalid", exc.message, fields), status=400)
    if isinstance(exc, SearchError):
        field = getattr(exc, "api_field", None) or "filter"
        return Response(error_body("invalid", str(exc), {field: [str(exc)]}), status=400)
    if isinstance(exc, AlreadyExists):
        fields = {exc.field: [exc.message]} if exc.field else {}
        return Response(error_body("already_exists", exc.message, fields), status=409)
    if isinstance(exc, ProjectSlugTaken):
        return Response(error_body("already_exists", str(exc), {"slug": [str(exc)]}), status=409)
    if isinstance(exc, NotFound):
        return Response(error_body("not_found", exc.message), status=404)
    if isinstance(exc, Unavailable):
        return Response(error_body("unavailable", exc.message), status=503)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            fields = {name: [str(m) for m in msgs] for name, msgs in exc.message_dict.items()}
        else:
            fields = {"non_field_errors": [str(m) for m in exc.messages]}
        return Response(error_body("invalid", _first_message(fields), fields), status=400)
    return None


_CODES = {
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def native_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Every error of the native API in one shape; None (a 500) only for genuine faults."""
    response = _domain_response(exc)
    if response is not None:
        return response
    if database_unavailable(exc):
        # A retry is the right answer to a lost database, not a bug report.
        logger.warning("Database unavailable: %s", type(exc).__name__)
        set_rollback()
        return Response(
            error_body("unavailable", UNAVAILABLE_MESSAGE), status=503, headers={"Retry-After": "1"}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "Permission denied.")
    # DRF's own handler sets WWW-Authenticate and Retry-After and rolls back the transaction.
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        response.data = error_body("invalid", _first_message(fields), fields)
        return response
    detail = getattr(exc, "detail", "")
    message = str(detail) if not isinstance(detail, dict | list) else "The request failed."
    code = _CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ParseError):
        code = "invalid"
    response.data = error_body(code, message)
    return response
