"""The per-process cache of verified API tokens, and how every process is told to forget it.

Plain Django (the cache framework and transactions): the services call forget_cached_tokens()
where access changes, and the DRF authentication class reads and fills the cache.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from .models import ApiToken

logger = logging.getLogger(__name__)

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


def cached(raw: str) -> ApiToken | None:
    """The request's copy of the verified token for a plaintext, while it may be trusted."""
    lifetime = settings.MLPLATFORM_TOKEN_CACHE_SECONDS
    if lifetime <= 0:
        return None
    _current_epoch()
    entry = _verified.get(_cache_key(raw))
    if entry is None or entry[0] < time.monotonic():
        return None
    if entry[1].is_expired:
        return None
    return request_copy(entry[1])


def request_copy(token: ApiToken) -> ApiToken:
    """Each request gets its own token and user, so no request's changes reach another's."""
    token = copy.copy(token)
    token.user = copy.copy(token.user)
    return token


def remember(raw: str, token: ApiToken) -> None:
    """Keep a token just verified for a plaintext, for MLPLATFORM_TOKEN_CACHE_SECONDS."""
    lifetime = settings.MLPLATFORM_TOKEN_CACHE_SECONDS
    if lifetime <= 0:
        return
    if len(_verified) >= _MAX_CACHED:
        _verified.clear()
    _verified[_cache_key(raw)] = (time.monotonic() + lifetime, token)


def _cache_key(raw: str) -> bytes:
    # Keyed by a hash of the whole token, never by its public prefix, and never the plaintext.
    return hashlib.sha256(raw.encode()).digest()
