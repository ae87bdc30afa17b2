package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/**
 * previous_rank: each row's rank in the same ranking of the window one slide earlier, set
 * when a window goes out, and again when an update of the earlier window changes it.
 * Windows of 20 s sliding by 10 s, allowed lateness 15 s.
 */
class PreviousRanksTest {
    static final WindowSpec SPEC = new WindowSpec(20_000, 10_000, 15_000, 3, 10, 2.0, 0.0);

    /** A ranked window from "ranking/category/product" rows (category "" overall). */
    static RankedWindow window(long end, double score, String... rows) {
        List<String> rankings = new ArrayList<>();
        List<String> categories = new ArrayList<>();
        List<Integer> ranks = new ArrayList<>();
        List<ProductWindow> products = new ArrayList<>();
        Map<String, Integer> ranked = new HashMap<>();
        for (String row : rows) {
            String[] parts = row.split("/");
            String scope = parts[0] + "/" + parts[1];
            ranked.merge(scope, 1, Integer::sum);
            rankings.add(parts[0]);
            categories.add(parts[1].isEmpty() ? null : parts[1]);
            ranks.add(ranked.get(scope));
            products.add(ProductWindowsTest.row(end, parts[2], "c", 1, 0, 0, score, 1.0,
                    ProductWindowsTest.V0));
        }
        return RankedWindow.of(end - 20_000, end, "v0", rankings, categories, ranks, products);
    }

    static final class Harness implements AutoCloseable {
        final KeyedTwoInputStreamOperatorTestHarness<Long, RankedWindow, RankedWindow,
                RankedWindow> h;

        Harness() throws Exception {
            h = new KeyedTwoInputStreamOperatorTestHarness<>(
                    new KeyedCoProcessOperator<>(new PreviousRanks(SPEC)),
                    (KeySelector<RankedWindow, Long>) w -> w.windowEnd,
                    (KeySelector<RankedWindow, Long>) w -> w.windowEnd + SPEC.slideMs,
                    Types.LONG, 128, 1, 0);
            h.open();
        }

        /** As the topology does: the window to both inputs. */
        void ranked(RankedWindow window) throws Exception {
            h.processElement1(window, window.windowEnd - 1);
            h.processElement2(window, window.windowEnd - 1);
        }

        List<RankedWindow> fire(long watermark) throws Exception {
            h.processBothWatermarks(new Watermark(watermark));
            List<RankedWindow> out = new ArrayList<>(h.extractOutputValues());
            h.getOutput().clear();
            return out;
        }

        @Override
        public void close() throws Exception {
            h.close();
        }
    }

    @Test
    void eachRowGetsItsRankInTheWindowBeforeAndUpdatesCarryThrough() throws Exception {
        try (Harness h = new Harness()) {
            h.ranked(window(10_000, 1, "popular//a", "popular//b", "popular/x/a", "rising//b"));
            h.ranked(window(20_000, 1, "popular//b", "popular//a", "popular//c", "popular/x/c",
                    "popular/x/a", "rising//a"));

            List<RankedWindow> first = h.fire(9_999);
            assertEquals(1, first.size());
            assertEquals(1, first.get(0).revision);
            assertArrayEquals(new Integer[4], first.get(0).previousRank);

            List<RankedWindow> second = h.fire(19_999);
            assertEquals(1, second.size());
            assertEquals(20_000, second.get(0).windowEnd);
            assertArrayEquals(new Integer[] {2, 1, null, null, 1, null},
                    second.get(0).previousRank);

            // An update of the first window swaps a and b: the second goes out again.
            h.ranked(window(10_000, 2, "popular//b", "popular//a", "popular/x/a", "rising//b"));
            List<RankedWindow> updated = h.fire(20_000);
            assertEquals(List.of(10_000L, 20_000L),
                    List.of(updated.get(0).windowEnd, updated.get(1).windowEnd));
            assertEquals(List.of(2, 2), List.of(updated.get(0).revision,
                    updated.get(1).revision));
            assertArrayEquals(new Integer[] {1, 2, null, null, 1, null},
                    updated.get(1).previousRank);

            // Another update that changes no rank: only the first window goes out.
            h.ranked(window(10_000, 3, "popular//b", "popular//a", "popular/x/a", "rising//b"));
            List<RankedWindow> again = h.fire(20_001);
            assertEquals(1, again.size());
            assertEquals(3, again.get(0).revision);
            assertEquals(3.0, again.get(0).score[0]);

            // The last key (30 s, holding the second window as its previous) is final at 45 s.
            assertEquals(List.of(), h.fire(45_000));
            assertEquals(0, h.h.numKeyedStateEntries());
            assertEquals(0, h.h.numEventTimeTimers());
        }
    }
}
