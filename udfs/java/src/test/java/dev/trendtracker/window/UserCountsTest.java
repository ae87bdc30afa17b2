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
        // Windows of 20 s.
        assertEquals(2, UserCounts.inSpan(parts, -10_000, 10_000, 10_000));
        assertEquals(4, UserCounts.inSpan(parts, 0, 20_000, 20_000));
        assertEquals(1, UserCounts.inSpan(parts, 10_000, 30_000, 30_000));
        // The older slice of the window ending at 20 s, as that window counts it: the late
        // event too; as the window ending at 10 s counted it: not.
        assertEquals(3, UserCounts.inSpan(parts, 0, 10_000, 20_000));
        assertEquals(2, UserCounts.inSpan(parts, 0, 10_000, 10_000));
        assertEquals(4, UserCounts.total(parts));
        assertArrayEquals(new long[] {20_000, 20_000, 1}, UserCounts.dropThrough(parts, 10_000));
        assertArrayEquals(parts, UserCounts.dropThrough(parts, 9_999));
    }
}
