"""Domain errors raised by tracking's services; every surface maps them to its own responses."""

from __future__ import annotations


class TrackingError(Exception):
    """Base of the domain errors; `message` is shown to the caller as is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidInput(TrackingError):
    """The request is wrong (a limit, a key rule, a changed param); nothing was written."""


class AlreadyExists(TrackingError):
    """The object the request would create exists already (or its name is reserved)."""


class NotFound(TrackingError):
    """The object does not exist, or the caller may not know that it does."""


class Unavailable(TrackingError):
    """A store the request needs cannot be used right now (not the caller's fault); nothing was
    written, and the same request may succeed later."""
