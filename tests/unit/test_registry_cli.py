"""Pure parts of the registry and its CLI: error summaries, times, the training report."""

from __future__ import annotations

import pytest
import typer

from registry.cli import _epoch_ms, _iso, report_text
from registry.client import MODEL_DESCRIPTION
from registry.errors import first_line
from registry.train import Evaluation, TrainingConfig, TrainingResult


@pytest.mark.parametrize("message, summary", [
    (("API request to http://h/api failed with exception HTTPConnectionPool(host='h', port=1):"
     " Max retries exceeded (Caused by NewConnectionError(... [Errno 111] Connection refused"
     "))"), "connection refused"),
    ("API request to http://h/api failed with exception ReadTimeoutError(... Read timed out.)",
     "request timed out"),
    ("RESOURCE_DOES_NOT_EXIST: Model Version (name=m, version=9) not found\nmore detail",
     "RESOURCE_DOES_NOT_EXIST: Model Version (name=m, version=9) not found"),
    ("", ""),
])
def test_mlflow_errors_become_one_short_line(message, summary):
    assert first_line(message) == summary


def test_times_on_the_command_line():
    assert _epoch_ms(None) is None
    assert _epoch_ms("1767225600000") == 1_767_225_600_000
    assert _epoch_ms("2026-01-01T00:00:00Z") == 1_767_225_600_000
    assert _epoch_ms("2026-01-01T01:00:00+01:00") == 1_767_225_600_000
    assert _epoch_ms("2026-01-01 00:00") == 1_767_225_600_000  # UTC unless it says otherwise
    with pytest.raises(typer.BadParameter):
        _epoch_ms("yesterday")
    assert _iso(1_767_225_630_000) == "2026-01-01T00:00:30Z"


def test_training_report():
    result = TrainingResult(
        weights={"click": 0.25, "cart": 0.75, "purchase": 0.0},
        raw_coefficients={"click": 0.1, "cart": 0.3, "purchase": 0.0},
        candidate=Evaluation(ndcg_at_k=0.91234, precision_at_k=0.8, windows=12),
        champion=Evaluation(ndcg_at_k=0.9, precision_at_k=0.85, windows=12),
        data_start_ms=1_767_225_600_000, data_end_ms=1_767_229_200_000,
        holdout_start_ms=1_767_228_300_000, train_examples=400, holdout_examples=120,
        train_windows=40, holdout_windows=12, config=TrainingConfig(k=5))
    assert report_text(result, "trend-weights/1", "file:///data").splitlines() == [
        ("data: file:///data  2026-01-01T00:00:00Z .. 2026-01-01T01:00:00Z  (40 training "
        "windows / 400 examples, 12 held-out windows / 120 examples from 2026-01-01T00:45:00Z)"),
        "learned: click=0.25 cart=0.75 purchase=0",
        "candidate: NDCG@5=0.9123 precision@5=0.8000 over 12 windows",
        "champion trend-weights/1: NDCG@5=0.9000 precision@5=0.8500",
        "candidate beats champion",
    ]
    assert result.metrics()["ndcg_at_k_gain"] == pytest.approx(0.01234)


def test_the_model_description_reads_right_as_markdown():
    """The MLflow UI renders descriptions as Markdown: the formula must stay a formula."""
    from markdown_it import MarkdownIt

    assert MODEL_DESCRIPTION == (
        "Event-type weights of the trend score, over each window: "
        "`score = click * clicks + cart * carts + purchase * purchases`. "
        "Alias `champion` is what the running job uses. Weights live in each version's "
        "tags, in its run's params and in the artifact `weights/weights.json`. "
        "Manage with `trend weights ...`.")
    html = MarkdownIt("commonmark").render(MODEL_DESCRIPTION)
    assert html == (
        "<p>Event-type weights of the trend score, over each window: "
        "<code>score = click * clicks + cart * carts + purchase * purchases</code>. "
        "Alias <code>champion</code> is what the running job uses. Weights live in each "
        "version's tags, in its run's params and in the artifact "
        "<code>weights/weights.json</code>. Manage with <code>trend weights ...</code>.</p>\n")
