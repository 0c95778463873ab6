"""One DRF authentication class for every API: API tokens as Bearer, Token or HTTP Basic."""

from __future__ import annotations

import base64
import binascii
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from rest_framework import authentication, exceptions

from . import token_cache, tokens
from .audit import client_ip
from .models import ApiToken, Membership

logger = logging.getLogger(__name__)

# Writing last_used on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _credential_from_header(header: str) -> str | None:
    """The token in an Authorization header, or None when the header carries none."""
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    rest = rest.strip()
    if scheme in {"bearer", "token"}:
        if not rest:
            raise exceptions.AuthenticationFailed("The Authorization header has no token.")
        return rest
    if scheme == "basic":
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed("Malformed HTTP Basic credentials.") from None
        _, sep, password = decoded.partition(":")
        if not sep or not password:
            raise exceptions.AuthenticationFailed("HTTP Basic needs an API token as the password.")
        return password
    return None


# --- failed attempts, per client address ------------------------------------------------------
# Counted in the shared cache (Redis, or the embedded file cache) in fixed windows, so every web
# process sees the same count. A token a process has verified already is never refused, so a
# misconfigured job behind the same address does not stop the working ones.
FAILURE_KEY = "auth:token-failures:{address}:{window}"


def _failure_window() -> tuple[int, int]:
    """The current window's number and the seconds left in it."""
    length = max(1, int(settings.MLPLATFORM_TOKEN_FAILURE_WINDOW))
    now = time.time()
    return int(now // length), max(1, int(length - now % length))


def _check_not_blocked(address: str | None) -> None:
    limit = settings.MLPLATFORM_TOKEN_FAILURE_LIMIT
    if not address or limit <= 0:
        return
    window, left = _failure_window()
    try:
        failures = cache.get(FAILURE_KEY.format(address=address, window=window), 0)
    except Exception:
        logger.exception("Could not read the count of failed token authentications")
        return
    if failures >= limit:
        raise exceptions.Throttled(
            wait=left,
            detail=f"Too many failed API token authentications from this address; "
            f"retry in {left} seconds.",
        )


def record_token_failure(address: str | None) -> None:
    """Count one failed token authentication from the address."""
    if not address or settings.MLPLATFORM_TOKEN_FAILURE_LIMIT <= 0:
        return
    window, _left = _failure_window()
    key = FAILURE_KEY.format(address=address, window=window)
    timeout = int(settings.MLPLATFORM_TOKEN_FAILURE_WINDOW) + 1
    try:
        if not cache.add(key, 1, timeout=timeout):
            cache.incr(key)
    except ValueError:
        # The window ended between add and incr; the next failure starts the new one.
        pass
    except Exception:
        logger.exception("Could not count a failed token authentication")


def authenticate_token(raw: str, *, request=None) -> ApiToken:
    """The usable token for a plaintext, or AuthenticationFailed saying why not; Throttled when
    the request's client address failed too often lately."""
    cached = token_cache.cached(raw) if tokens.looks_like_token(raw) else None
    if cached is not None:
        return cached
    if request is not None:
        # Only past the cache: the address costs nothing on the hot path of a known token.
        _check_not_blocked(client_ip(request))
    if not tokens.looks_like_token(raw):
        raise exceptions.AuthenticationFailed("Invalid API token.")
    # The user's role in the token's project comes along, so the access rule needs no second
    # query for a token request (every MLflow call is one).
    member_role = Membership.objects.filter(
        project_id=OuterRef("project_id"), user_id=OuterRef("user_id")
    ).values("role")[:1]
    token = (
        ApiToken.objects.select_related("user", "project")
        .annotate(member_role=Subquery(member_role))
        .filter(prefix=tokens.lookup_prefix(raw))
        .first()
    )
    if token is None or not tokens.matches(raw, token.digest):
        raise exceptions.AuthenticationFailed("Invalid API token.")
    if token.is_revoked:
        raise exceptions.AuthenticationFailed("This API token has been revoked.")
    if token.is_expired:
        raise exceptions.AuthenticationFailed("This API token has expired.")
    if not token.user.is_active:
        raise exceptions.AuthenticationFailed("The user of this API token is deactivated.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional, so that of many jobs sharing one token only the first request in a
        # minute writes; the others find the row already fresh and change nothing.
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    token_cache.remember(raw, token)
    return token_cache.request_copy(token)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer|Token <token>`, or HTTP Basic with the token as the password.

    request.user is the token's user and request.auth the ApiToken, which accounts.access
    uses to cap the user to the token's project and scope.
    """

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        try:
            raw = _credential_from_header(header)
            if raw is None:
                return None
            token = authenticate_token(raw, request=request)
        except exceptions.AuthenticationFailed:
            record_token_failure(client_ip(request))
            raise
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="mlplatform"'
