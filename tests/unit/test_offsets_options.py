"""Rendering end offsets as Flink Kafka connector options (no broker needed)."""

import pytest

from jobs.offsets import bounded_scan_options, specific_offsets_option
from jobs.topology import with_clause


def test_specific_offsets_are_sorted_by_partition():
    assert (specific_offsets_option({1: 300, 0: 42})
            == "partition:0,offset:42;partition:1,offset:300")


def test_an_empty_partition_bounds_at_zero():
    assert specific_offsets_option({0: 0}) == "partition:0,offset:0"


@pytest.mark.parametrize("offsets", [{}, {0: -1}, {-1: 5}])
def test_invalid_offsets_are_refused(offsets):
    with pytest.raises(ValueError):
        specific_offsets_option(offsets)


def test_bounded_scan_options_name_the_specific_offsets_mode():
    assert bounded_scan_options({0: 1000, 1: 998}) == {
        "scan.bounded.mode": "specific-offsets",
        "scan.bounded.specific-offsets": "partition:0,offset:1000;partition:1,offset:998",
    }


def test_with_clause_quotes_keys_and_values():
    rendered = with_clause({"scan.bounded.mode": "specific-offsets", "x": "it's"})
    assert rendered == "'scan.bounded.mode' = 'specific-offsets',\n  'x' = 'it''s'"
