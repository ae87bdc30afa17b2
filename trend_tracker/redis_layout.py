"""The Redis layout shared by the job's Redis sink (writer) and the API (reader).

Redis is a rebuildable, expiring view; Parquet is the record. Keys are built only from
validated ids (see :func:`ranking_scope`), never from raw input.

- ``trend:r:{scope}:{window_end_ms}``: one complete popular ranking, a JSON document
  ``{"window_start", "window_end", "ranking", "category", "weights_version", "items": [...]}``
  where each item is ``{"rank", "product_id", "score", "clicks", "carts", "purchases",
  "previous_rank", "momentum"}`` (the output row, :mod:`trend_tracker.output_row`).
  Written with one SET, so a reader never sees half of it. Expires after the TTL.
- ``trend:r:rising:{scope}:{window_end_ms}``: the same for the rising ranking (by momentum).
- ``trend:latest:{scope}`` and ``trend:latest:rising:{scope}``: a copy of the newest complete
  popular (rising) ranking of that scope, replaced atomically and only by a newer (or the
  same) window_end, so ``/trending`` is one GET.
- ``trend:product:{product_id}``: sorted set of that product's overall ranks, score =
  window_end, member = JSON ``{"window_start", "window_end", "rank", "score", "clicks",
  "carts", "purchases", "weights_version"}``; a rewrite of a window replaces its entry.
  Entries older than the TTL are trimmed and the key expires after the TTL.
- ``trend:product:{product_id}/c:{category}``: the same, for that product's ranks in one
  category's ranking. ``/`` is not an id character, so no product id or category can
  make one key look like another.
- ``trend:product:{product_id}/rising:{scope}``: the same, for the rising ranking of that
  scope, so a product that rises without being popular has a history of its own.
- ``trend:categories``: sorted set, member = category, score = newest window_end. Only
  categories of the retained windows (window_end within the TTL of the newest one), and at
  most ``max_categories`` of them: the newest, ties by name. A category dropped from it
  loses its latest copies too (its rankings and histories expire with their TTL).

- ``trend:latest_end``: hash, field = scope (``rising:{scope}`` for the rising ranking),
  value = the window_end of that latest copy; a latest copy only moves forward against it.

``scope`` is ``all`` for the overall ranking and ``c:{category}`` for one category.

``trend`` is the default namespace, the production one; a backfill writes under a namespace
of its own (``redis_namespace``, :class:`RedisLayout`), so it never touches what the API
serves. The module's functions and constants are the default namespace's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trend_tracker.events import ID_RE
from trend_tracker.output_row import POPULAR, RANKINGS

#: The production namespace.
PREFIX = "trend"
#: A namespace: lower-case letters, digits and dashes, so no namespace holds ":".
NAMESPACE_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
OVERALL_SCOPE = "all"
#: A category's scope is this prefix and the category.
CATEGORY_SCOPE_PREFIX = "c:"


class InvalidIdError(ValueError):
    """An id that does not match ``^[A-Za-z0-9._:-]{1,64}$``."""


def checked_id(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise InvalidIdError(f"invalid {what}: must match ^[A-Za-z0-9._:-]{{1,64}}$")
    return value


def ranking_scope(category: str | None) -> str:
    """``all`` for the overall ranking, ``c:{category}`` for one category."""
    if category is None:
        return OVERALL_SCOPE
    return f"{CATEGORY_SCOPE_PREFIX}{checked_id(category, 'category')}"


def ranking_prefix(ranking: str) -> str:
    """What a kind of ranking puts before the scope in its keys: nothing for ``popular``
    (the keys it always had), ``rising:`` for ``rising``. No scope starts with a kind."""
    if ranking not in RANKINGS:
        raise ValueError(f"unknown ranking {ranking!r}: one of {', '.join(RANKINGS)}")
    return "" if ranking == POPULAR else f"{ranking}:"


def latest_scope(category: str | None, ranking: str = POPULAR) -> str:
    """The field of a latest copy in the ``latest_end`` hash."""
    return f"{ranking_prefix(ranking)}{ranking_scope(category)}"


def check_namespace(namespace: str) -> str:
    if not NAMESPACE_RE.fullmatch(namespace):
        raise ValueError(f"invalid Redis namespace {namespace!r}: lower-case letters, digits "
                         f"and dashes, at most 100")
    return namespace


@dataclass(frozen=True, slots=True)
class RedisLayout:
    """The keys of one namespace (see the module docstring)."""

    namespace: str = PREFIX

    def __post_init__(self) -> None:
        check_namespace(self.namespace)

    @property
    def categories_key(self) -> str:
        return f"{self.namespace}:categories"

    @property
    def latest_end_key(self) -> str:
        """Hash of each scope's latest window_end (the latest copies only move forward)."""
        return f"{self.namespace}:latest_end"

    @property
    def latest_prefix(self) -> str:
        """A scope's latest copy is this prefix and the scope."""
        return f"{self.namespace}:latest:"

    def ranking_key(self, category: str | None, window_end_ms: int,
                    ranking: str = POPULAR) -> str:
        """One window's ranking of a scope and kind."""
        return f"{self.namespace}:r:{latest_scope(category, ranking)}:{int(window_end_ms)}"

    def latest_key(self, category: str | None, ranking: str = POPULAR) -> str:
        """The newest ranking of a scope and kind."""
        return f"{self.latest_prefix}{latest_scope(category, ranking)}"

    def product_key(self, product_id: str, category: str | None = None,
                    ranking: str = POPULAR) -> str:
        """The history of a product in a ranking of a kind: overall, or one category's."""
        key = f"{self.namespace}:product:{checked_id(product_id, 'product_id')}"
        if category is None and ranking == POPULAR:
            return key
        return f"{key}/{latest_scope(category, ranking)}"


#: The production namespace's layout, and its keys as module names.
DEFAULT = RedisLayout()
CATEGORIES_KEY = DEFAULT.categories_key
LATEST_END_KEY = DEFAULT.latest_end_key
LATEST_PREFIX = DEFAULT.latest_prefix
ranking_key = DEFAULT.ranking_key
latest_key = DEFAULT.latest_key
product_key = DEFAULT.product_key
