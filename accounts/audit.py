"""Recording audit events from services, with the client address of the current request."""

from __future__ import annotations

from contextvars import ContextVar

from django.conf import settings
from django.db import models

from .models import AuditAction, AuditEvent, Project, User

# Set per request by AuditContextMiddleware, so services deep below a view can record where an
# action came from without every signature carrying the request.
current_ip: ContextVar[str | None] = ContextVar("current_ip", default=None)


def client_address(request) -> str | None:
    """The client's address: with N reverse proxies in front (MLPLATFORM_PROXY_COUNT), the Nth
    address from the right of X-Forwarded-For, which the nearest proxy wrote and the client
    cannot forge; REMOTE_ADDR without proxies. django-axes uses this too (settings)."""
    proxies = settings.MLPLATFORM_PROXY_COUNT
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def client_ip(request) -> str | None:
    """The client address as django-axes sees it (client_address, by the settings)."""
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reset = current_ip.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            current_ip.reset(reset)


def audit_record(
    *,
    user: User | None,
    action: AuditAction,
    project: Project | None = None,
    target: models.Model | None = None,
    detail: str = "",
    ip: str | None = None,
    username: str = "",
) -> AuditEvent:
    """Write one audit event; `ip` defaults to the current request's client address.

    `username` names who it was when there is no user, such as the name a failed log-in tried.
    """
    known = user is not None and user.is_authenticated
    return AuditEvent.objects.create(
        user=user if known else None,
        username=(user.get_username() if known else username)[:150],
        action=action,
        project=project,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(getattr(target, "run_id", None) or target.pk) if target is not None else "",
        target_repr=str(target)[:300] if target is not None else "",
        ip=ip or current_ip.get(),
        detail=detail[:500],
    )
