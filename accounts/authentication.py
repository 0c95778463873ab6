"""One DRF authentication class for every API: API tokens as Bearer, Token or HTTP Basic."""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import timedelta

from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from rest_framework import authentication, exceptions

from . import token_cache, tokens
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


def authenticate_token(raw: str) -> ApiToken:
    """The usable token for a plaintext, or AuthenticationFailed saying why not."""
    if not tokens.looks_like_token(raw):
        raise exceptions.AuthenticationFailed("Invalid API token.")
    cached = token_cache.cached(raw)
    if cached is not None:
        return cached
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
        raw = _credential_from_header(header)
        if raw is None:
            return None
        token = authenticate_token(raw)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="mlplatform"'
