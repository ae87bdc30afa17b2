"""`trend redis rebuild --since`: the times it takes (no servers)."""

from __future__ import annotations

import pytest

from jobs.redis_rebuild import parse_time

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@pytest.mark.parametrize("text", ["1704067200000", "2024-01-01T00:00:00Z",
                                  "2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00",
                                  "2024-01-01"])
def test_since_is_epoch_ms_or_iso_8601_with_utc_by_default(text):
    assert parse_time(text) == T0


def test_anything_else_is_refused():
    with pytest.raises(ValueError, match="not epoch milliseconds or an ISO-8601 time"):
        parse_time("yesterday")
