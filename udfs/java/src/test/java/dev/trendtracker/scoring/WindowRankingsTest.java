package dev.trendtracker.scoring;

import static dev.trendtracker.scoring.Rankings.columns;
import static dev.trendtracker.scoring.Rankings.counts;
import static dev.trendtracker.scoring.Rankings.product;
import static dev.trendtracker.scoring.Rankings.row;
import static dev.trendtracker.scoring.Rankings.rows;
import static dev.trendtracker.scoring.WindowRankingTest.V1;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/** Both rankings of a window, popular and rising, with momentum and previous ranks. */
class WindowRankingsTest {
    // Result columns.
    static final int RANKING = 0;
    static final int CATEGORY = 1;
    static final int RANK = 2;
    static final int PRODUCT_ID = 3;
    static final int SCORE = 4;
    static final int CLICKS = 5;
    static final int CARTS = 6;
    static final int PURCHASES = 7;
    static final int PREVIOUS_RANK = 8;
    static final int MOMENTUM = 9;

    static WindowRankings rankBoth(WindowCounts current, WindowCounts base, int topN,
                                   double minScore) {
        return WindowRankings.rank(current, base, V1, topN, 200, 2.0, minScore);
    }

    static List<List<Object>> of(List<List<Object>> rows, String ranking) {
        List<List<Object>> picked = new ArrayList<>();
        for (List<Object> row : rows) {
            if (ranking.equals(row.get(RANKING))) {
                picked.add(row);
            }
        }
        return picked;
    }

    @Test
    void risingRanksByMomentumWithThePriorAndTheLeastScore() {
        // click 1, cart 3, purchase 5; prior 2, least score 3.
        WindowCounts base = counts(product("p-flat", "toys", 6, 0, 0), // 6
                product("p-fall", "toys", 20, 0, 0), // 20
                product("p-up", "books", 1, 0, 0)); // 1
        WindowCounts current = counts(product("p-flat", "toys", 6, 0, 0), // 6: (6+2)/(6+2) = 1
                product("p-fall", "toys", 4, 0, 0), // 4: (4+2)/(20+2) = 6/22
                product("p-up", "books", 2, 1, 0), // 5: (5+2)/(1+2) = 7/3
                product("p-new", "books", 0, 0, 1), // 5 from nothing: 7/2
                product("p-one", "books", 2, 0, 0)); // 2 < 3: not rising
        Row result = rankBoth(current, base, 3, 3.0).result(null);
        assertEquals("v1", result.getField(10));
        List<List<Object>> rows = rows(result, 10);
        assertEquals(List.of(
                row(null, 1, "p-new", 3.5), row(null, 2, "p-up", 7.0 / 3),
                row(null, 3, "p-flat", 1.0),
                row("books", 1, "p-new", 3.5), row("books", 2, "p-up", 7.0 / 3),
                row("toys", 1, "p-flat", 1.0), row("toys", 2, "p-fall", 6.0 / 22)),
                columns(of(rows, "rising"), CATEGORY, RANK, PRODUCT_ID, MOMENTUM));
        // Popular: score descending, ties by product_id; every item carries its momentum.
        assertEquals(List.of(
                row(null, 1, "p-flat", 6.0, 1.0), row(null, 2, "p-new", 5.0, 3.5),
                row(null, 3, "p-up", 5.0, 7.0 / 3),
                row("books", 1, "p-new", 5.0, 3.5), row("books", 2, "p-up", 5.0, 7.0 / 3),
                row("books", 3, "p-one", 2.0, 4.0 / 2),
                row("toys", 1, "p-flat", 6.0, 1.0), row("toys", 2, "p-fall", 4.0, 6.0 / 22)),
                columns(of(rows, "popular"), CATEGORY, RANK, PRODUCT_ID, SCORE, MOMENTUM));
        // Without a previous window every previous_rank is null; counts ride along.
        for (List<Object> row : rows) {
            assertEquals(null, row.get(PREVIOUS_RANK));
        }
        assertEquals(List.of(row(6L, 0L, 0L), row(0L, 0L, 1L)),
                columns(rows.subList(0, 2), CLICKS, CARTS, PURCHASES));
    }

    @Test
    void withoutAPreviousNonOverlappingWindowMomentumIsGrowthFromNothing() {
        WindowCounts current = counts(product("p-1", "c", 8, 0, 0), product("p-2", "c", 3, 0, 0));
        List<List<Object>> overall = new ArrayList<>();
        for (List<Object> row : rows(rankBoth(current, null, 3, 3.0).result(null), 10)) {
            if (row.get(CATEGORY) == null) {
                overall.add(row);
            }
        }
        // (8 + 2) / 2 = 5, (3 + 2) / 2 = 2.5
        assertEquals(List.of(row("popular", "p-1", 5.0), row("popular", "p-2", 2.5),
                        row("rising", "p-1", 5.0), row("rising", "p-2", 2.5)),
                columns(overall, RANKING, PRODUCT_ID, MOMENTUM));
    }

    @Test
    void risingTiesBreakByProductIdAndTheLeastScoreIsInclusive() {
        // Equal momentum (3+2)/(0+2) = 2.5 for three products; top 2 by product_id.
        WindowCounts current = counts(product("p-c", "x", 3, 0, 0), product("p-a", "x", 3, 0, 0),
                product("p-b", "x", 0, 1, 0));
        assertEquals(List.of(row(null, "p-a", 2.5), row(null, "p-b", 2.5),
                        row("x", "p-a", 2.5), row("x", "p-b", 2.5)),
                columns(of(rows(rankBoth(current, null, 2, 3.0).result(null), 10), "rising"),
                        CATEGORY, PRODUCT_ID, MOMENTUM));
        assertEquals(List.of(),
                of(rows(rankBoth(current, null, 3, 3.5).result(null), 10), "rising"));
    }

    @Test
    void previousRankIsTheRankInTheSameRankingAndScopeOfThePreviousWindow() {
        WindowRankings before = rankBoth(counts(product("p-1", "a", 9, 0, 0),
                product("p-2", "b", 4, 0, 0), product("p-3", "a", 3, 0, 0)), null, 2, 3.0);
        WindowRankings now = rankBoth(counts(product("p-1", "a", 9, 0, 0),
                product("p-2", "b", 12, 0, 0), product("p-3", "a", 3, 0, 0)), null, 2, 3.0);
        // Before: popular overall p-1, p-2; a: p-1, p-3; b: p-2. Rising (growth from nothing,
        // (s+2)/2): overall p-1 (5.5), p-2 (3); a: p-1, p-3; b: p-2.
        assertEquals(List.of(
                row("popular", null, "p-2", 1, 2), row("popular", null, "p-1", 2, 1),
                row("popular", "a", "p-1", 1, 1), row("popular", "a", "p-3", 2, 2),
                row("popular", "b", "p-2", 1, 1),
                row("rising", null, "p-2", 1, 2), row("rising", null, "p-1", 2, 1),
                row("rising", "a", "p-1", 1, 1), row("rising", "a", "p-3", 2, 2),
                row("rising", "b", "p-2", 1, 1)),
                columns(rows(now.result(before), 10), RANKING, CATEGORY, PRODUCT_ID, RANK,
                        PREVIOUS_RANK));
        assertEquals(1, before.rankOf("popular", "b", "p-2"));
        assertEquals(null, before.rankOf("popular", "a", "p-2"));
    }

    @Test
    void anItemAbsentFromThePreviousTopNHasNoPreviousRank() {
        WindowRankings before = rankBoth(counts(product("p-1", "a", 9, 0, 0),
                product("p-2", "a", 8, 0, 0)), null, 1, 3.0);
        WindowRankings now = rankBoth(counts(product("p-2", "a", 10, 0, 0)), null, 1, 3.0);
        assertEquals(List.of(
                row("popular", null, "p-2", null), row("popular", "a", "p-2", null),
                row("rising", null, "p-2", null), row("rising", "a", "p-2", null)),
                columns(rows(now.result(before), 10), RANKING, CATEGORY, PRODUCT_ID,
                        PREVIOUS_RANK));
    }

    @Test
    void anEmptyWindowHasNoRowsAndItsWeightsVersion() {
        Row result = WindowRankings.empty("v7").result(null);
        assertEquals(List.of(), rows(result, 10));
        assertEquals("v7", result.getField(10));
        assertEquals(List.of(), rows(rankBoth(new WindowCounts(), null, 3, 0).result(null), 10));
        assertEquals(1.5, WindowRankings.momentum(4, 2, 2)); // (4 + 2) / (2 + 2)
    }
}
