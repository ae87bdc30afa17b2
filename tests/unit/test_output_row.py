"""The output row has one definition (:mod:`trend_tracker.output_row`): every place that
lists its fields must list the same ones, in the same order."""

from __future__ import annotations

import dataclasses

from trend_tracker import output_row as output

#: The row as the project documents it (docs/ARCHITECTURE.md, "The output row").
DOCUMENTED = ("window_start", "window_end", "ranking", "category", "rank", "product_id",
              "score", "clicks", "carts", "purchases", "previous_rank", "momentum",
              "weights_version")


def test_the_definition_lists_the_documented_row():
    assert output.OUTPUT_COLUMNS == DOCUMENTED
    assert output.ITEM_FIELDS == ("rank", "product_id", "score", "clicks", "carts",
                                  "purchases", "previous_rank", "momentum")
    assert output.RANKING_HEAD_FIELDS == ("window_start", "window_end", "ranking", "category",
                                          "weights_version")
    assert output.HISTORY_FIELDS == ("window_start", "window_end", "rank", "score", "clicks",
                                     "carts", "purchases", "weights_version")


def test_parquet_schema_is_the_definition():
    from udfs.parquet_sink import SCHEMA

    assert SCHEMA.names == list(DOCUMENTED)
    assert [str(SCHEMA.field(n).type) for n in ("window_start", "rank", "score", "clicks")] == [
        "timestamp[ms, tz=UTC]", "int32", "double", "int64"]
    assert [n for n in SCHEMA.names if SCHEMA.field(n).nullable] == ["category",
                                                                      "previous_rank"]


def test_redis_items_and_training_columns_are_the_definition():
    from registry.train import COUNT_COLUMNS, FEATURES
    from udfs.redis_sink import RankedItem

    assert tuple(f.name for f in dataclasses.fields(RankedItem)) == output.ITEM_FIELDS
    assert FEATURES == ("clicks", "carts", "purchases")
    assert COUNT_COLUMNS == ("window_start", "window_end", "product_id", "clicks", "carts",
                             "purchases")


def test_api_models_and_checks_name_the_fields_of_the_definition():
    from api import rankings
    from api.models import ProductWindow, RankedProduct, TrendingResponse

    assert tuple(RankedProduct.model_fields) == output.ITEM_FIELDS
    head = tuple(n for n in TrendingResponse.model_fields if n not in ("as_of", "items"))
    assert head == output.RANKING_HEAD_FIELDS
    assert tuple(ProductWindow.model_fields) == output.HISTORY_FIELDS
    assert tuple(rankings._ITEM_CHECKS) == output.ITEM_FIELDS
    assert tuple(rankings._HEAD_CHECKS) == output.RANKING_HEAD_FIELDS
    assert set(rankings._ENTRY_CHECKS) == set(output.HISTORY_FIELDS)


def test_the_job_sql_hands_one_array_per_ranked_field():
    from jobs.topology import WINDOW_SINK_QUERY as sink
    from trend_tracker.settings import Settings

    assert ", ".join(f"`{n}_list`" for n in output.RANKED_ARRAY_FIELDS) in sink
    assert output.sql_ranked_row_type() == (
        "ROW<`ranking` ARRAY<STRING>, `category` ARRAY<STRING>, `rank` ARRAY<INT>, "
        "`product_id` ARRAY<STRING>, `score` ARRAY<DOUBLE>, `clicks` ARRAY<BIGINT>, "
        "`carts` ARRAY<BIGINT>, `purchases` ARRAY<BIGINT>, `previous_rank` ARRAY<INT>, "
        "`momentum` ARRAY<DOUBLE>, `weights_version` STRING>")
    assert Settings  # the settings module imports cleanly beside the definition


def test_the_java_core_hands_the_ranked_row_of_the_definition():
    """The core's window results (``TrendTables.WINDOW_RESULTS``): the window's times, one
    array per ranked field, then the window values."""
    from trend_tracker.jars import ModuleClass

    declared = ModuleClass("dev.trendtracker.window.TrendTables").WINDOW_RESULTS.toString()
    arrays = [f"`{name}_list` ARRAY<{output.BY_NAME[name].sql}>"
              for name in output.RANKED_ARRAY_FIELDS]
    values = [f"`{name}` {output.BY_NAME[name].sql}"
              for name in output.names(output.Role.WINDOW_VALUE)]
    assert declared == ("ROW<`window_start` TIMESTAMP(3), `window_end` TIMESTAMP(3), "
                        + ", ".join(arrays + values) + ">")
