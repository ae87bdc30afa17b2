"""Response models: the API's documented shapes (OpenAPI) and the names clients see.

Field names follow the project's one-name-per-concept rule; times are epoch ms (UTC).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

#: The kinds of ranking (:data:`trend_tracker.output_row.RANKINGS`).
Ranking = Literal["popular", "rising"]


class RankedProduct(BaseModel):
    """One product's place in a ranking."""

    rank: int = Field(ge=1, description="1 is the top; ties break by product_id ascending")
    product_id: str
    score: float = Field(description="Weighted trend score of the window")
    clicks: int = Field(ge=0)
    carts: int = Field(ge=0)
    purchases: int = Field(ge=0)
    previous_rank: int | None = Field(
        ge=1, description="Its rank in the same ranking of the previous window (one slide "
                          "earlier); null when it was not in that top-N")
    momentum: float = Field(
        ge=0, description="Its rate in the newest slides against its rate in the window "
                          "before them, (recent / scale + rising_prior) / (base + "
                          "rising_prior): 1 is flat, 2 is twice as fast")


class AsOf(BaseModel):
    """How fresh the answer is."""

    generated_at: int = Field(description="When this response was built, epoch ms")
    age_s: float = Field(description="generated_at - window_end, in seconds")
    stale: bool = Field(description="age_s is above the configured staleness limit")


class TrendingResponse(BaseModel):
    """The newest complete window's top-k, overall or for one category."""

    window_start: int = Field(description="Window start, epoch ms (inclusive)")
    window_end: int = Field(description="Window end, epoch ms (exclusive)")
    ranking: Ranking = Field(description="popular: by score; rising: by momentum")
    category: str | None = Field(description="null for the overall ranking")
    weights_version: str
    as_of: AsOf
    items: list[RankedProduct]


class ProductWindow(BaseModel):
    """A product's place in one window's ranking (overall, or one category's)."""

    window_start: int
    window_end: int
    rank: int = Field(ge=1)
    score: float
    clicks: int = Field(ge=0)
    carts: int = Field(ge=0)
    purchases: int = Field(ge=0)
    weights_version: str


class ProductTrendResponse(BaseModel):
    """A product's rank and score across recent windows, oldest first.

    Windows where the product was outside that ranking's top-N are absent.
    """

    product_id: str
    windows: list[ProductWindow]


class CategoryInfo(BaseModel):
    """A category that has a ranking."""

    category: str
    window_end: int = Field(description="End of its newest ranked window, epoch ms")


class CategoriesResponse(BaseModel):
    """The categories that have rankings, by name."""

    categories: list[CategoryInfo]


class HealthResponse(BaseModel):
    """The process is alive."""

    status: str = "ok"


class ReadyResponse(BaseModel):
    """Redis answers, so the API can answer; what it would serve is reported, never a
    reason to be unready."""

    status: str = "ready"
    data: Literal["ok", "no_data", "corrupt_data"] = Field(
        description="ok: the newest overall ranking can be served; no_data: none yet; "
                    "corrupt_data: it cannot be read (/trending answers 503 for both)")
    window_end: int | None = Field(description="window_end of the newest overall ranking")
    age_s: float | None = Field(description="now - window_end, in seconds")
    stale: bool = Field(description="age_s is above the configured staleness limit, or "
                                    "there is no ranking to serve")


class ErrorDetail(BaseModel):
    """What went wrong: a stable code to branch on and a message to show."""

    code: str = Field(description="e.g. invalid_parameter, unknown_parameter, not_found, "
                                  "unknown_category, unknown_product, no_data, stale, "
                                  "redis_unavailable, corrupt_data, method_not_allowed, "
                                  "internal_error")
    message: str


class ErrorResponse(BaseModel):
    """The one error shape of the API."""

    error: ErrorDetail
