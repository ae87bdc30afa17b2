package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** A user's events per slice: parts in order, window sums that skip parts not counted. */
class UserCountsTest {
    @Test
    void partsAreKeptInOrderAndCountedPerWindow() {
        long[] parts = new long[0];
        parts = UserCounts.add(parts, 20_000, 20_000);
        parts = UserCounts.add(parts, 10_000, 10_000);
        parts = UserCounts.add(parts, 10_000, 10_000);
        // Came when [-10 s, 10 s) was final: counts from the window ending at 20 s on.
        parts = UserCounts.add(parts, 10_000, 20_000);
        assertArrayEquals(new long[] {10_000, 10_000, 2, 10_000, 20_000, 1, 20_000, 20_000, 1},
                parts);
        assertTrue(UserCounts.hasSlice(parts, 20_000));
        assertFalse(UserCounts.hasSlice(parts, 30_000));
        assertEquals(2, UserCounts.inWindow(parts, 10_000, 20_000));
        assertEquals(4, UserCounts.inWindow(parts, 20_000, 20_000));
        assertEquals(1, UserCounts.inWindow(parts, 30_000, 20_000));
        assertEquals(4, UserCounts.total(parts));
        assertArrayEquals(new long[] {20_000, 20_000, 1}, UserCounts.dropThrough(parts, 10_000));
        assertArrayEquals(parts, UserCounts.dropThrough(parts, 9_999));
    }
}
