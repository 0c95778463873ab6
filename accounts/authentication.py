"""One DRF authentication class for every API: API tokens as Bearer, Token or HTTP Basic."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from rest_framework import authentication, exceptions

from . import tokens
from .audit import client_ip
from .models import ApiToken, Membership

logger = logging.getLogger(__name__)

# Writing last_used on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)

# Verified tokens, per process, so that a token request (every MLflow call) costs no query for
# its credentials. What can make a cached token wrong (a revocation, a changed or removed
# membership, a deactivated user) goes through forget_cached_tokens(), which empties this cache
# at once here and, through a counter in the shared cache (Redis), in every other process within
# EPOCH_CHECK_SECONDS. Changes made behind the services' back (SQL, the shell) are seen after
# settings.MLPLATFORM_TOKEN_CACHE_SECONDS, the most a cached entry is trusted.
_verified: dict[bytes, tuple[float, ApiToken]] = {}
_epoch = {"value": None, "checked": 0.0}
EPOCH_KEY = "auth:tokens:epoch"
EPOCH_CHECK_SECONDS = 0.5
_MAX_CACHED = 10_000


def forget_cached_tokens() -> None:
    """Drop every cached token in every process: call where access changes, inside the
    transaction that changes it. This process forgets at once and again on commit, when the
    others are told too; were they told before the commit, they could re-read the old state."""
    _verified.clear()
    transaction.on_commit(_forget_everywhere)


def _forget_everywhere() -> None:
    _verified.clear()
    try:
        # A new value rather than incr: incr fails on a missing key, and a value the other
        # processes have not seen is all they need to notice.
        cache.set(EPOCH_KEY, time.time_ns(), timeout=None)
    except Exception:
        # Without the shared cache the other processes fall back to the entries' lifetime.
        logger.exception("Could not tell other processes to forget cached tokens")


def _current_epoch():
    now = time.monotonic()
    if now - _epoch["checked"] >= EPOCH_CHECK_SECONDS:
        _epoch["checked"] = now
        try:
            value = cache.get(EPOCH_KEY)
        except Exception:
            logger.exception("Could not read the token cache epoch")
            value = _epoch["value"]
        if value != _epoch["value"]:
            _verified.clear()
            _epoch["value"] = value
    return _epoch["value"]


def _cached(raw: str) -> ApiToken | None:
    lifetime = settings.MLPLATFORM_TOKEN_CACHE_SECONDS
    if lifetime <= 0:
        return None
    _current_epoch()
    entry = _verified.get(_cache_key(raw))
    if entry is None or entry[0] < time.monotonic():
        return None
    if entry[1].is_expired:
        return None
    return _copy(entry[1])


def _copy(token: ApiToken) -> ApiToken:
    # Each request gets its own token and user, so no request's changes reach another's.
    token = copy.copy(token)
    token.user = copy.copy(token.user)
    return token


def _remember(raw: str, token: ApiToken) -> None:
    lifetime = settings.MLPLATFORM_TOKEN_CACHE_SECONDS
    if lifetime <= 0:
        return
    if len(_verified) >= _MAX_CACHED:
        _verified.clear()
    _verified[_cache_key(raw)] = (time.monotonic() + lifetime, token)


def _cache_key(raw: str) -> bytes:
    # Keyed by a hash of the whole token, never by its public prefix, and never the plaintext.
    return hashlib.sha256(raw.encode()).digest()


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
    cached = _cached(raw) if tokens.looks_like_token(raw) else None
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
    _remember(raw, token)
    return _copy(token)


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
