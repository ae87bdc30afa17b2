package dev.trendtracker.scoring;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.apache.flink.table.data.binary.BinaryStringData;

/**
 * The best {@code n} entries offered so far: score descending (or, for the rising ranking,
 * momentum descending), ties by product_id ascending.
 *
 * <p>Entries are appended and the list is cut back to the best {@code n} whenever it doubles,
 * so an offer costs amortised O(log n) and the list never holds more than {@code 2n}. After a
 * cut, an entry that is not better than the worst kept one is dropped at once.
 */
public final class TopN implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Best first: score descending, then product_id ascending. */
    public static final Comparator<Entry> RANK_ORDER = (a, b) -> {
        int byScore = Double.compare(b.score, a.score);
        return byScore != 0 ? byScore : a.productId.compareTo(b.productId);
    };

    /** Best first: momentum descending, then product_id ascending (the rising ranking). */
    public static final Comparator<Entry> MOMENTUM_ORDER = (a, b) -> {
        int byMomentum = Double.compare(b.momentum, a.momentum);
        return byMomentum != 0 ? byMomentum : a.productId.compareTo(b.productId);
    };

    public int n;
    /** Whether entries are ordered by momentum ({@link #MOMENTUM_ORDER}), not score. */
    public boolean byMomentum;
    public ArrayList<Entry> entries = new ArrayList<>();
    /** The worst entry kept by the last cut (null before the first cut). */
    public Entry worstKept;

    public TopN() {}

    public TopN(int n) {
        this.n = n;
    }

    /** The best {@code n} by momentum when {@code byMomentum}, else by score. */
    public TopN(int n, boolean byMomentum) {
        this.n = n;
        this.byMomentum = byMomentum;
    }

    private Comparator<Entry> order() {
        return byMomentum ? MOMENTUM_ORDER : RANK_ORDER;
    }

    public void offer(Entry entry) {
        if (worstKept != null && order().compare(entry, worstKept) >= 0) {
            return;
        }
        entries.add(entry);
        if (entries.size() >= 2 * n) {
            cut();
        }
    }

    private void cut() {
        entries.sort(order());
        while (entries.size() > n) {
            entries.remove(entries.size() - 1);
        }
        worstKept = entries.get(entries.size() - 1);
    }

    /** The kept entries, best first (at most n). */
    public List<Entry> ranked() {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(order());
        return sorted.size() > n ? sorted.subList(0, n) : sorted;
    }

    /** One (window, product, category) aggregate with its score. */
    public static final class Entry implements Serializable {
        private static final long serialVersionUID = 1L;

        /** Binary strings: compared as UTF-8 bytes (ids are ASCII, so as text). */
        public BinaryStringData productId;
        public BinaryStringData category;
        public long clicks;
        public long carts;
        public long purchases;
        public double score;
        /** Growth against the previous non-overlapping window ({@link WindowRankings}). */
        public double momentum;

        public Entry() {}

        public Entry(BinaryStringData productId, BinaryStringData category, long clicks,
                     long carts, long purchases, double score) {
            this.productId = productId;
            this.category = category;
            this.clicks = clicks;
            this.carts = carts;
            this.purchases = purchases;
            this.score = score;
        }
    }
}
