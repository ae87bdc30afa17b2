package dev.trendtracker.scoring;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.types.Row;

/**
 * One window's scoring and ranking: its pinned weights and the best entries of each ranking.
 *
 * <p>Plain logic, no Flink runtime: {@link RankWindow} keeps one of these per window as its
 * accumulator (Flink state). {@link #pin} fixes the window's weights once; every
 * {@link #add}ed aggregate is scored with them and offered to the overall ranking and to
 * its category's. {@link #result} gives every ranking as one row of arrays.
 */
public final class WindowRanking {
    public int topN;
    public String weightsVersion;
    public double click;
    public double cart;
    public double purchase;
    public TopN overall;
    public HashMap<BinaryStringData, TopN> byCategory = new HashMap<>();

    public WindowRanking() {}

    public WindowRanking(int topN) {
        this.topN = topN;
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
        double score = click * clicks + cart * carts + purchase * purchases;
        TopN.Entry entry = new TopN.Entry(productId, category, clicks, carts, purchases, score);
        overall.offer(entry);
        TopN ranking = byCategory.get(category);
        if (ranking == null) {
            ranking = new TopN(topN);
            byCategory.put(category, ranking);
        }
        ranking.offer(entry);
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
     * category's in category order; ranks start at 1.
     */
    public Row result() {
        List<String> categories = new ArrayList<>();
        List<Integer> ranks = new ArrayList<>();
        List<TopN.Entry> entries = new ArrayList<>();
        if (overall != null) {
            collect(null, overall, categories, ranks, entries);
            for (Map.Entry<BinaryStringData, TopN> ranking
                    : new TreeMap<>(byCategory).entrySet()) {
                collect(ranking.getKey().toString(), ranking.getValue(), categories, ranks,
                        entries);
            }
        }
        int size = entries.size();
        String[] productIds = new String[size];
        Double[] scores = new Double[size];
        Long[] clicks = new Long[size];
        Long[] carts = new Long[size];
        Long[] purchases = new Long[size];
        for (int i = 0; i < size; i++) {
            TopN.Entry entry = entries.get(i);
            productIds[i] = entry.productId.toString();
            scores[i] = entry.score;
            clicks[i] = entry.clicks;
            carts[i] = entry.carts;
            purchases[i] = entry.purchases;
        }
        return Row.of(categories.toArray(new String[0]), ranks.toArray(new Integer[0]),
                productIds, scores, clicks, carts, purchases, weightsVersion);
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
}
