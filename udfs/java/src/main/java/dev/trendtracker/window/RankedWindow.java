package dev.trendtracker.window;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Every ranking of one window, one array per column of the output row, positions aligned:
 * what the window sink writes at once (a Parquet file and the Redis keys of the window).
 *
 * <p>Rows in order: popular overall, popular per ranked category (category ascending), rising
 * overall, rising per ranked category; ranks from 1 in each. {@link #revision} counts the
 * window's emissions: 1 when it first fires, more for each update (allowed lateness, or the
 * previous window's ranks changed), each whole and replacing the one before. A Flink POJO.
 */
public final class RankedWindow {
    public static final String POPULAR = "popular";
    public static final String RISING = "rising";

    public long windowStart;
    public long windowEnd;
    public String weightsVersion;
    public int revision;
    public String[] ranking = new String[0];
    public String[] category = new String[0];
    public int[] rank = new int[0];
    public String[] productId = new String[0];
    public double[] score = new double[0];
    public long[] clicks = new long[0];
    public long[] carts = new long[0];
    public long[] purchases = new long[0];
    /** Null until {@link PreviousRanks} sets it; its elements null when not ranked before. */
    public Integer[] previousRank;
    public double[] momentum = new double[0];

    public RankedWindow() {}

    /** A window's rows from (ranking, category, product) triples in row order. */
    static RankedWindow of(long windowStart, long windowEnd, String weightsVersion,
                           List<String> rankings, List<String> categories, List<Integer> ranks,
                           List<ProductWindow> products) {
        RankedWindow window = new RankedWindow();
        window.windowStart = windowStart;
        window.windowEnd = windowEnd;
        window.weightsVersion = weightsVersion;
        int size = products.size();
        window.ranking = rankings.toArray(new String[0]);
        window.category = categories.toArray(new String[0]);
        window.rank = new int[size];
        window.productId = new String[size];
        window.score = new double[size];
        window.clicks = new long[size];
        window.carts = new long[size];
        window.purchases = new long[size];
        window.momentum = new double[size];
        for (int i = 0; i < size; i++) {
            ProductWindow product = products.get(i);
            window.rank[i] = ranks.get(i);
            window.productId[i] = product.productId;
            window.score[i] = product.score;
            window.clicks[i] = product.clicks;
            window.carts[i] = product.carts;
            window.purchases[i] = product.purchases;
            window.momentum[i] = product.momentum;
        }
        return window;
    }

    public int size() {
        return productId.length;
    }

    /** A copy with {@code previousRanks} and {@code revision}. */
    public RankedWindow withPreviousRanks(Integer[] previousRanks, int revision) {
        RankedWindow copy = new RankedWindow();
        copy.windowStart = windowStart;
        copy.windowEnd = windowEnd;
        copy.weightsVersion = weightsVersion;
        copy.revision = revision;
        copy.ranking = ranking;
        copy.category = category;
        copy.rank = rank;
        copy.productId = productId;
        copy.score = score;
        copy.clicks = clicks;
        copy.carts = carts;
        copy.purchases = purchases;
        copy.previousRank = previousRanks;
        copy.momentum = momentum;
        return copy;
    }

    /** The window's rows, in order. */
    public List<RankedRow> rows() {
        List<RankedRow> rows = new ArrayList<>(size());
        for (int i = 0; i < size(); i++) {
            rows.add(new RankedRow(windowStart, windowEnd, ranking[i], category[i], rank[i],
                    productId[i], score[i], clicks[i], carts[i], purchases[i],
                    previousRank == null ? null : previousRank[i], momentum[i],
                    weightsVersion));
        }
        return rows;
    }

    /** Whether {@code other} holds the same rows (revision aside). */
    public boolean sameRows(RankedWindow other) {
        return other != null && windowStart == other.windowStart
                && windowEnd == other.windowEnd
                && java.util.Objects.equals(weightsVersion, other.weightsVersion)
                && Arrays.equals(ranking, other.ranking) && Arrays.equals(category, other.category)
                && Arrays.equals(rank, other.rank) && Arrays.equals(productId, other.productId)
                && Arrays.equals(score, other.score) && Arrays.equals(clicks, other.clicks)
                && Arrays.equals(carts, other.carts) && Arrays.equals(purchases, other.purchases)
                && Arrays.equals(previousRank, other.previousRank)
                && Arrays.equals(momentum, other.momentum);
    }

    @Override
    public String toString() {
        return "RankedWindow[" + windowStart + ", " + windowEnd + ") revision " + revision
                + " " + weightsVersion + " " + rows();
    }
}
