package dev.trendtracker.window;

import java.util.Objects;

/**
 * One product in one window, scored: what {@link ProductWindows} emits when a window fires
 * (or fires again), and what {@link LocalTopN} sends on to {@link WindowMerge}.
 *
 * <p>The same type also carries a change of a category's summed counts in a window
 * ({@link #total} set, {@link #productId} null): {@link LocalTopN} sends those so the merge
 * knows every category's window score, which decides the categories ranked.
 *
 * <p>Every entry carries the weights it was scored with (a window has one version), so the
 * merge scores category sums with the same weights. A Flink POJO.
 */
public final class ProductWindow {
    public long windowEnd;
    /** The product; null for a category total. */
    public String productId;
    /** The product's category in the window (see {@link ProductSlices}). */
    public String category;
    public long clicks;
    public long carts;
    public long purchases;
    public double score;
    /** {@code (recent / scale + prior) / (base + prior)} ({@link WindowSpec}). */
    public double momentum;
    /** Whether its recent growth is significant: z at least the least one ({@link WindowSpec}). */
    public boolean significantGrowth;
    public String weightsVersion;
    public double weightClick;
    public double weightCart;
    public double weightPurchase;
    /** Whether this is the change of a category's summed counts, not a product. */
    public boolean total;

    public ProductWindow() {}

    /**
     * A product's entry, scored with {@code weights}: {@code recent} holds its counts in the
     * rising ranking's recent span, {@code base} in the window just before that span.
     */
    public static ProductWindow scored(long windowEnd, String productId, String category,
                                       long clicks, long carts, long purchases,
                                       ProductSlices.ProductCounts recent,
                                       ProductSlices.ProductCounts base,
                                       WeightsRecord weights, WindowSpec spec) {
        ProductWindow entry = new ProductWindow();
        entry.windowEnd = windowEnd;
        entry.productId = productId;
        entry.category = category;
        entry.clicks = clicks;
        entry.carts = carts;
        entry.purchases = purchases;
        entry.weightsVersion = weights.version;
        entry.weightClick = weights.click;
        entry.weightCart = weights.cart;
        entry.weightPurchase = weights.purchase;
        entry.score = weights.score(clicks, carts, purchases);
        double recentScore = weights.score(recent.clicks, recent.carts, recent.purchases);
        double baseScore = weights.score(base.clicks, base.carts, base.purchases);
        double baseVariance = weights.click * weights.click * base.clicks
                + weights.cart * weights.cart * base.carts
                + weights.purchase * weights.purchase * base.purchases;
        double scale = spec.risingScale();
        entry.momentum = (recentScore / scale + spec.risingPrior)
                / (baseScore + spec.risingPrior);
        double z = (recentScore - scale * baseScore)
                / Math.sqrt(spec.risingDispersion * (scale + scale * scale) * baseVariance + 1);
        entry.significantGrowth = z >= spec.risingMinZ;
        return entry;
    }

    /** A change of {@code category}'s summed counts in the window of {@code scoredBy}. */
    public static ProductWindow categoryTotal(ProductWindow scoredBy, String category,
                                              long clicks, long carts, long purchases) {
        ProductWindow entry = new ProductWindow();
        entry.windowEnd = scoredBy.windowEnd;
        entry.category = category;
        entry.clicks = clicks;
        entry.carts = carts;
        entry.purchases = purchases;
        entry.weightsVersion = scoredBy.weightsVersion;
        entry.weightClick = scoredBy.weightClick;
        entry.weightCart = scoredBy.weightCart;
        entry.weightPurchase = scoredBy.weightPurchase;
        entry.total = true;
        return entry;
    }

    /** The score of counts with this entry's weights. */
    public double scoreOf(long clicks, long carts, long purchases) {
        return weightClick * clicks + weightCart * carts + weightPurchase * purchases;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof ProductWindow)) {
            return false;
        }
        ProductWindow that = (ProductWindow) other;
        return windowEnd == that.windowEnd && clicks == that.clicks && carts == that.carts
                && purchases == that.purchases && score == that.score
                && momentum == that.momentum && significantGrowth == that.significantGrowth
                && weightClick == that.weightClick
                && weightCart == that.weightCart && weightPurchase == that.weightPurchase
                && total == that.total && Objects.equals(productId, that.productId)
                && Objects.equals(category, that.category)
                && Objects.equals(weightsVersion, that.weightsVersion);
    }

    @Override
    public int hashCode() {
        return Objects.hash(windowEnd, productId, category, clicks, carts, purchases);
    }

    @Override
    public String toString() {
        return (total ? "total{" + category : "{" + productId + " " + category) + " @" + windowEnd
                + " " + clicks + "/" + carts + "/" + purchases + " score " + score
                + " momentum " + momentum + (significantGrowth ? "" : " not significant") + " "
                + weightsVersion + "}";
    }
}
