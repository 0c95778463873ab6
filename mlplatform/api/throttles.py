"""Scoped rates for the native API: `log` for writes, `read` for reads (settings, from env)."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class NativeScopedThrottle(SimpleRateThrottle):
    """Per user (or client address), one bucket per scope: reads and writes never starve
    each other, so a sweep that logs hard does not lock its own people out of the pages."""

    def __init__(self) -> None:
        # Resolved per request, not at import, so the rates follow settings (and tests).
        pass

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, "throttle_scope", None) or (
            "read" if request.method in SAFE_METHODS else "log"
        )
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if rate is None:
            return True
        self.rate = rate
        self.num_requests, self.duration = self.parse_rate(rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        ident = request.user.pk if request.user and request.user.is_authenticated else None
        return self.cache_format % {
            "scope": self.scope,
            "ident": ident if ident is not None else self.get_ident(request),
        }
