package dev.trendtracker.scoring;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.types.Row;

/**
 * One window's scoring and ranking: its pinned weights and the best entries of each ranking.
 *
 * <p>Plain logic, no Flink runtime: {@link RankWindow} builds one per window from the
 * window's counts. {@link #pin} fixes the window's weights once; every {@link #add}ed
 * aggregate is scored with them and offered to the overall ranking and to its category's.
 * {@link #result} gives every ranking as one row of arrays.
 *
 * <p>At most {@code maxCategories} categories are ranked, because producers name the
 * categories and every ranked category costs keys in Redis: those with the highest window
 * score, ties by category name ascending. A category's window score is the score of its
 * summed counts ({@code w_click*clicks + w_cart*carts + w_purchase*purchases} over all of its
 * products in the window, not only its top-N), so the choice does not depend on the order
 * in which aggregates arrive. The overall ranking always covers every product.
 */
public final class WindowRanking {
    /** Categories first by window score descending, then by name ascending. */
    private static final Comparator<CategoryRanking> CATEGORY_ORDER = (a, b) -> {
        int byScore = Double.compare(b.score, a.score);
        return byScore != 0 ? byScore : a.category.compareTo(b.category);
    };

    public int topN;
    public int maxCategories = Integer.MAX_VALUE;
    public String weightsVersion;
    public double click;
    public double cart;
    public double purchase;
    public TopN overall;
    public HashMap<BinaryStringData, CategoryRanking> byCategory = new HashMap<>();

    public WindowRanking() {}

    /** A window ranking with every category ranked. */
    public WindowRanking(int topN) {
        this.topN = topN;
    }

    /** A window ranking with at most {@code maxCategories} categories ranked. */
    public WindowRanking(int topN, int maxCategories) {
        if (maxCategories < 1) {
            throw new IllegalArgumentException("maxCategories must be positive");
        }
        this.topN = topN;
        this.maxCategories = maxCategories;
    }

    public boolean isPinned() {
        return weightsVersion != null;
    }

    /** Fixes the window's weights; later calls are ignored. */
    public void pin(Weights weights) {
        if (isPinned()) {
            return;
        }
        weightsVersion = weights.version;
        click = weights.click;
        cart = weights.cart;
        purchase = weights.purchase;
        overall = new TopN(topN);
    }

    /** Scores one (product, category) aggregate of the window and ranks it. */
    public void add(BinaryStringData productId, BinaryStringData category, long clicks,
                    long carts, long purchases) {
        if (!isPinned()) {
            throw new IllegalStateException("pin the window's weights first");
        }
        TopN.Entry entry = new TopN.Entry(productId, category, clicks, carts, purchases,
                score(clicks, carts, purchases));
        overall.offer(entry);
        CategoryRanking ranking = byCategory.get(category);
        if (ranking == null) {
            ranking = new CategoryRanking(category, new TopN(topN));
            byCategory.put(category, ranking);
        }
        ranking.top.offer(entry);
        ranking.clicks += clicks;
        ranking.carts += carts;
        ranking.purchases += purchases;
    }

    double score(long clicks, long carts, long purchases) {
        return click * clicks + cart * carts + purchase * purchases;
    }

    /** {@link #add(BinaryStringData, BinaryStringData, long, long, long)} with Java strings. */
    public void add(String productId, String category, long clicks, long carts,
                    long purchases) {
        add((BinaryStringData) StringData.fromString(productId),
                (BinaryStringData) StringData.fromString(category), clicks, carts, purchases);
    }

    /**
     * Every ranking of the window as one row: an array per column ({@code category, rank,
     * product_id, score, clicks, carts, purchases}, positions aligned) and the
     * {@code weights_version}. The overall ranking (category NULL) comes first, then each
     * ranked category's (see the class comment) in category order; ranks start at 1.
     */
    public Row result() {
        List<String> categories = new ArrayList<>();
        List<Integer> ranks = new ArrayList<>();
        List<TopN.Entry> entries = new ArrayList<>();
        if (overall != null) {
            collect(null, overall, categories, ranks, entries);
            for (CategoryRanking ranking : rankedCategories()) {
                collect(ranking.category.toString(), ranking.top, categories, ranks, entries);
            }
        }
        ItemColumns items = new ItemColumns(entries);
        return Row.of(categories.toArray(new String[0]), ranks.toArray(new Integer[0]),
                items.productIds, items.scores, items.clicks, items.carts, items.purchases,
                weightsVersion);
    }

    /** The item fields of ranked entries as one array per field, positions aligned. */
    static final class ItemColumns {
        final String[] productIds;
        final Double[] scores;
        final Long[] clicks;
        final Long[] carts;
        final Long[] purchases;
        final Double[] momenta;

        ItemColumns(List<TopN.Entry> entries) {
            int size = entries.size();
            productIds = new String[size];
            scores = new Double[size];
            clicks = new Long[size];
            carts = new Long[size];
            purchases = new Long[size];
            momenta = new Double[size];
            for (int i = 0; i < size; i++) {
                TopN.Entry entry = entries.get(i);
                productIds[i] = entry.productId.toString();
                scores[i] = entry.score;
                clicks[i] = entry.clicks;
                carts[i] = entry.carts;
                purchases[i] = entry.purchases;
                momenta[i] = entry.momentum;
            }
        }
    }

    /** The categories to rank, at most {@code maxCategories}, in category order. */
    List<CategoryRanking> rankedCategories() {
        List<CategoryRanking> chosen = new ArrayList<>(byCategory.values());
        if (chosen.size() > maxCategories) {
            for (CategoryRanking ranking : chosen) {
                ranking.score = score(ranking.clicks, ranking.carts, ranking.purchases);
            }
            chosen.sort(CATEGORY_ORDER);
            chosen = new ArrayList<>(chosen.subList(0, maxCategories));
        }
        chosen.sort((a, b) -> a.category.compareTo(b.category));
        return chosen;
    }

    private static void collect(String category, TopN ranking, List<String> categories,
                                List<Integer> ranks, List<TopN.Entry> entries) {
        int rank = 0;
        for (TopN.Entry entry : ranking.ranked()) {
            categories.add(category);
            ranks.add(++rank);
            entries.add(entry);
        }
    }

    /** One category's ranking in the window, with its summed counts. */
    public static final class CategoryRanking {
        public final BinaryStringData category;
        public final TopN top;
        public long clicks;
        public long carts;
        public long purchases;
        /** The window score, computed when categories are chosen. */
        public double score;

        CategoryRanking(BinaryStringData category, TopN top) {
            this.category = category;
            this.top = top;
        }
    }
}
