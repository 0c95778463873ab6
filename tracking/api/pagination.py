"""Cursor pages for runs and metric histories: an opaque `cursor` and a `next` link.

Runs in the default order (newest first) page by keyset, so runs started meanwhile neither
repeat nor vanish between pages; a custom `order_by` over params and metrics pages by position.
A cursor only fits the query that made it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from django.db.models import Q, QuerySet
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from tracking.errors import InvalidInput
from tracking.validation import INT64_MAX, INT64_MIN

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size_from(request: Request, *, default: int = DEFAULT_PAGE_SIZE, limit: int) -> int:
    raw = request.query_params.get("page_size")
    if raw in (None, ""):
        return default
    try:
        size = int(raw)
    except ValueError:
        raise InvalidInput("page_size must be an integer.", field="page_size") from None
    if not 1 <= size <= limit:
        raise InvalidInput(f"page_size must be between 1 and {limit}.", field="page_size")
    return size


def query_hash(request: Request, ignore: tuple[str, ...] = ("cursor", "page_size")) -> str:
    items = sorted(
        (key, value)
        for key in request.query_params
        if key not in ignore
        for value in request.query_params.getlist(key)
    )
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:12]


def encode_cursor(position: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def decode_cursor(raw: str, *, query: str) -> dict:
    try:
        position = json.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
    except (UnicodeError, binascii.Error, ValueError, RecursionError):
        raise InvalidInput("Invalid cursor.", field="cursor") from None
    if not isinstance(position, dict) or position.get("q") != query:
        raise InvalidInput("Invalid cursor: it belongs to another query.", field="cursor")
    return position


def next_link(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return replace_query_param(request.build_absolute_uri(), "cursor", cursor)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput("Invalid cursor.", field="cursor")
    return value


def paginate(request: Request, qs: QuerySet, *, keyset: bool) -> tuple[list, str | None]:
    """One page and the next cursor; `keyset` for runs in the default order, else by position."""
    size = page_size_from(request, limit=MAX_PAGE_SIZE)
    query = query_hash(request)
    raw = request.query_params.get("cursor")
    offset = 0
    if raw:
        position = decode_cursor(raw, query=query)
        if keyset:
            start, run_id = position.get("s"), position.get("r")
            if not isinstance(run_id, str):
                raise InvalidInput("Invalid cursor.", field="cursor")
            start = _int(start)
            qs = qs.filter(Q(start_time__lt=start) | Q(start_time=start, run_id__gt=run_id))
        else:
            offset = _int(position.get("o"))
            if offset < 0:
                raise InvalidInput("Invalid cursor.", field="cursor")
    rows = list(qs[offset : offset + size + 1])
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    if keyset:
        last = rows[-1]
        return rows, encode_cursor({"q": query, "s": last.start_time, "r": last.run_id})
    return rows, encode_cursor({"q": query, "o": offset + size})
