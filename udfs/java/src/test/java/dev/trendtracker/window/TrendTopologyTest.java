package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.runtime.jobgraph.JobVertex;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.flink.streaming.api.graph.StreamNode;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The whole core on a Flink MiniCluster at parallelism 1 and 2: a fixed event list, with
 * events out of order, behind the watermark within the allowed lateness (updates, and an
 * event counted only in its later windows), one late event, a product that changes category
 * within a window, and a weights change mid-stream. The rows of each window's last emission
 * and the late events are compared with a small reference written here, from the events by
 * brute force (not with the code under test).
 *
 * <p>The events come from one source subtask whose watermark follows each event (the
 * greatest event time so far less 2 s), so which events are late does not depend on timing.
 */
class TrendTopologyTest {
    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(2)
                    .build());

    static final long T0 = 1_704_067_200_000L; // 2024-01-01T00:00:00Z
    static final long DISORDER = 2_000;
    static final WindowSpec SPEC = new WindowSpec(20_000, 10_000, 5_000, 2, 2, 2.0, 3.0);
    static final WeightsRecord V0 = new WeightsRecord("v0", 1, 3, 5, 0);
    static final WeightsRecord V1 = new WeightsRecord("v1", 2, 1, 4, T0 + 40_000);
    static final List<String> WEIGHTS = List.of(
            "{\"weights_version\": \"v1\", \"click\": 2, \"cart\": 1, \"purchase\": 4, "
                    + "\"applies_from_ms\": " + (T0 + 40_000) + "}",
            "{\"weights_version\": \"broken\", \"click\": \"many\"}");

    static final int CLICK = TrendEvent.CLICK;
    static final int CART = TrendEvent.CART;
    static final int PURCHASE = TrendEvent.PURCHASE;

    /** (ms after T0, type, product, category), in the order they arrive. */
    static final Object[][] EVENTS = {
        {1_000, CLICK, "a", "shoes"}, {2_500, CLICK, "b", "shoes"},
        {2_000, CART, "c", "books"}, // out of order, ahead of the watermark
        {5_000, PURCHASE, "d", "books"}, {7_000, CLICK, "e", "toys"},
        {9_000, CLICK, "a", "shoes"}, {12_000, CART, "a", "shoes"},
        {11_000, CLICK, "b", "shoes"}, {14_000, CLICK, "c", "books"},
        {18_000, CLICK, "d", "books"},
        // Watermark 16 s: [-10 s, 10 s) is final, [0 s, 20 s) not: counted there only.
        {8_000, CART, "e", "toys"},
        {21_000, CLICK, "f", "toys"}, {22_000, CLICK, "f", "toys"},
        {24_000, PURCHASE, "b", "shoes"}, {26_000, CLICK, "c", "books"},
        {29_000, CART, "f", "toys"}, {33_500, CLICK, "a", "shoes"},
        // Watermark 31.5 s: [10 s, 30 s) has fired and takes updates until 34.999 s.
        {27_000, CART, "c", "books"},
        // Its windows are final (the last at 24.999 s): late.
        {3_000, CLICK, "b", "shoes"},
        {36_000, CLICK, "g", "books"},
        // x: toys at 43 s, books before it, art at the same millisecond: toys.
        {43_000, CLICK, "x", "toys"}, {41_000, CLICK, "x", "books"},
        {43_000, CART, "x", "art"},
        {44_000, PURCHASE, "f", "toys"}, {45_000, CLICK, "g", "books"},
        {47_000, CLICK, "a", "shoes"}, {52_000, CART, "g", "books"},
        {55_000, CLICK, "f", "toys"}, {58_000, PURCHASE, "c", "books"},
        {61_000, CLICK, "a", "shoes"},
        // Watermark 59 s: [30 s, 50 s) is final, so it counts in [40 s, 60 s) only.
        {48_500, CLICK, "g", "books"},
        {66_000, CART, "h", "shoes"}, {72_000, CLICK, "h", "shoes"},
        {75_000, CLICK, "b", "shoes"},
    };

    static List<TrendEvent> events() {
        List<TrendEvent> events = new ArrayList<>();
        for (int i = 0; i < EVENTS.length; i++) {
            Object[] e = EVENTS[i];
            events.add(new TrendEvent((String) e[2], (String) e[3], (int) e[1],
                    T0 + (int) e[0], "e-" + i, "u-" + i, "{\"n\": " + i + "}", "clicks", 0, i));
        }
        return events;
    }

    /** The watermark after each event: the greatest event time so far less the disorder. */
    static final class FollowEachEvent implements WatermarkGenerator<TrendEvent> {
        private long greatest = Long.MIN_VALUE;

        @Override
        public void onEvent(TrendEvent event, long timestamp, WatermarkOutput output) {
            greatest = Math.max(greatest, event.ts);
            output.emitWatermark(new Watermark(greatest - DISORDER));
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {}
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void theCoreGivesTheReferenceRowsAndLateEvents(int parallelism) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(parallelism);
        DataStream<TrendEvent> events = env.fromData(events()).setParallelism(1)
                .assignTimestampsAndWatermarks(WatermarkStrategy
                        .<TrendEvent>forGenerator(context -> new FollowEachEvent())
                        .withTimestampAssigner((event, previous) -> event.ts))
                .setParallelism(1);
        DataStream<String> weights = env.fromData(WEIGHTS).setParallelism(1)
                .assignTimestampsAndWatermarks(WeightsRecord.watermarkStrategy())
                .setParallelism(1);
        TrendTopology topology = TrendTopology.build(events, weights, SPEC, V0);
        CloseableIterator<RankedWindow> windows = topology.windows().collectAsync();
        CloseableIterator<TrendEvent> late = topology.late().collectAsync();
        CloseableIterator<RankedRow> rows = topology.rows().collectAsync();

        StreamGraph graph = env.getStreamGraph(false);
        assertCoreRunsAtParallelism(graph, parallelism);
        env.execute("trend-topology-test");

        // A window's last emission holds its final rows.
        TreeMap<Long, RankedWindow> last = new TreeMap<>();
        int emissions = 0;
        while (windows.hasNext()) {
            RankedWindow window = windows.next();
            emissions++;
            RankedWindow before = last.get(window.windowEnd);
            if (before == null || window.revision > before.revision) {
                last.put(window.windowEnd, window);
            }
        }
        List<RankedRow> actual = new ArrayList<>();
        for (RankedWindow window : last.values()) {
            actual.addAll(window.rows());
        }
        Reference reference = new Reference(events());
        List<RankedRow> expected = reference.rows();
        assertEquals(expected.size(), actual.size(), "rows");
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i), actual.get(i), "row " + i);
        }
        List<TrendEvent> lateEvents = new ArrayList<>();
        late.forEachRemaining(lateEvents::add);
        assertEquals(List.of(events().get(18)), lateEvents);
        assertEquals(reference.late, lateEvents);
        // rows() is every emission's rows.
        int rowCount = 0;
        while (rows.hasNext()) {
            rows.next();
            rowCount++;
        }
        assertTrue(rowCount >= actual.size());
        assertTrue(emissions >= last.size());

        // The scenario has what it is for.
        assertTrue(expected.stream().anyMatch(r -> "v1".equals(r.weightsVersion)));
        assertTrue(expected.stream().anyMatch(r -> "v0".equals(r.weightsVersion)));
        assertTrue(expected.stream().anyMatch(r -> r.previousRank != null
                && r.previousRank != r.rank));
        assertTrue(expected.stream().anyMatch(r -> r.ranking.equals("rising")
                && r.momentum > 1));
        for (RankedRow row : expected) {
            if (row.productId.equals("x") && row.category != null) {
                assertEquals("toys", row.category);
            }
        }
        // At most 2 categories per window, while 3 have products in some.
        Map<Long, TreeSet<String>> categories = new HashMap<>();
        for (RankedRow row : expected) {
            if (row.category != null) {
                categories.computeIfAbsent(row.windowEnd, e -> new TreeSet<>()).add(row.category);
            }
        }
        assertTrue(categories.values().stream().allMatch(c -> c.size() <= 2));
        assertTrue(reference.windowsWithMoreCategories > 0);
    }

    static void assertCoreRunsAtParallelism(StreamGraph graph, int parallelism) {
        List<String> core = List.of(TrendTopology.PRODUCT_WINDOWS, TrendTopology.LOCAL_TOP_N,
                TrendTopology.WINDOW_MERGE, TrendTopology.PREVIOUS_RANKS,
                TrendTopology.RANKED_ROWS);
        int found = 0;
        for (StreamNode node : graph.getStreamNodes()) {
            if (core.contains(node.getOperatorName())) {
                found++;
                assertEquals(parallelism, node.getParallelism(), node.getOperatorName());
            }
        }
        assertEquals(core.size(), found);
        // The local top-N runs in the keyed operator's task: products do not cross the network.
        boolean chained = false;
        for (JobVertex vertex : graph.getJobGraph().getVertices()) {
            chained |= vertex.getName().contains(TrendTopology.PRODUCT_WINDOWS)
                    && vertex.getName().contains(TrendTopology.LOCAL_TOP_N);
        }
        assertTrue(chained, "local-top-n chained to product-windows");
    }

    /** The reference: the core's semantics by brute force over the event list. */
    static final class Reference {
        final List<TrendEvent> late = new ArrayList<>();
        /** Event -> the window ends it counts in. */
        final Map<TrendEvent, TreeSet<Long>> countedIn = new LinkedHashMap<>();
        int windowsWithMoreCategories;

        Reference(List<TrendEvent> events) {
            long greatest = Long.MIN_VALUE;
            for (TrendEvent event : events) {
                long watermark = greatest == Long.MIN_VALUE ? Long.MIN_VALUE
                        : greatest - DISORDER;
                TreeSet<Long> open = new TreeSet<>();
                for (long end = T0 - 100_000; end <= T0 + 200_000; end += SPEC.slideMs) {
                    boolean holds = end - SPEC.sizeMs <= event.ts && event.ts < end;
                    boolean takesUpdates = watermark == Long.MIN_VALUE
                            || end - 1 + SPEC.allowedLatenessMs > watermark;
                    if (holds && takesUpdates) {
                        open.add(end);
                    }
                }
                if (open.isEmpty()) {
                    late.add(event);
                } else {
                    countedIn.put(event, open);
                }
                greatest = Math.max(greatest, event.ts);
            }
        }

        /** Product -> {clicks, carts, purchases} and category of the window ending at end. */
        Map<String, Object[]> window(long end) {
            Map<String, Object[]> products = new TreeMap<>();
            Map<String, long[]> latest = new HashMap<>();
            for (Map.Entry<TrendEvent, TreeSet<Long>> counted : countedIn.entrySet()) {
                TrendEvent event = counted.getKey();
                if (!counted.getValue().contains(end)) {
                    continue;
                }
                Object[] product = products.computeIfAbsent(event.productId,
                        p -> new Object[] {new long[3], null});
                ((long[]) product[0])[event.eventType]++;
                long[] at = latest.get(event.productId);
                if (at == null || event.ts > at[0] || (event.ts == at[0]
                        && event.category.compareTo((String) product[1]) > 0)) {
                    latest.put(event.productId, new long[] {event.ts});
                    product[1] = event.category;
                }
            }
            return products;
        }

        static WeightsRecord weightsAt(long end) {
            return end >= V1.appliesFromMs ? V1 : V0;
        }

        static double score(WeightsRecord w, long[] counts) {
            return w.click * counts[0] + w.cart * counts[1] + w.purchase * counts[2];
        }

        List<RankedRow> rows() {
            List<RankedRow> rows = new ArrayList<>();
            Map<String, Integer> previous = new HashMap<>();
            for (long end = T0 - 10_000; end <= T0 + 110_000; end += SPEC.slideMs) {
                Map<String, Object[]> products = window(end);
                Map<String, Object[]> before = window(end - SPEC.sizeMs);
                WeightsRecord w = weightsAt(end);
                // (product, category, counts, score, momentum)
                List<Object[]> items = new ArrayList<>();
                Map<String, long[]> sums = new TreeMap<>();
                for (Map.Entry<String, Object[]> product : products.entrySet()) {
                    long[] counts = (long[]) product.getValue()[0];
                    String category = (String) product.getValue()[1];
                    double score = score(w, counts);
                    double beforeScore = before.containsKey(product.getKey())
                            ? score(w, (long[]) before.get(product.getKey())[0]) : 0.0;
                    double momentum = (score + SPEC.risingPrior)
                            / (beforeScore + SPEC.risingPrior);
                    items.add(new Object[] {product.getKey(), category, counts, score, momentum});
                    long[] sum = sums.computeIfAbsent(category, c -> new long[3]);
                    for (int t = 0; t < 3; t++) {
                        sum[t] += counts[t];
                    }
                }
                List<String> categories = new ArrayList<>(sums.keySet());
                categories.sort(Comparator.<String>comparingDouble(c -> -score(w, sums.get(c)))
                        .thenComparing(c -> c));
                if (categories.size() > SPEC.maxCategories) {
                    windowsWithMoreCategories++;
                    categories = new ArrayList<>(categories.subList(0, SPEC.maxCategories));
                }
                categories.sort(Comparator.naturalOrder());
                Map<String, Integer> ranks = new HashMap<>();
                for (String kind : List.of("popular", "rising")) {
                    List<String> scopes = new ArrayList<>();
                    scopes.add(null);
                    scopes.addAll(categories);
                    for (String scope : scopes) {
                        List<Object[]> ranked = new ArrayList<>();
                        for (Object[] item : items) {
                            boolean inScope = scope == null || scope.equals(item[1]);
                            boolean eligible = kind.equals("popular")
                                    || (double) item[3] >= SPEC.risingMinScore;
                            if (inScope && eligible) {
                                ranked.add(item);
                            }
                        }
                        int by = kind.equals("popular") ? 3 : 4;
                        ranked.sort(Comparator.<Object[]>comparingDouble(i -> -(double) i[by])
                                .thenComparing(i -> (String) i[0]));
                        for (int r = 0; r < Math.min(SPEC.topN, ranked.size()); r++) {
                            Object[] item = ranked.get(r);
                            long[] counts = (long[]) item[2];
                            String key = kind + "/" + scope + "/" + item[0];
                            ranks.put(key, r + 1);
                            rows.add(new RankedRow(end - SPEC.sizeMs, end, kind, scope, r + 1,
                                    (String) item[0], (double) item[3], counts[0], counts[1],
                                    counts[2], previous.get(key), (double) item[4], w.version));
                        }
                    }
                }
                previous = ranks;
            }
            return rows;
        }
    }
}
