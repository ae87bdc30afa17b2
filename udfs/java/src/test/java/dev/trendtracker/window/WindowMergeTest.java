package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/**
 * The merge of every subtask's candidates into a window's rankings: exact top-N, ties by
 * product_id, the least rising score, the categories ranked (at most 2, by window score, ties
 * by name), updates, and the window dropped once final. Top 2; weights (1, 3, 5).
 */
class WindowMergeTest {
    static final WindowSpec SPEC = new WindowSpec(20_000, 10_000, 5_000, 2, 2, 2.0, 3.0);
    static final WeightsRecord W = new WeightsRecord("v0", 1, 3, 5, 0);

    static KeyedOneInputStreamOperatorTestHarness<Long, ProductWindow, RankedWindow> harness()
            throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<>(
                new KeyedProcessOperator<>(new WindowMerge(SPEC)),
                (KeySelector<ProductWindow, Long>) entry -> entry.windowEnd, Types.LONG);
        h.open();
        return h;
    }

    static ProductWindow product(long end, String productId, String category, long clicks,
                                 long carts, long purchases, double momentum) {
        return ProductWindowsTest.row(end, productId, category, clicks, carts, purchases,
                W.score(clicks, carts, purchases), momentum, W);
    }

    static ProductWindow total(long end, String category, long clicks, long carts,
                               long purchases) {
        return ProductWindow.categoryTotal(product(end, "any", category, 0, 0, 0, 0), category,
                clicks, carts, purchases);
    }

    static RankedRow row(long end, String ranking, String category, int rank, String productId,
                         double score, long clicks, long carts, long purchases,
                         double momentum) {
        return new RankedRow(end - 20_000, end, ranking, category, rank, productId, score,
                clicks, carts, purchases, null, momentum, "v0");
    }

    static List<List<RankedRow>> fire(
            KeyedOneInputStreamOperatorTestHarness<Long, ProductWindow, RankedWindow> h,
            long watermark) throws Exception {
        h.processWatermark(watermark);
        List<List<RankedRow>> windows = new ArrayList<>();
        for (RankedWindow window : h.extractOutputValues()) {
            windows.add(window.rows());
        }
        h.getOutput().clear();
        return windows;
    }

    static final String P = RankedWindow.POPULAR;
    static final String R = RankedWindow.RISING;

    @Test
    void theWindowIsRankedFromTheCandidatesAndTheCategorySums() throws Exception {
        try (var h = harness()) {
            long end = 20_000;
            for (ProductWindow entry : List.of(
                    product(end, "b", "x", 4, 0, 0, 3.0),
                    product(end, "a", "x", 4, 0, 0, 2.0),
                    product(end, "c", "y", 0, 1, 0, 2.5),
                    product(end, "d", "z", 0, 0, 1, 1.0),
                    // Below the least rising score of 3.
                    product(end, "e", "y", 2, 0, 0, 4.0),
                    // Sums over every product, candidates or not: y 11, x 10, z 5.
                    total(end, "x", 10, 0, 0), total(end, "y", 8, 1, 0),
                    total(end, "z", 0, 0, 1))) {
                h.processElement(entry, 19_999);
            }
            assertEquals(List.of(), fire(h, 19_998));
            assertEquals(List.of(List.of(
                    row(end, P, null, 1, "d", 5, 0, 0, 1, 1.0),
                    row(end, P, null, 2, "a", 4, 4, 0, 0, 2.0),
                    row(end, P, "x", 1, "a", 4, 4, 0, 0, 2.0),
                    row(end, P, "x", 2, "b", 4, 4, 0, 0, 3.0),
                    row(end, P, "y", 1, "c", 3, 0, 1, 0, 2.5),
                    row(end, P, "y", 2, "e", 2, 2, 0, 0, 4.0),
                    row(end, R, null, 1, "b", 4, 4, 0, 0, 3.0),
                    row(end, R, null, 2, "c", 3, 0, 1, 0, 2.5),
                    row(end, R, "x", 1, "b", 4, 4, 0, 0, 3.0),
                    row(end, R, "x", 2, "a", 4, 4, 0, 0, 2.0),
                    row(end, R, "y", 1, "c", 3, 0, 1, 0, 2.5))), fire(h, 19_999));

            // An update: e grows; the window goes out again, whole, at the next watermark.
            h.processElement(product(end, "e", "y", 7, 0, 0, 4.0), 19_999);
            h.processElement(total(end, "y", 5, 0, 0), 19_999);
            assertEquals(List.of(List.of(
                    row(end, P, null, 1, "e", 7, 7, 0, 0, 4.0),
                    row(end, P, null, 2, "d", 5, 0, 0, 1, 1.0),
                    row(end, P, "x", 1, "a", 4, 4, 0, 0, 2.0),
                    row(end, P, "x", 2, "b", 4, 4, 0, 0, 3.0),
                    row(end, P, "y", 1, "e", 7, 7, 0, 0, 4.0),
                    row(end, P, "y", 2, "c", 3, 0, 1, 0, 2.5),
                    row(end, R, null, 1, "e", 7, 7, 0, 0, 4.0),
                    row(end, R, null, 2, "b", 4, 4, 0, 0, 3.0),
                    row(end, R, "x", 1, "b", 4, 4, 0, 0, 3.0),
                    row(end, R, "x", 2, "a", 4, 4, 0, 0, 2.0),
                    row(end, R, "y", 1, "e", 7, 7, 0, 0, 4.0),
                    row(end, R, "y", 2, "c", 3, 0, 1, 0, 2.5))), fire(h, 20_000));
            assertEquals(List.of(), fire(h, 24_998));
            assertEquals(List.of(), fire(h, 24_999));
            assertEquals(0, h.numKeyedStateEntries());
            assertEquals(0, h.numEventTimeTimers());
        }
    }

    @Test
    void categoriesTiedOnWindowScoreAreChosenByName() throws Exception {
        try (var h = harness()) {
            long end = 30_000;
            for (ProductWindow entry : List.of(
                    product(end, "p-1", "p", 0, 0, 2, 1.0),
                    product(end, "n-1", "n", 10, 0, 0, 1.0),
                    product(end, "m-1", "m", 0, 0, 1, 1.0),
                    product(end, "m-2", "m", 5, 0, 0, 1.0),
                    total(end, "p", 0, 0, 2), total(end, "n", 10, 0, 0),
                    total(end, "m", 5, 0, 1))) {
                h.processElement(entry, 29_999);
            }
            List<RankedRow> rows = fire(h, 29_999).get(0);
            List<String> scopes = new ArrayList<>();
            for (RankedRow row : rows) {
                scopes.add(row.ranking + "/" + row.category + "/" + row.productId);
            }
            // All three score 10: m and n are ranked, p only overall. m-1 and m-2 tie on 5.
            assertEquals(List.of("popular/null/n-1", "popular/null/p-1", "popular/m/m-1",
                    "popular/m/m-2", "popular/n/n-1", "rising/null/m-1", "rising/null/m-2",
                    "rising/m/m-1", "rising/m/m-2", "rising/n/n-1"), scopes);
        }
    }
}
