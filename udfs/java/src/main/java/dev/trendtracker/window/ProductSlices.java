package dev.trendtracker.window;

import java.util.Arrays;

/**
 * One product's event counts per slice: the keyed state of {@link ProductWindows}.
 *
 * <p>Plain logic, no Flink runtime. Each slice holds a counter array (clicks, carts,
 * purchases) and the product's category in it, so a window's counts are the sum of its
 * slices'. A slice is split into parts by the first window an event counts in
 * ({@code minEnd}): an event that came while some of its windows were already final counts
 * only in the later ones, so it goes to a part that the earlier windows skip. Nearly every
 * slice has a single part (every event on time).
 *
 * <p>The product's category in a window is that of its latest event counted there, by event
 * time; events at the same millisecond with different categories give the greatest category
 * (in code point order). So it does not depend on the order events arrive in.
 *
 * <p>A Flink POJO: parts as parallel arrays, ordered by slice end, then minEnd.
 */
public final class ProductSlices {
    public long[] sliceEnds = new long[0];
    public long[] minEnds = new long[0];
    public long[] clicks = new long[0];
    public long[] carts = new long[0];
    public long[] purchases = new long[0];
    /** The category of the part's latest event (ties: the greatest), and that event's time. */
    public String[] categories = new String[0];
    public long[] categoryTimes = new long[0];

    public ProductSlices() {}

    /**
     * Counts one event of {@code eventType} (0 click, 1 cart, 2 purchase) at {@code ts} with
     * {@code category} in the slice ending at {@code sliceEnd}, in windows ending at
     * {@code minEnd} or later. Returns whether the slice is new.
     */
    public boolean add(long sliceEnd, long minEnd, int eventType, String category, long ts) {
        boolean newSlice = true;
        for (long end : sliceEnds) {
            newSlice &= end != sliceEnd;
        }
        int at = 0;
        while (at < sliceEnds.length && (sliceEnds[at] < sliceEnd
                || (sliceEnds[at] == sliceEnd && minEnds[at] < minEnd))) {
            at++;
        }
        if (at == sliceEnds.length || sliceEnds[at] != sliceEnd || minEnds[at] != minEnd) {
            insert(at, sliceEnd, minEnd, category, ts);
        }
        switch (eventType) {
            case 0 -> clicks[at]++;
            case 1 -> carts[at]++;
            case 2 -> purchases[at]++;
            default -> throw new IllegalArgumentException("unknown event type " + eventType);
        }
        if (later(ts, category, categoryTimes[at], categories[at])) {
            categories[at] = category;
            categoryTimes[at] = ts;
        }
        return newSlice;
    }

    private static boolean later(long ts, String category, long thanTs, String thanCategory) {
        return ts > thanTs || (ts == thanTs && TextOrder.compare(category, thanCategory) > 0);
    }

    private void insert(int at, long sliceEnd, long minEnd, String category, long ts) {
        sliceEnds = insert(sliceEnds, at, sliceEnd);
        minEnds = insert(minEnds, at, minEnd);
        clicks = insert(clicks, at, 0);
        carts = insert(carts, at, 0);
        purchases = insert(purchases, at, 0);
        categoryTimes = insert(categoryTimes, at, ts);
        String[] grown = new String[categories.length + 1];
        System.arraycopy(categories, 0, grown, 0, at);
        grown[at] = category;
        System.arraycopy(categories, at, grown, at + 1, categories.length - at);
        categories = grown;
    }

    private static long[] insert(long[] values, int at, long value) {
        long[] grown = new long[values.length + 1];
        System.arraycopy(values, 0, grown, 0, at);
        grown[at] = value;
        System.arraycopy(values, at, grown, at + 1, values.length - at);
        return grown;
    }

    /**
     * The product's counts and category in the window ending at {@code end}, {@code sizeMs}
     * long: every part of its slices that counts in it.
     */
    public ProductCounts window(long end, long sizeMs) {
        return counts(end - sizeMs, end, end);
    }

    /**
     * The product's counts and category in the slices ending in {@code (from, to]}, as they
     * count in the window ending at {@code windowEnd}: a part that came while that window
     * was final is left out.
     */
    public ProductCounts counts(long from, long to, long windowEnd) {
        ProductCounts counts = new ProductCounts();
        for (int i = 0; i < sliceEnds.length; i++) {
            if (sliceEnds[i] > from && sliceEnds[i] <= to && minEnds[i] <= windowEnd) {
                counts.clicks += clicks[i];
                counts.carts += carts[i];
                counts.purchases += purchases[i];
                if (counts.category == null
                        || later(categoryTimes[i], categories[i], counts.categoryTime,
                                 counts.category)) {
                    counts.category = categories[i];
                    counts.categoryTime = categoryTimes[i];
                }
            }
        }
        return counts;
    }

    /** Drops the slices ending at or before {@code sliceEnd}. */
    public void dropThrough(long sliceEnd) {
        int keep = 0;
        while (keep < sliceEnds.length && sliceEnds[keep] <= sliceEnd) {
            keep++;
        }
        if (keep == 0) {
            return;
        }
        sliceEnds = Arrays.copyOfRange(sliceEnds, keep, sliceEnds.length);
        minEnds = Arrays.copyOfRange(minEnds, keep, minEnds.length);
        clicks = Arrays.copyOfRange(clicks, keep, clicks.length);
        carts = Arrays.copyOfRange(carts, keep, carts.length);
        purchases = Arrays.copyOfRange(purchases, keep, purchases.length);
        categories = Arrays.copyOfRange(categories, keep, categories.length);
        categoryTimes = Arrays.copyOfRange(categoryTimes, keep, categoryTimes.length);
    }

    public boolean isEmpty() {
        return sliceEnds.length == 0;
    }

    /** A product's counts in one window, and its category there (null: no events). */
    public static final class ProductCounts {
        public long clicks;
        public long carts;
        public long purchases;
        public String category;
        long categoryTime;

        public boolean isEmpty() {
            return clicks == 0 && carts == 0 && purchases == 0;
        }

        /** These counts less {@code part}'s, in this category. */
        public ProductCounts minus(ProductCounts part) {
            ProductCounts rest = new ProductCounts();
            rest.clicks = clicks - part.clicks;
            rest.carts = carts - part.carts;
            rest.purchases = purchases - part.purchases;
            rest.category = category;
            rest.categoryTime = categoryTime;
            return rest;
        }
    }
}
