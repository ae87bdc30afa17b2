package dev.trendtracker.scoring;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.types.Row;

/**
 * Both rankings of one window, popular (by score) and rising (by momentum), each overall and
 * per category, with every item's momentum and its rank in the previous window.
 *
 * <p>Plain logic, no Flink runtime: {@link RankWindow} builds one per window from the window's
 * counts, the counts of the previous non-overlapping window (the one ending {@code size}
 * earlier) and the rankings of the previous window (ending one slide earlier).
 *
 * <p>Momentum: {@code (score + prior) / (baseScore + prior)}, where {@code baseScore} is the
 * product's score in the previous non-overlapping window with the same weights (0 when it had
 * no events there). 1 is flat, 2 twice as much, below 1 falling. The prior (in score units)
 * keeps a product that goes from nothing to one event from looking like infinite growth: it
 * needs a score well above the prior to stand out. Only products with a score of at least
 * {@code minScore} in the window enter the rising ranking; every item of both rankings carries
 * its momentum. The rising ranking is momentum descending, ties by product_id ascending, over
 * the same categories as the popular one ({@link WindowRanking}).
 */
public final class WindowRankings {
    public static final String POPULAR = "popular";
    public static final String RISING = "rising";

    public final String weightsVersion;
    /** The rows, popular first then rising; in each the overall ranking, then categories. */
    public final List<String> kinds = new ArrayList<>();
    public final List<String> categories = new ArrayList<>();
    public final List<Integer> ranks = new ArrayList<>();
    public final List<TopN.Entry> entries = new ArrayList<>();
    /** Rank by {@link #rankKey}: what the next window's {@code previous_rank} looks up. */
    private final HashMap<String, Integer> rankOf = new HashMap<>();

    private WindowRankings(String weightsVersion) {
        this.weightsVersion = weightsVersion;
    }

    /** No rankings (a window without events). */
    public static WindowRankings empty(String weightsVersion) {
        return new WindowRankings(weightsVersion);
    }

    /** The momentum of a product (see the class comment). */
    public static double momentum(double score, double baseScore, double prior) {
        return (score + prior) / (baseScore + prior);
    }

    /**
     * Ranks a window: {@code current} its counts, {@code base} those of the previous
     * non-overlapping window (null: none), both scored with {@code weights}.
     */
    public static WindowRankings rank(WindowCounts current, WindowCounts base, Weights weights,
                                      int topN, int maxCategories, double prior,
                                      double minScore) {
        WindowRanking popular = current.rank(weights, topN, maxCategories);
        List<WindowRanking.CategoryRanking> chosen = popular.overall == null
                ? new ArrayList<>() : popular.rankedCategories();
        TopN risingOverall = new TopN(topN, true);
        HashMap<BinaryStringData, TopN> risingByCategory = new HashMap<>();
        for (WindowRanking.CategoryRanking ranking : chosen) {
            risingByCategory.put(ranking.category, new TopN(topN, true));
        }
        for (Map.Entry<WindowCounts.ProductKey, long[]> count : current.counts.entrySet()) {
            long[] values = count.getValue();
            double score = popular.score(values[WindowCounts.CLICK], values[WindowCounts.CART],
                    values[WindowCounts.PURCHASE]);
            if (score < minScore) {
                continue;
            }
            WindowCounts.ProductKey key = count.getKey();
            TopN.Entry entry = new TopN.Entry(key.productId, key.category,
                    values[WindowCounts.CLICK], values[WindowCounts.CART],
                    values[WindowCounts.PURCHASE], score);
            entry.momentum = momentum(score, baseScore(popular, base, key), prior);
            risingOverall.offer(entry);
            TopN inCategory = key.category == null ? null : risingByCategory.get(key.category);
            if (inCategory != null) {
                inCategory.offer(entry);
            }
        }
        WindowRankings rankings = new WindowRankings(popular.weightsVersion);
        if (popular.overall == null) {
            return rankings;
        }
        rankings.collect(POPULAR, null, popular.overall.ranked(), popular, base, prior);
        for (WindowRanking.CategoryRanking ranking : chosen) {
            rankings.collect(POPULAR, ranking.category.toString(), ranking.top.ranked(), popular,
                    base, prior);
        }
        rankings.collect(RISING, null, risingOverall.ranked(), null, null, prior);
        for (WindowRanking.CategoryRanking ranking : chosen) {
            rankings.collect(RISING, ranking.category.toString(),
                    risingByCategory.get(ranking.category).ranked(), null, null, prior);
        }
        return rankings;
    }

    private static double baseScore(WindowRanking scoring, WindowCounts base,
                                    WindowCounts.ProductKey key) {
        long[] values = base == null ? null : base.counts.get(key);
        return values == null ? 0.0 : scoring.score(values[WindowCounts.CLICK],
                values[WindowCounts.CART], values[WindowCounts.PURCHASE]);
    }

    /**
     * Adds one ranking's rows. With {@code scoring}, the entries' momentum is computed here
     * (popular entries); without, it is already set (rising entries).
     */
    private void collect(String kind, String category, List<TopN.Entry> ranked,
                         WindowRanking scoring, WindowCounts base, double prior) {
        int rank = 0;
        for (TopN.Entry entry : ranked) {
            if (scoring != null) {
                entry.momentum = momentum(entry.score, baseScore(scoring, base,
                        new WindowCounts.ProductKey(entry.productId, entry.category)), prior);
            }
            rank++;
            kinds.add(kind);
            categories.add(category);
            ranks.add(rank);
            entries.add(entry);
            rankOf.put(rankKey(kind, category, entry.productId.toString()), rank);
        }
    }

    private static String rankKey(String kind, String category, String productId) {
        // Ids and categories never hold a NUL; the overall scope has none.
        return kind + '\0' + (category == null ? "" : "c" + category) + '\0' + productId;
    }

    /** The rank of a product in one ranking of this window, or null when not in its top-N. */
    public Integer rankOf(String kind, String category, String productId) {
        return rankOf.get(rankKey(kind, category, productId));
    }

    /**
     * Every row as one row of arrays, in the output row's order ({@code ranking, category,
     * rank, product_id, score, clicks, carts, purchases, previous_rank, momentum}) and the
     * {@code weights_version}; {@code previous_rank} from {@code previous}, the rankings of the
     * window one slide earlier (null: none, every previous_rank is null).
     */
    public Row result(WindowRankings previous) {
        WindowRanking.ItemColumns items = new WindowRanking.ItemColumns(entries);
        Integer[] previousRanks = new Integer[entries.size()];
        for (int i = 0; i < previousRanks.length; i++) {
            previousRanks[i] = previous == null ? null
                    : previous.rankOf(kinds.get(i), categories.get(i), items.productIds[i]);
        }
        return Row.of(kinds.toArray(new String[0]), categories.toArray(new String[0]),
                ranks.toArray(new Integer[0]), items.productIds, items.scores, items.clicks,
                items.carts, items.purchases, previousRanks, items.momenta, weightsVersion);
    }
}
