package dev.trendtracker.window;

import java.util.Arrays;

/**
 * One user's events of one type on one product, per slice: what the per-user cap of
 * {@link ProductWindows} needs. Plain logic over a {@code long[]} of (slice end, minEnd,
 * count) triples ordered by slice end, then minEnd: the parts of {@link ProductSlices}, so
 * an event that came while some of its windows were final counts only in the later ones.
 */
final class UserCounts {
    private static final int WIDTH = 3;

    private UserCounts() {}

    /** {@code parts} with one more event in the slice ending at {@code sliceEnd}. */
    static long[] add(long[] parts, long sliceEnd, long minEnd) {
        int at = 0;
        while (at < parts.length && (parts[at] < sliceEnd
                || (parts[at] == sliceEnd && parts[at + 1] < minEnd))) {
            at += WIDTH;
        }
        if (at < parts.length && parts[at] == sliceEnd && parts[at + 1] == minEnd) {
            long[] counted = parts.clone();
            counted[at + 2]++;
            return counted;
        }
        long[] grown = new long[parts.length + WIDTH];
        System.arraycopy(parts, 0, grown, 0, at);
        grown[at] = sliceEnd;
        grown[at + 1] = minEnd;
        grown[at + 2] = 1;
        System.arraycopy(parts, at, grown, at + WIDTH, parts.length - at);
        return grown;
    }

    /** Whether {@code parts} holds a slice ending at {@code sliceEnd}. */
    static boolean hasSlice(long[] parts, long sliceEnd) {
        for (int i = 0; i < parts.length; i += WIDTH) {
            if (parts[i] == sliceEnd) {
                return true;
            }
        }
        return false;
    }

    /**
     * The events of the slices ending in {@code (from, to]} that count in the window ending at
     * {@code windowEnd} (see {@link ProductSlices#counts}).
     */
    static long inSpan(long[] parts, long from, long to, long windowEnd) {
        long count = 0;
        for (int i = 0; i < parts.length; i += WIDTH) {
            if (parts[i] > from && parts[i] <= to && parts[i + 1] <= windowEnd) {
                count += parts[i + 2];
            }
        }
        return count;
    }

    /** Every event in {@code parts}. */
    static long total(long[] parts) {
        long count = 0;
        for (int i = 2; i < parts.length; i += WIDTH) {
            count += parts[i];
        }
        return count;
    }

    /** {@code parts} without the slices ending at or before {@code sliceEnd}. */
    static long[] dropThrough(long[] parts, long sliceEnd) {
        int keep = 0;
        while (keep < parts.length && parts[keep] <= sliceEnd) {
            keep += WIDTH;
        }
        return keep == 0 ? parts : Arrays.copyOfRange(parts, keep, parts.length);
    }
}
