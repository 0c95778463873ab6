"""Which exceptions mean the database is out of reach rather than that the request is wrong.

Every surface answers those with a 503, so a client retries instead of giving up on a 500.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

UNAVAILABLE_MESSAGE = "The database is unavailable; try again in a moment."


def database_unavailable(exc: BaseException | None) -> bool:
    """True when `exc` is a lost or refused database connection (the request changed nothing:
    its transaction never committed)."""
    return isinstance(exc, OperationalError | InterfaceError)
