package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** A product's slices: window sums, the category rule, late parts and dropping slices. */
class ProductSlicesTest {
    static final long SIZE = 20_000;

    static List<Object> window(ProductSlices slices, long end) {
        ProductSlices.ProductCounts counts = slices.window(end, SIZE);
        return List.of(counts.clicks, counts.carts, counts.purchases,
                String.valueOf(counts.category));
    }

    @Test
    void aWindowAddsUpItsSlices() {
        ProductSlices slices = new ProductSlices();
        assertTrue(slices.add(10_000, 10_000, TrendEvent.CLICK, "toys", 1_000));
        assertFalse(slices.add(10_000, 10_000, TrendEvent.CLICK, "toys", 2_000));
        assertTrue(slices.add(20_000, 20_000, TrendEvent.CART, "toys", 15_000));
        assertTrue(slices.add(30_000, 30_000, TrendEvent.PURCHASE, "toys", 25_000));

        assertEquals(List.of(2L, 0L, 0L, "toys"), window(slices, 10_000));
        assertEquals(List.of(2L, 1L, 0L, "toys"), window(slices, 20_000));
        assertEquals(List.of(0L, 1L, 1L, "toys"), window(slices, 30_000));
        assertEquals(List.of(0L, 0L, 1L, "toys"), window(slices, 40_000));
        assertEquals(List.of(0L, 0L, 0L, "null"), window(slices, 50_000));
        assertTrue(slices.window(50_000, SIZE).isEmpty());
    }

    @Test
    void theCategoryIsTheLatestEventsByEventTimeAndTheGreatestOnATie() {
        ProductSlices slices = new ProductSlices();
        // Arrival order is not event-time order.
        slices.add(10_000, 10_000, TrendEvent.CLICK, "shoes", 5_000);
        slices.add(10_000, 10_000, TrendEvent.CLICK, "books", 3_000);
        assertEquals("shoes", slices.window(10_000, SIZE).category);
        slices.add(20_000, 20_000, TrendEvent.CLICK, "books", 12_000);
        slices.add(20_000, 20_000, TrendEvent.CLICK, "toys", 12_000);
        slices.add(20_000, 20_000, TrendEvent.CLICK, "art", 12_000);
        // The window [0, 20 s): the latest event is at 12 s, in three categories.
        assertEquals(List.of(5L, 0L, 0L, "toys"), window(slices, 20_000));
        // The window [10 s, 30 s) holds the second slice only.
        assertEquals("toys", slices.window(30_000, SIZE).category);
        // In the other order the result is the same.
        ProductSlices reversed = new ProductSlices();
        reversed.add(20_000, 20_000, TrendEvent.CLICK, "art", 12_000);
        reversed.add(20_000, 20_000, TrendEvent.CLICK, "toys", 12_000);
        reversed.add(20_000, 20_000, TrendEvent.CLICK, "books", 12_000);
        assertEquals("toys", reversed.window(20_000, SIZE).category);
    }

    @Test
    void anEventCountedOnlyInLaterWindowsIsSkippedByTheEarlierOnes() {
        ProductSlices slices = new ProductSlices();
        slices.add(10_000, 10_000, TrendEvent.CLICK, "toys", 1_000);
        // Came when the window ending at 10 s was final: counts from the one ending at 20 s.
        assertFalse(slices.add(10_000, 20_000, TrendEvent.CART, "books", 9_000));
        assertEquals(List.of(1L, 0L, 0L, "toys"), window(slices, 10_000));
        assertEquals(List.of(1L, 1L, 0L, "books"), window(slices, 20_000));
        assertEquals(2, slices.sliceEnds.length);
    }

    @Test
    void droppedSlicesLeaveNothingBehind() {
        ProductSlices slices = new ProductSlices();
        slices.add(10_000, 10_000, TrendEvent.CLICK, "toys", 1_000);
        slices.add(10_000, 20_000, TrendEvent.CLICK, "toys", 2_000);
        slices.add(20_000, 20_000, TrendEvent.CLICK, "toys", 11_000);
        slices.dropThrough(9_999);
        assertEquals(3, slices.sliceEnds.length);
        slices.dropThrough(10_000);
        assertEquals(List.of(1L, 0L, 0L, "toys"), window(slices, 20_000));
        slices.dropThrough(20_000);
        assertTrue(slices.isEmpty());
        assertNull(slices.window(20_000, SIZE).category);
    }
}
