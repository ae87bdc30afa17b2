"""``GET /trending`` without the framework's per-request work, for well-formed requests.

``/trending`` is the route services call at high rates. Through FastAPI, each request
pays for routing, dependency resolution and query validation (about 250 us of CPU on
the benchmark machine, more than the answer itself). This ASGI middleware answers the
requests whose query it can check exactly with a few byte comparisons: ``k`` in
canonical digits from 1 to ``top_n``, ``category`` matching the id pattern, each at most
once and nothing else. Everything else, and every answer that is not a ranking (no data
yet, unknown category), goes on to the FastAPI route, which stays the documented one
(OpenAPI) and gives the JSON 4xx errors. Both read the same :class:`LatestRankings`, so
they answer alike.
"""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import corrupt_data, redis_unavailable
from api.rankings import StoredDataError
from api.routes import JSON, TRENDING_DEFAULT_K, now_ms, router
from trend_tracker.settings import ID_RE

PATH = "/trending"
_CONTENT_TYPE = (b"content-type", JSON.encode())


def parse_trending_query(query: bytes, top_n: int) -> tuple[int, str | None] | None:
    """``(k, category)`` of a ``/trending`` query string the fast path may answer.

    None means "let the route decide": an unknown, repeated, percent-encoded, empty or
    out-of-range parameter, or ``k`` written other than in canonical digits. The route
    then answers exactly as it always does, including its 422 errors.
    """
    k, category = TRENDING_DEFAULT_K, None
    if query:
        seen = set()
        for pair in query.split(b"&"):
            name, sep, value = pair.partition(b"=")
            if not sep or name in seen:
                return None
            seen.add(name)
            if name == b"k":
                # Canonical digits only: "010", "+5" or " 5" are the route's to judge.
                if not value.isdigit() or value[:1] == b"0" or len(value) > 6:
                    return None
                k = int(value)
            elif name == b"category":
                text = value.decode("ascii", "replace")
                if not ID_RE.fullmatch(text):  # also refuses "%", "+" and empty values
                    return None
                category = text
            else:
                return None
    if k > top_n:
        return None
    return k, category


class TrendingFastPath:
    """Answers well-formed ``GET /trending`` requests straight from the rankings cache."""

    def __init__(self, app: ASGIApp, top_n: int, stale_after_s: float) -> None:
        self.app = app
        self.top_n = top_n
        self.stale_after_s = stale_after_s
        # The route labels the request in the metrics, as routing would.
        self.route = next(r for r in router.routes if getattr(r, "path", None) == PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET"
                or (query := parse_trending_query(scope["query_string"], self.top_n))
                is None):
            await self.app(scope, receive, send)
            return
        k, category = query
        state = scope["app"].state
        try:
            ranking = await state.rankings.get(category)
        except (RedisError, OSError) as exc:  # as the app's handlers: a 503 to retry
            scope["route"] = self.route
            await redis_unavailable(state.metrics, exc)(scope, receive, send)
            return
        except StoredDataError as exc:
            scope["route"] = self.route
            await corrupt_data(exc)(scope, receive, send)
            return
        if ranking is None:  # no data yet or an unknown category: the route explains
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        body = ranking.body(k, now_ms(), self.stale_after_s)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()),
                                _CONTENT_TYPE]})
        await send({"type": "http.response.body", "body": body})
