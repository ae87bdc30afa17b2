package dev.trendtracker.window;

import java.util.Objects;

/**
 * One row of the job's output: one product's place in one ranking of one window (the output
 * row of {@code trend_tracker.output_row}). A Flink POJO.
 */
public final class RankedRow {
    public long windowStart;
    public long windowEnd;
    /** {@code popular} or {@code rising}. */
    public String ranking;
    /** Null for the overall ranking. */
    public String category;
    public int rank;
    public String productId;
    public double score;
    public long clicks;
    public long carts;
    public long purchases;
    /** The product's rank in the same ranking of the window one slide earlier, or null. */
    public Integer previousRank;
    public double momentum;
    public String weightsVersion;

    public RankedRow() {}

    public RankedRow(long windowStart, long windowEnd, String ranking, String category, int rank,
                     String productId, double score, long clicks, long carts, long purchases,
                     Integer previousRank, double momentum, String weightsVersion) {
        this.windowStart = windowStart;
        this.windowEnd = windowEnd;
        this.ranking = ranking;
        this.category = category;
        this.rank = rank;
        this.productId = productId;
        this.score = score;
        this.clicks = clicks;
        this.carts = carts;
        this.purchases = purchases;
        this.previousRank = previousRank;
        this.momentum = momentum;
        this.weightsVersion = weightsVersion;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof RankedRow)) {
            return false;
        }
        RankedRow that = (RankedRow) other;
        return windowStart == that.windowStart && windowEnd == that.windowEnd
                && rank == that.rank && score == that.score && clicks == that.clicks
                && carts == that.carts && purchases == that.purchases
                && momentum == that.momentum && Objects.equals(ranking, that.ranking)
                && Objects.equals(category, that.category)
                && Objects.equals(productId, that.productId)
                && Objects.equals(previousRank, that.previousRank)
                && Objects.equals(weightsVersion, that.weightsVersion);
    }

    @Override
    public int hashCode() {
        return Objects.hash(windowEnd, ranking, category, rank, productId);
    }

    @Override
    public String toString() {
        return "[" + windowStart + ", " + windowEnd + ") " + ranking + " "
                + (category == null ? "*" : category) + " #" + rank + " " + productId
                + " score " + score + " (" + clicks + "/" + carts + "/" + purchases
                + ") previous " + previousRank + " momentum " + momentum + " "
                + weightsVersion;
    }
}
