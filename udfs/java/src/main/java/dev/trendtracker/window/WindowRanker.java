package dev.trendtracker.window;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Ranks one window from the candidates of every subtask: both rankings, overall and in the
 * ranked categories.
 *
 * <p>Plain logic, no Flink runtime ({@link WindowMerge} keeps the candidates in its state).
 * At most {@code maxCategories} categories are ranked, because producers name the categories
 * and every ranked category costs keys in Redis: those with the highest window score, ties by
 * category ascending. A category's window score is the score of its summed counts over every
 * product in it in the window (not only the candidates), so the choice does not depend on how
 * products are spread over subtasks. The overall rankings always cover every product.
 */
public final class WindowRanker {
    private WindowRanker() {}

    /**
     * The window ending at {@code windowEnd} ranked: {@code products} every candidate (each
     * product once, scored), {@code categoryTotals} each category's summed counts (category ->
     * clicks, carts, purchases). Null when there is no product.
     */
    public static RankedWindow rank(long windowEnd, WindowSpec spec,
                                    Collection<ProductWindow> products,
                                    Map<String, long[]> categoryTotals) {
        if (products.isEmpty()) {
            return null;
        }
        // Every product of a window is scored with the window's weights: take one's.
        ProductWindow weights = products.stream()
                .min((a, b) -> TextOrder.compare(a.productId, b.productId)).orElseThrow();
        List<String> categories = rankedCategories(categoryTotals, weights, spec.maxCategories);
        TopLists popular = TopLists.popular(products, spec.topN);
        TopLists rising = TopLists.rising(products, spec);
        Rows rows = new Rows();
        rows.add(RankedWindow.POPULAR, null, popular.overall);
        for (String category : categories) {
            rows.add(RankedWindow.POPULAR, category, popular.byCategory.get(category));
        }
        rows.add(RankedWindow.RISING, null, rising.overall);
        for (String category : categories) {
            rows.add(RankedWindow.RISING, category, rising.byCategory.get(category));
        }
        return RankedWindow.of(windowEnd - spec.sizeMs, windowEnd, weights.weightsVersion,
                rows.rankings, rows.categories, rows.ranks, rows.products);
    }

    /** The categories to rank, at most {@code maxCategories}, in category order. */
    static List<String> rankedCategories(Map<String, long[]> totals, ProductWindow weights,
                                         int maxCategories) {
        List<Map.Entry<String, Double>> scored = new ArrayList<>();
        for (Map.Entry<String, long[]> total : totals.entrySet()) {
            long[] counts = total.getValue();
            scored.add(Map.entry(total.getKey(),
                    weights.scoreOf(counts[0], counts[1], counts[2])));
        }
        if (scored.size() > maxCategories) {
            scored.sort(Comparator.<Map.Entry<String, Double>>comparingDouble(Map.Entry::getValue)
                    .reversed().thenComparing(Map.Entry::getKey, TextOrder::compare));
            scored = scored.subList(0, maxCategories);
        }
        List<String> categories = new ArrayList<>();
        for (Map.Entry<String, Double> entry : scored) {
            categories.add(entry.getKey());
        }
        categories.sort(TextOrder::compare);
        return categories;
    }

    private static final class Rows {
        final List<String> rankings = new ArrayList<>();
        final List<String> categories = new ArrayList<>();
        final List<Integer> ranks = new ArrayList<>();
        final List<ProductWindow> products = new ArrayList<>();

        void add(String ranking, String category, List<ProductWindow> ranked) {
            if (ranked == null) {
                return;
            }
            int rank = 0;
            for (ProductWindow product : ranked) {
                rankings.add(ranking);
                categories.add(category);
                ranks.add(++rank);
                products.add(product);
            }
        }
    }
}
