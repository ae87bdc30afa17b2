package dev.trendtracker.scoring;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;

/**
 * Event counts per (product, category) of one slice or window: the accumulator of
 * {@link RankWindow}.
 *
 * <p>Plain logic, no Flink runtime. Flink keeps one per window slice (an event is counted in
 * exactly one slice) and adds up the slices of a window when it fires, so an event costs one
 * map update and a window costs one pass over its slices, instead of a state access per
 * product and slice. {@link WindowCountsSerializer} stores it in Flink state.
 */
public final class WindowCounts {
    /** Event type codes, the positions of {@link #counts}' arrays. */
    public static final int CLICK = 0;
    public static final int CART = 1;
    public static final int PURCHASE = 2;
    public static final int EVENT_TYPES = 3;

    public final HashMap<ProductKey, long[]> counts;
    /** A key to look up with, without copying the caller's strings. */
    private final transient ProductKey probe = new ProductKey();

    public WindowCounts() {
        this(new HashMap<>());
    }

    WindowCounts(HashMap<ProductKey, long[]> counts) {
        this.counts = counts;
    }

    /**
     * Counts one event of type {@code eventType} (a code above). The strings are Flink's
     * binary strings, compared and hashed as UTF-8 bytes; they are copied only the first
     * time a (product, category) is seen.
     */
    public void add(StringData productId, StringData category, int eventType) {
        long[] values = counts.get(probe.set(productId, category));
        if (values == null) {
            values = new long[EVENT_TYPES];
            counts.put(new ProductKey(copy(productId), copy(category)), values);
        }
        values[eventType]++;
    }

    /** {@link #add(StringData, StringData, int)} with Java strings. */
    public void add(String productId, String category, int eventType) {
        add(StringData.fromString(productId), StringData.fromString(category), eventType);
    }

    private static BinaryStringData copy(StringData text) {
        return text == null ? null : ((BinaryStringData) text).copy();
    }

    /** Adds every count of {@code other} to these. */
    public void addAll(WindowCounts other) {
        for (Map.Entry<ProductKey, long[]> entry : other.counts.entrySet()) {
            long[] values = counts.get(entry.getKey());
            if (values == null) {
                counts.put(entry.getKey(), entry.getValue().clone());
            } else {
                long[] more = entry.getValue();
                for (int i = 0; i < EVENT_TYPES; i++) {
                    values[i] += more[i];
                }
            }
        }
    }

    /** Scores every product of the window with {@code weights} and ranks it. */
    public WindowRanking rank(Weights weights, int topN) {
        return rank(weights, topN, Integer.MAX_VALUE);
    }

    /**
     * Scores every product of the window with {@code weights} and ranks it, with at most
     * {@code maxCategories} categories ranked ({@link WindowRanking}).
     */
    public WindowRanking rank(Weights weights, int topN, int maxCategories) {
        WindowRanking ranking = new WindowRanking(topN, maxCategories);
        ranking.pin(weights);
        for (Map.Entry<ProductKey, long[]> entry : counts.entrySet()) {
            long[] values = entry.getValue();
            ranking.add(entry.getKey().productId, entry.getKey().category, values[CLICK],
                    values[CART], values[PURCHASE]);
        }
        return ranking;
    }

    public WindowCounts copy() {
        WindowCounts copy = new WindowCounts(new HashMap<>(counts.size() * 2));
        for (Map.Entry<ProductKey, long[]> entry : counts.entrySet()) {
            copy.counts.put(entry.getKey(), entry.getValue().clone());
        }
        return copy;
    }

    /** A (product_id, category) pair of binary strings, hashed and compared as bytes. */
    public static final class ProductKey {
        public BinaryStringData productId;
        public BinaryStringData category;
        private int hash;

        ProductKey() {}

        public ProductKey(BinaryStringData productId, BinaryStringData category) {
            set(productId, category);
        }

        ProductKey set(StringData productId, StringData category) {
            this.productId = (BinaryStringData) productId;
            this.category = (BinaryStringData) category;
            this.hash = 31 * productId.hashCode() + Objects.hashCode(category);
            return this;
        }

        @Override
        public boolean equals(Object other) {
            if (this == other) {
                return true;
            }
            if (!(other instanceof ProductKey)) {
                return false;
            }
            ProductKey that = (ProductKey) other;
            return hash == that.hash && productId.equals(that.productId)
                    && Objects.equals(category, that.category);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }
}
