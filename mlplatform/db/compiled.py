"""ORM reads compiled once per shape.

Django builds and compiles a queryset anew on every call; for a one-row read that costs more
than the database does. A CompiledRead builds its queryset once, with sample values in the
places that vary, keeps the SQL and where each sample went in the parameters, and from then on
only fills in the values. The query is the ORM's own, so it cannot drift from the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.db.models.sql.compiler import SQLCompiler

# Values sample arguments may take: ones the database adapter passes through unchanged, so the
# sample can be found among the compiled parameters.
_PLAIN = (str, int)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Per parameter: the argument it comes from, or None and the constant it is.
    slots: tuple[tuple[str | None, Any], ...]
    compiler: SQLCompiler
    converters: dict


class CompiledRead:
    """`build(**arguments)` returns a values_list queryset; `rows(**arguments)` runs it.

    `samples` are distinct values of the arguments' types (str or int, and not a value the
    query holds as a constant), used once to find each argument's place in the SQL.
    """

    def __init__(self, build: Callable[..., QuerySet], **samples: Any) -> None:
        if len(set(samples.values())) != len(samples) or not all(
            isinstance(v, _PLAIN) and not isinstance(v, bool) for v in samples.values()
        ):
            raise ValueError("samples must be distinct strings or integers")
        self.build = build
        self.samples = samples
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, alias: str) -> _Compiled:
        queryset = self.build(**self.samples).using(alias)
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        by_value = {value: name for name, value in self.samples.items()}
        slots = []
        for param in params:
            name = by_value.get(param) if isinstance(param, _PLAIN) else None
            slots.append((name, None if name else param))
        missing = set(self.samples) - {name for name, _ in slots}
        if missing:
            raise ValueError(f"the query does not take {', '.join(sorted(missing))} as parameters")
        converters = compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]])
        compiled = _Compiled(sql, tuple(slots), compiler, converters)
        self._compiled[alias] = compiled
        return compiled

    def rows(self, using: str = "default", **arguments: Any) -> list[tuple]:
        compiled = self._compiled.get(using) or self._compile(using)
        params = [arguments[name] if name else constant for name, constant in compiled.slots]
        with connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            converted = compiled.compiler.apply_converters(rows, compiled.converters)
            rows = [tuple(row) for row in converted]
        return rows
