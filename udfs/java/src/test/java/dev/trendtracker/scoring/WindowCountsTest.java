package dev.trendtracker.scoring;

import static dev.trendtracker.scoring.Rankings.row;
import static dev.trendtracker.scoring.Rankings.rows;
import static dev.trendtracker.scoring.WindowRankingTest.V1;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.junit.jupiter.api.Test;

/** Event counts per (product, category) of a slice or window. */
class WindowCountsTest {
    static final int CLICK = WindowCounts.CLICK;
    static final int CART = WindowCounts.CART;
    static final int PURCHASE = WindowCounts.PURCHASE;

    static List<List<Object>> ranked(WindowCounts counts, int topN, int maxCategories) {
        return rows(counts.rank(V1, topN, maxCategories).result(), 7);
    }

    static long[] countsOf(WindowCounts counts, String productId, String category) {
        return counts.counts.get(new WindowCounts.ProductKey(
                (BinaryStringData) StringData.fromString(productId),
                category == null ? null : (BinaryStringData) StringData.fromString(category)));
    }

    @Test
    void eventsAreCountedPerProductCategoryAndType() {
        WindowCounts counts = new WindowCounts();
        counts.add("p-1", "toys", CLICK);
        counts.add("p-1", "toys", CLICK);
        counts.add("p-1", "toys", PURCHASE);
        counts.add("p-1", "books", CART);
        counts.add(StringData.fromString("p-2"), null, CART);
        assertEquals(3, counts.counts.size());
        assertArrayEquals(new long[] {2, 0, 1}, countsOf(counts, "p-1", "toys"));
        assertArrayEquals(new long[] {0, 1, 0}, countsOf(counts, "p-1", "books"));
        assertArrayEquals(new long[] {0, 1, 0}, countsOf(counts, "p-2", null));
    }

    @Test
    void theCallersStringsAreCopiedTheFirstTimeAProductIsSeen() {
        byte[] bytes = "p-1".getBytes();
        WindowCounts counts = new WindowCounts();
        counts.add(StringData.fromBytes(bytes), StringData.fromString("toys"), CLICK);
        bytes[2] = '9'; // the record's buffer is reused for the next record
        counts.add(StringData.fromBytes(bytes), StringData.fromString("toys"), CLICK);
        assertArrayEquals(new long[] {1, 0, 0}, countsOf(counts, "p-1", "toys"));
        assertArrayEquals(new long[] {1, 0, 0}, countsOf(counts, "p-9", "toys"));
    }

    @Test
    void windowCountsAddEventsMergeSlicesAndRank() {
        WindowCounts first = new WindowCounts();
        WindowCounts second = new WindowCounts();
        first.add("p-1", "toys", CLICK);
        first.add("p-1", "toys", CART);
        first.add("p-2", "toys", PURCHASE);
        first.add("p-1", "books", CLICK);
        second.add("p-2", "toys", CLICK);
        second.add("p-1", "toys", CLICK);
        first.addAll(second);
        // p-1/toys: 2 clicks + 1 cart = 2 + 3 = 5; p-2/toys: 1 click + 1 purchase = 1 + 5 = 6;
        // p-1/books: 1 click = 1. Overall the product p-1 appears once per category.
        assertEquals(List.of(
                row(null, 1, "p-2", 6.0, 1L, 0L, 1L), row(null, 2, "p-1", 5.0, 2L, 1L, 0L),
                row(null, 3, "p-1", 1.0, 1L, 0L, 0L),
                row("books", 1, "p-1", 1.0, 1L, 0L, 0L),
                row("toys", 1, "p-2", 6.0, 1L, 0L, 1L), row("toys", 2, "p-1", 5.0, 2L, 1L, 0L)),
                rows(first.rank(V1, 10).result(), 7));
        // The merged slice is unchanged.
        assertEquals(List.of(
                row(null, 1, "p-1", 1.0, 1L, 0L, 0L), row(null, 2, "p-2", 1.0, 1L, 0L, 0L)),
                rows(second.rank(V1, 10).result(), 7).subList(0, 2));
        // The merged slice's counts are not shared: counting on in it leaves the window alone.
        WindowCounts window = new WindowCounts();
        window.addAll(second);
        second.add("p-2", "toys", CLICK);
        assertArrayEquals(new long[] {1, 0, 0}, countsOf(window, "p-2", "toys"));
        assertArrayEquals(new long[] {1, 0, 1}, countsOf(first, "p-2", "toys"));
    }

    @Test
    void aCopyIsDeep() {
        WindowCounts counts = new WindowCounts();
        counts.add("p-1", "toys", CLICK);
        WindowCounts copy = counts.copy();
        counts.add("p-1", "toys", CLICK);
        assertArrayEquals(new long[] {1, 0, 0}, countsOf(copy, "p-1", "toys"));
        assertArrayEquals(new long[] {2, 0, 0}, countsOf(counts, "p-1", "toys"));
        assertNotSame(counts.counts, copy.counts);
    }

    /** 500 categories, cap 200: the reference picks by summed counts, then name. */
    @Test
    void windowCountsRankAtMostMaxCategoriesOfMany() {
        WindowCounts counts = new WindowCounts();
        Map<List<String>, long[]> events = new LinkedHashMap<>();
        for (int i = 0; i < 1500; i++) {
            String product = String.format("p-%04d", i);
            String category = String.format("c-%03d", (i * 7) % 500);
            int eventType = (i * i) % 3;
            for (int n = 0; n < 1 + i % 4; n++) {
                counts.add(product, category, eventType);
                events.computeIfAbsent(List.of(product, category), k -> new long[3])[eventType]++;
            }
        }
        Map<String, long[]> totals = new TreeMap<>();
        for (Map.Entry<List<String>, long[]> e : events.entrySet()) {
            long[] total = totals.computeIfAbsent(e.getKey().get(1), k -> new long[3]);
            for (int k = 0; k < 3; k++) {
                total[k] += e.getValue()[k];
            }
        }
        List<String> chosen = new ArrayList<>(totals.keySet());
        chosen.sort(Comparator.comparingDouble((String c) -> -score(totals.get(c)))
                .thenComparing(c -> c));
        chosen = new ArrayList<>(chosen.subList(0, 200));
        // Ties at the cut: several categories share the 200th category's window score.
        double cut = score(totals.get(chosen.get(199)));
        assertEquals(true, totals.values().stream().filter(t -> score(t) == cut).count() > 1);

        List<List<Object>> expected = new ArrayList<>();
        List<String> scopes = new ArrayList<>();
        scopes.add(null);
        chosen.stream().sorted().forEach(scopes::add);
        for (String scope : scopes) {
            List<Map.Entry<List<String>, long[]>> members = new ArrayList<>();
            for (Map.Entry<List<String>, long[]> e : events.entrySet()) {
                if (scope == null || scope.equals(e.getKey().get(1))) {
                    members.add(e);
                }
            }
            members.sort(Comparator.comparingDouble(
                    (Map.Entry<List<String>, long[]> e) -> -score(e.getValue()))
                    .thenComparing(e -> e.getKey().get(0)));
            for (int rank = 1; rank <= Math.min(3, members.size()); rank++) {
                Map.Entry<List<String>, long[]> e = members.get(rank - 1);
                long[] c = e.getValue();
                expected.add(row(scope, rank, e.getKey().get(0), score(c), c[0], c[1], c[2]));
            }
        }
        List<List<Object>> rows = ranked(counts, 3, 200);
        Set<Object> categories = new HashSet<>();
        rows.forEach(r -> categories.add(r.get(0)));
        categories.remove(null);
        assertEquals(200, categories.size());
        assertEquals(expected, rows);
    }

    private static double score(long[] c) {
        return 1.0 * c[0] + 3.0 * c[1] + 5.0 * c[2];
    }
}
