"""The job's output row: every field once, with its types and its role.

One row is one product's place in one ranking of one window. The job's SQL (the ranked
arrays), the Parquet schema, the Redis documents, the API's item fields and the training
code all take their field lists from :data:`FIELDS`; nothing else lists them.

Roles:

- ``window key``: which window (``window_start``, ``window_end``).
- ``ranking key``: which ranking of the window: its kind (``ranking``: ``popular``, by
  score, or ``rising``, by momentum) and scope (``category``: null for the overall one).
- ``item``: the product's place and values in that ranking (``rank``, ``product_id``,
  ``score``; ``previous_rank``, its rank in the same ranking of the previous window, null
  when it was not in that top-N; ``momentum``, the rate of its newest slides
  against the window before them, see docs/ARCHITECTURE.md).
- ``count``: the window's event counts of the product; items too, and the training features.
- ``window value``: one value for the whole window (``weights_version``).

Window times, one convention per medium:

- Parquet: ``timestamp[ms, UTC]`` (query engines see a time, and filter on it).
- Flink SQL: ``TIMESTAMP(3)`` wall times in UTC (the job runs with ``table.local-time-zone``
  UTC); the window sink turns them into epoch ms at once.
- Redis documents, the API, the rows the sinks pass around: epoch milliseconds (integers).

``window_start`` is inclusive and ``window_end`` exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a field says about the row (see the module docstring)."""

    WINDOW_KEY = "window key"
    RANKING_KEY = "ranking key"
    ITEM = "item"
    COUNT = "count"
    WINDOW_VALUE = "window value"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of the output row."""

    name: str
    #: Its Arrow type as pyarrow names it (``pyarrow.type_for_alias``), in Parquet.
    arrow: str
    #: Its Flink SQL type, in the job's ranked arrays (window keys: the window's own times).
    sql: str
    role: Role
    nullable: bool = False
    #: Its Python type in the rows the sinks pass around and in Redis documents.
    python: type = str

    def plain(self, value):
        """``value`` as this field's plain Python type (None stays None when nullable)."""
        return None if value is None and self.nullable else self.python(value)


#: Window times in Parquet (see the module docstring for the other media).
PARQUET_TIME = "timestamp[ms, UTC]"

#: The output row, in column order.
FIELDS: tuple[Field, ...] = (
    Field("window_start", PARQUET_TIME, "TIMESTAMP(3)", Role.WINDOW_KEY, python=int),
    Field("window_end", PARQUET_TIME, "TIMESTAMP(3)", Role.WINDOW_KEY, python=int),
    Field("ranking", "string", "STRING", Role.RANKING_KEY),
    Field("category", "string", "STRING", Role.RANKING_KEY, nullable=True),
    Field("rank", "int32", "INT", Role.ITEM, python=int),
    Field("product_id", "string", "STRING", Role.ITEM),
    Field("score", "float64", "DOUBLE", Role.ITEM, python=float),
    Field("clicks", "int64", "BIGINT", Role.COUNT, python=int),
    Field("carts", "int64", "BIGINT", Role.COUNT, python=int),
    Field("purchases", "int64", "BIGINT", Role.COUNT, python=int),
    Field("previous_rank", "int32", "INT", Role.ITEM, nullable=True, python=int),
    Field("momentum", "float64", "DOUBLE", Role.ITEM, python=float),
    Field("weights_version", "string", "STRING", Role.WINDOW_VALUE),
)

BY_NAME: dict[str, Field] = {field.name: field for field in FIELDS}

#: The kinds of ranking (values of ``ranking``): by score, and by momentum.
POPULAR = "popular"
RISING = "rising"
RANKINGS: tuple[str, ...] = (POPULAR, RISING)


def names(*roles: Role) -> tuple[str, ...]:
    """The names of the fields with one of ``roles``, in column order."""
    return tuple(field.name for field in FIELDS if field.role in roles)


#: Every column of the row (Parquet's columns, the sinks' row keys), in order.
OUTPUT_COLUMNS: tuple[str, ...] = tuple(field.name for field in FIELDS)
#: The window's times.
WINDOW_KEYS: tuple[str, ...] = names(Role.WINDOW_KEY)
#: Which ranking of a window a row belongs to.
RANKING_KEYS: tuple[str, ...] = names(Role.RANKING_KEY)
#: The event counts (the training features).
COUNT_FIELDS: tuple[str, ...] = names(Role.COUNT)
#: One item of a ranking, as Redis stores it and the API serves it.
ITEM_FIELDS: tuple[str, ...] = names(Role.ITEM, Role.COUNT)
#: A ranking document's fields besides ``items``, in the document's order.
RANKING_HEAD_FIELDS: tuple[str, ...] = names(Role.WINDOW_KEY, Role.RANKING_KEY,
                                             Role.WINDOW_VALUE)
#: The fields the job's ranking hands over as one array each (positions aligned), in this
#: order; the window's times come from the window and ``weights_version`` follows them.
RANKED_ARRAY_FIELDS: tuple[str, ...] = names(Role.RANKING_KEY, Role.ITEM, Role.COUNT)
#: The item fields that compare a ranking with earlier windows' (not in product histories).
RELATIVE_FIELDS: tuple[str, ...] = ("previous_rank", "momentum")
#: One entry of a product's history: its place in one window's popular ranking.
HISTORY_FIELDS: tuple[str, ...] = tuple(
    name for name in OUTPUT_COLUMNS
    if name not in RANKING_KEYS and name != "product_id" and name not in RELATIVE_FIELDS)


def sql_ranked_row_type() -> str:
    """The SQL type of the job's ranked row: one array per :data:`RANKED_ARRAY_FIELDS`, then
    the window values (as the Java ranking declares its result)."""
    arrays = [f"`{name}` ARRAY<{BY_NAME[name].sql}>" for name in RANKED_ARRAY_FIELDS]
    values = [f"`{name}` {BY_NAME[name].sql}" for name in names(Role.WINDOW_VALUE)]
    return f"ROW<{', '.join(arrays + values)}>"
