"""docs/RELIABILITY.md names real tests, and its bad-input table gives every dead-letter
reason the contract has, each kind with a reason and a test that proves it."""

from __future__ import annotations

import re
from pathlib import Path

from trend_tracker.events import Reason

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "RELIABILITY.md").read_text()


def bad_input_rows() -> list[list[str]]:
    """The rows of the table under "## Bad input", as cells."""
    section = DOC.split("## Bad input", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[0] == "| input | reason | also proved by |"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def test_every_test_file_named_exists():
    named = set(re.findall(r"(?:tests/[\w/]+/)?test_\w+\.py", DOC))
    assert named
    for name in named:
        if "/" in name:
            assert (ROOT / name).is_file(), name
        else:
            assert list((ROOT / "tests").rglob(name)), name


def test_the_bad_input_table_gives_every_reason_and_a_test_for_each_kind():
    rows = bad_input_rows()
    reasons = {code for _, reason, _ in rows for code in re.findall(r"`(\w+)`", reason)}
    assert reasons - {"none"} == {reason.value for reason in Reason}
    for kind, reason, proof in rows:
        assert kind and reason and proof, kind
    # Every row is in the one stream of the bad-input matrix, which the section names.
    assert "tests/integration/test_bad_input_matrix.py" in DOC.split("## Bad input", 1)[1]


def test_the_kinds_asked_for_are_all_in_the_table():
    kinds = " ".join(kind for kind, _, _ in bad_input_rows()).lower()
    for kind in ("truncated json", "not utf-8", "byte-order mark", "nan", "infinity",
                 "empty value", "null value", "nesting", "1 mb", "missing or null",
                 "quoted number", "in seconds", "iso string", "unknown", "wrongly cased",
                 "another type's topic", "negative", "far ahead", "oversized id",
                 "redis-special", "duplicate `event_id`"):
        assert kind in kinds, kind
