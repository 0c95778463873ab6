"""Token format and hashing: `mlp_` + 40 base62 characters, stored as prefix + SHA-256."""

import hashlib
import hmac
import secrets
import string

TOKEN_PREFIX = "mlp_"  # noqa: S105 (a public marker, not a secret)
_ALPHABET = string.ascii_letters + string.digits
_RANDOM_LENGTH = 40
LOOKUP_LENGTH = 12  # "mlp_" + 8 random characters: unique enough to find the row, useless alone


def generate() -> str:
    return TOKEN_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))


def lookup_prefix(token: str) -> str:
    return token[:LOOKUP_LENGTH]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return (
        value.startswith(TOKEN_PREFIX)
        and len(value) == len(TOKEN_PREFIX) + _RANDOM_LENGTH
        and all(ch in _ALPHABET for ch in value[len(TOKEN_PREFIX) :])
    )


def matches(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token), stored_digest)
