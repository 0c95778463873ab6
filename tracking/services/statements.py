"""Helpers for the raw SQL statements of the write paths."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from django.db import connection, transaction


def may_fail() -> AbstractContextManager:
    """Around one statement that may be refused: a savepoint when a caller's transaction is
    open, so the error leaves that transaction usable; nothing otherwise, since a statement
    outside a transaction is undone by its own error and needs no BEGIN round trip."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()
