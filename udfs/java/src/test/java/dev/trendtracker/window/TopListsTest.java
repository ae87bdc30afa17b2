package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

/** The rising lists hold only products with a significant growth and the least score. */
class TopListsTest {
    static final WeightsRecord W = new WeightsRecord("v0", 1, 3, 5, 0);
    static final WindowSpec SPEC =
            new WindowSpec(40_000, 10_000, 0, 2, 10, 2.0, 3.0, 2, 4.0, 1.7, 0, 0);

    static ProductWindow product(String productId, long clicks, double momentum,
                                 boolean significant) {
        ProductWindow row = ProductWindowsTest.row(40_000, productId, "toys", clicks, 0, 0,
                clicks, momentum, W);
        row.significantGrowth = significant;
        return row;
    }

    @Test
    void risingTakesSignificantGrowthWithTheLeastScoreByMomentumThenProductId() {
        ProductWindow a = product("a", 5, 2.0, true);
        ProductWindow b = product("b", 9, 8.0, false);
        ProductWindow c = product("c", 2, 9.0, true);
        ProductWindow d = product("d", 4, 2.0, true);
        ProductWindow e = product("e", 7, 1.5, true);
        TopLists rising = TopLists.rising(List.of(a, b, c, d, e), SPEC);
        // b: not significant; c: score 2 below 3; a and d tie on momentum: by product_id.
        assertEquals(List.of(a, d), rising.overall);
        assertEquals(List.of(a, d), rising.byCategory.get("toys"));
        assertEquals(List.of(b, e), TopLists.popular(List.of(a, b, c, d, e), 2).overall);
    }
}
