package dev.trendtracker.window;

import java.io.Serializable;

/**
 * The shape of the job's windows and rankings, and the times that follow from it.
 *
 * <p>HOP windows {@code [end - size, end)}, one ending at every multiple of {@code slide}
 * (aligned to the epoch, as SQL's HOP), {@code size} a multiple of {@code slide}. A window is
 * made of {@code size / slide} slices, the slice {@code [sliceEnd - slide, sliceEnd)} being
 * the unit an event is counted in.
 *
 * <p>Times follow Flink's windows: a window fires when the watermark reaches
 * {@code end - 1}, its last millisecond ({@link #fireTime}); it takes updates while the
 * watermark is below {@code end - 1 + allowedLateness} and is final from then on
 * ({@link #isFinal}). With no allowed lateness a window is final as it fires.
 *
 * <p>Rankings: top {@code topN} by score (popular) and by momentum (rising), overall and in
 * at most {@code maxCategories} categories. Rising compares a product's newest
 * {@code risingRecentSlides} slides (its recent score: the window's counts less those of its
 * older part, each capped as a window is) with the window just before them (its base
 * score), at {@code scale = recent span / size}: momentum is
 * {@code (recent / scale + risingPrior) / (base + risingPrior)}, and only products whose
 * window score is at least {@code risingMinScore} and whose growth is significant,
 * {@code z = (recent - scale * base) / sqrt(risingDispersion * (scale + scale^2) * baseVariance
 * + 1) >= risingMinZ}, enter ({@link ProductWindow#scored}). The base variance is the Poisson
 * one of the weighted counts, {@code sum(weight^2 * count)}. With a whole window as the recent
 * span, momentum is the window's score against the previous window's.
 *
 * <p>Duplicates: an event whose {@code event_id} (with its product and event type) was counted
 * before, with a {@code ts} less than {@code dedupHorizon} away from that first copy's, is a
 * duplicate; {@code dedupHorizon} 0 counts every copy. The first copy's id is kept until no
 * copy within the horizon can be on time any more ({@link #dedupExpiry}), so whether a copy
 * is a duplicate never depends on when the id was dropped.
 *
 * <p>The per-user cap: a user's events of one type on one product count at most
 * {@code maxEventsPerUser} times in each window (0: no cap), so a window's count of a type is
 * the sum over users of {@code min(user's events of that type in the window, cap)}.
 */
public final class WindowSpec implements Serializable {
    private static final long serialVersionUID = 1L;

    public final long sizeMs;
    public final long slideMs;
    public final long allowedLatenessMs;
    public final int topN;
    public final int maxCategories;
    public final double risingPrior;
    public final double risingMinScore;
    /** The recent span's slides: at most a window's. */
    public final int risingRecentSlides;
    /** Least z to enter the rising ranking; negative infinity: no significance test. */
    public final double risingMinZ;
    public final double risingDispersion;
    public final long dedupHorizonMs;
    public final int maxEventsPerUser;

    /**
     * A spec that counts every copy of an event and every event of a user (no cap), and
     * ranks rising by the window against the previous one, with no significance test.
     */
    public WindowSpec(long sizeMs, long slideMs, long allowedLatenessMs, int topN,
                      int maxCategories, double risingPrior, double risingMinScore) {
        this(sizeMs, slideMs, allowedLatenessMs, topN, maxCategories, risingPrior,
                risingMinScore, 0, 0);
    }

    /** The same, with duplicates and the per-user cap. */
    public WindowSpec(long sizeMs, long slideMs, long allowedLatenessMs, int topN,
                      int maxCategories, double risingPrior, double risingMinScore,
                      long dedupHorizonMs, int maxEventsPerUser) {
        this(sizeMs, slideMs, allowedLatenessMs, topN, maxCategories, risingPrior,
                risingMinScore, slideMs > 0 ? (int) Math.min(sizeMs / slideMs, 1_000_000) : 1,
                Double.NEGATIVE_INFINITY, 1.0, dedupHorizonMs, maxEventsPerUser);
    }

    public WindowSpec(long sizeMs, long slideMs, long allowedLatenessMs, int topN,
                      int maxCategories, double risingPrior, double risingMinScore,
                      int risingRecentSlides, double risingMinZ, double risingDispersion,
                      long dedupHorizonMs, int maxEventsPerUser) {
        if (slideMs <= 0 || sizeMs <= 0 || sizeMs % slideMs != 0) {
            throw new IllegalArgumentException("window size must be a positive multiple of "
                    + "the slide");
        }
        if (allowedLatenessMs < 0) {
            throw new IllegalArgumentException("allowed lateness must not be negative");
        }
        if (topN < 1 || maxCategories < 1) {
            throw new IllegalArgumentException("topN and maxCategories must be positive");
        }
        if (!(risingPrior > 0) || !(risingMinScore >= 0) || Double.isInfinite(risingPrior)
                || Double.isInfinite(risingMinScore)) {
            throw new IllegalArgumentException("risingPrior must be positive and "
                    + "risingMinScore not negative, both finite");
        }
        if (risingRecentSlides < 1 || Double.isNaN(risingMinZ)
                || risingMinZ == Double.POSITIVE_INFINITY || !(risingDispersion >= 1)
                || Double.isInfinite(risingDispersion)) {
            throw new IllegalArgumentException("risingRecentSlides must be positive, "
                    + "risingMinZ a number below infinity, risingDispersion finite and at "
                    + "least 1");
        }
        if (dedupHorizonMs < 0) {
            throw new IllegalArgumentException("the dedup horizon must not be negative");
        }
        if (maxEventsPerUser < 0) {
            throw new IllegalArgumentException("maxEventsPerUser must not be negative");
        }
        this.sizeMs = sizeMs;
        this.slideMs = slideMs;
        this.allowedLatenessMs = allowedLatenessMs;
        this.topN = topN;
        this.maxCategories = maxCategories;
        this.risingPrior = risingPrior;
        this.risingMinScore = risingMinScore;
        this.risingRecentSlides = (int) Math.min(risingRecentSlides, sizeMs / slideMs);
        this.risingMinZ = risingMinZ;
        this.risingDispersion = risingDispersion;
        this.dedupHorizonMs = dedupHorizonMs;
        this.maxEventsPerUser = maxEventsPerUser;
    }

    /** The rising ranking's recent span: its newest slides. */
    public long risingSpanMs() {
        return risingRecentSlides * slideMs;
    }

    /** The recent span's share of a window. */
    public double risingScale() {
        return (double) risingSpanMs() / sizeMs;
    }

    /** The end of the slice that holds event time {@code ts}. */
    public long sliceEnd(long ts) {
        return Math.floorDiv(ts, slideMs) * slideMs + slideMs;
    }

    /** The end of the last window that holds the slice ending at {@code sliceEnd}. */
    public long lastWindowEnd(long sliceEnd) {
        return sliceEnd + sizeMs - slideMs;
    }

    /** Whether {@code end} is the end of a window. */
    public boolean isWindowEnd(long end) {
        return Math.floorMod(end, slideMs) == 0;
    }

    /** When the window ending at {@code end} fires: the watermark at its last millisecond. */
    public long fireTime(long end) {
        return end - 1;
    }

    /** From which watermark on the window ending at {@code end} takes no more updates. */
    public long finalTime(long end) {
        return end - 1 + allowedLatenessMs;
    }

    /** Whether the window ending at {@code end} is final at {@code watermark}. */
    public boolean isFinal(long end, long watermark) {
        return watermark != Long.MIN_VALUE && finalTime(end) <= watermark;
    }

    /**
     * The end of the first window holding the slice ending at {@code sliceEnd} that is not
     * final at {@code watermark} (greater than {@link #lastWindowEnd} when there is none).
     */
    public long firstOpenWindowEnd(long sliceEnd, long watermark) {
        if (watermark == Long.MIN_VALUE) {
            return sliceEnd;
        }
        // The least window end e with e - 1 + lateness > watermark.
        long least = watermark - allowedLatenessMs + 2;
        long open = Math.floorDiv(least + slideMs - 1, slideMs) * slideMs;
        return Math.max(sliceEnd, open);
    }

    /**
     * From which watermark on the slice ending at {@code sliceEnd} is needed by no window:
     * when the last window that holds it, or whose rising base holds it (a recent span
     * later), is final.
     */
    public long sliceExpiry(long sliceEnd) {
        return finalTime(lastWindowEnd(sliceEnd) + risingSpanMs());
    }

    /** Whether copies of an event are deduplicated. */
    public boolean dedups() {
        return dedupHorizonMs > 0;
    }

    /**
     * From which watermark on the id of an event first counted at {@code ts} is needed no
     * more: a copy within the horizon has a ts below {@code ts + dedupHorizon}, so it is
     * late once the last window of the slice holding {@code ts + dedupHorizon - 1} is final.
     */
    public long dedupExpiry(long ts) {
        return finalTime(lastWindowEnd(sliceEnd(ts + dedupHorizonMs - 1)));
    }

    /** Whether a user's events count at most {@link #maxEventsPerUser} times per window. */
    public boolean caps() {
        return maxEventsPerUser > 0;
    }

    /**
     * When the ids and per-user counts expiring at {@code expiry} are dropped: the next
     * multiple of the slide, so a product has at most one drop per slide. No window fires
     * there (a window fires at {@code end - 1}).
     */
    public long dropTime(long expiry) {
        return Math.floorDiv(expiry + slideMs - 1, slideMs) * slideMs;
    }
}
