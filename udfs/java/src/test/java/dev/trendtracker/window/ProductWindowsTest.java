package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.heap.HeapKeyedStateBackend;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.util.OutputTag;
import org.junit.jupiter.api.Test;

/**
 * The keyed core in Flink's operator harness: the exact products it emits per watermark,
 * scored with the weights in force, its late side output, updates within the allowed
 * lateness, its state emptied after the horizon, and the same output across a snapshot and a
 * restore. Windows of 20 s sliding by 10 s; weights v0 = (1, 3, 5); rising prior 2.
 */
class ProductWindowsTest {
    static final WeightsRecord V0 = new WeightsRecord("v0", 1, 3, 5, 0);
    static final WeightsRecord V1 = new WeightsRecord("v1", 2, 0, 1, 20_000);
    static final double PRIOR = 2.0;

    static WindowSpec spec(long allowedLatenessMs) {
        return new WindowSpec(20_000, 10_000, allowedLatenessMs, 3, 10, PRIOR, 0.0);
    }

    static final class Harness implements AutoCloseable {
        final ProductWindows function;
        final KeyedBroadcastOperatorTestHarness<String, TrendEvent, String, ProductWindow> h;

        Harness(WindowSpec spec) throws Exception {
            this(spec, V0);
        }

        Harness(WindowSpec spec, WeightsRecord initialWeights) throws Exception {
            function = new ProductWindows(spec, initialWeights);
            h = new KeyedBroadcastOperatorTestHarness<>(new ProductWindowsOperator(function),
                    (KeySelector<TrendEvent, String>) event -> event.productId, Types.STRING,
                    128, 1, 0);
        }

        Harness open() throws Exception {
            h.open();
            return this;
        }

        void event(String productId, String category, int type, long ts) throws Exception {
            h.processElement(new TrendEvent(productId, category, type, ts), ts);
        }

        void event(String productId, String category, int type, long ts, String eventId)
                throws Exception {
            h.processElement(new TrendEvent(productId, category, type, ts, eventId), ts);
        }

        void userEvent(String productId, int type, long ts, String userId) throws Exception {
            h.processElement(new TrendEvent(productId, "toys", type, ts, null, userId), ts);
        }

        /** What the watermark fires, ordered by window and product. */
        List<ProductWindow> fire(long watermark) throws Exception {
            h.watermark(watermark);
            List<ProductWindow> fired = new ArrayList<>(h.extractOutputValues());
            fired.sort(Comparator.<ProductWindow>comparingLong(p -> p.windowEnd)
                    .thenComparing(p -> p.productId));
            h.getOutput().clear();
            return fired;
        }

        List<TrendEvent> late() {
            return sideOutput(ProductWindows.LATE);
        }

        List<TrendEvent> duplicates() {
            return sideOutput(ProductWindows.DUPLICATE);
        }

        private List<TrendEvent> sideOutput(OutputTag<TrendEvent> tag) {
            List<TrendEvent> events = new ArrayList<>();
            if (h.getSideOutput(tag) != null) {
                for (StreamRecord<TrendEvent> record : h.getSideOutput(tag)) {
                    events.add(record.getValue());
                }
            }
            return events;
        }

        int keyedStateEntries() {
            AbstractStreamOperator<?> operator = (AbstractStreamOperator<?>) h.getTwoInputOperator();
            return ((HeapKeyedStateBackend<?>) operator.getKeyedStateBackend())
                    .numKeyValueStateEntries();
        }

        @Override
        public void close() throws Exception {
            h.close();
        }
    }

    static ProductWindow row(long end, String productId, String category, long clicks,
                             long carts, long purchases, double score, double momentum,
                             WeightsRecord weights) {
        ProductWindow row = new ProductWindow();
        row.windowEnd = end;
        row.productId = productId;
        row.category = category;
        row.clicks = clicks;
        row.carts = carts;
        row.purchases = purchases;
        row.score = score;
        row.momentum = momentum;
        row.significantGrowth = true;
        row.weightsVersion = weights.version;
        row.weightClick = weights.click;
        row.weightCart = weights.cart;
        row.weightPurchase = weights.purchase;
        return row;
    }

    static String weightsJson(String version, double click, double cart, double purchase,
                              long appliesFrom) {
        return "{\"weights_version\": \"" + version + "\", \"click\": " + click + ", \"cart\": "
                + cart + ", \"purchase\": " + purchase + ", \"applies_from_ms\": " + appliesFrom
                + "}";
    }

    @Test
    void eachWindowEmitsEachOfItsProductsOnceWithCountsScoreAndMomentum() throws Exception {
        try (Harness h = new Harness(spec(0)).open()) {
            h.event("p-a", "toys", TrendEvent.CLICK, 1_000);
            h.event("p-a", "toys", TrendEvent.CART, 12_000);
            h.event("p-b", "books", TrendEvent.PURCHASE, 15_000);

            assertEquals(List.of(), h.fire(9_998));
            // [-10 s, 10 s): p-a's click; nothing in the window before: momentum (1+2)/2.
            assertEquals(List.of(row(10_000, "p-a", "toys", 1, 0, 0, 1, 1.5, V0)), h.fire(9_999));
            assertEquals(List.of(
                    row(20_000, "p-a", "toys", 1, 1, 0, 4, 3.0, V0),
                    row(20_000, "p-b", "books", 0, 0, 1, 5, 3.5, V0)), h.fire(19_999));
            // [10 s, 30 s) against [-10 s, 10 s): p-a (3 + 2) / (1 + 2).
            assertEquals(List.of(
                    row(30_000, "p-a", "toys", 0, 1, 0, 3, 5.0 / 3, V0),
                    row(30_000, "p-b", "books", 0, 0, 1, 5, 3.5, V0)), h.fire(29_999));
            assertEquals(2, h.keyedStateEntries());
            // p-a's first slice is needed until the window comparing with it is final (40 s),
            // its second one, and p-b's, until 50 s.
            assertEquals(List.of(), h.fire(39_999));
            assertEquals(2, h.keyedStateEntries());
            assertEquals(List.of(), h.fire(49_999));
            assertEquals(0, h.keyedStateEntries());
            assertEquals(0, h.h.numEventTimeTimers());
            assertEquals(List.of(), h.late());
        }
    }

    @Test
    void oneWatermarkFiresEveryWindowBehindItInOrder() throws Exception {
        try (Harness h = new Harness(spec(0)).open()) {
            h.event("p-a", "toys", TrendEvent.CLICK, 1_000);
            h.event("p-a", "toys", TrendEvent.CART, 12_000);
            h.event("p-b", "books", TrendEvent.PURCHASE, 15_000);
            // The end of the input: every window at once, each with its slices.
            assertEquals(List.of(
                    row(10_000, "p-a", "toys", 1, 0, 0, 1, 1.5, V0),
                    row(20_000, "p-a", "toys", 1, 1, 0, 4, 3.0, V0),
                    row(20_000, "p-b", "books", 0, 0, 1, 5, 3.5, V0),
                    row(30_000, "p-a", "toys", 0, 1, 0, 3, 5.0 / 3, V0),
                    row(30_000, "p-b", "books", 0, 0, 1, 5, 3.5, V0)), h.fire(Long.MAX_VALUE));
            assertEquals(0, h.keyedStateEntries());
        }
    }

    @Test
    void theWeightsInputAloneNeverFiresWindowsWhileTheEventsAreIdle() throws Exception {
        try (Harness h = new Harness(spec(0)).open()) {
            h.event("p-a", "toys", TrendEvent.CLICK, 1_000);
            h.h.processWatermark(5_000);
            h.h.getTwoInputOperator().processWatermarkStatus1(WatermarkStatus.IDLE);
            h.h.processBroadcastWatermark(100_000);
            assertEquals(List.of(), h.h.extractOutputValues());
            // The events move on: the windows follow them.
            h.h.getTwoInputOperator().processWatermarkStatus1(WatermarkStatus.ACTIVE);
            h.h.processWatermark(9_999);
            assertEquals(List.of(row(10_000, "p-a", "toys", 1, 0, 0, 1, 1.5, V0)),
                    h.h.extractOutputValues());
        }
    }

    @Test
    void aWindowIsScoredWithTheWeightsInForceAtItsEnd() throws Exception {
        try (Harness h = new Harness(spec(0)).open()) {
            h.h.processBroadcastElement(weightsJson("v1", 2, 0, 1, 20_000), 19_999);
            h.h.processBroadcastElement("{\"weights_version\": \"bad\", \"click\": -1}", 19_999);
            h.h.processBroadcastElement(weightsJson("v9", 9, 9, 9, 40_000), 39_999);
            h.event("p-a", "toys", TrendEvent.CLICK, 1_000);
            h.event("p-a", "toys", TrendEvent.CART, 12_000);
            h.event("p-b", "books", TrendEvent.PURCHASE, 15_000);

            assertEquals(List.of(row(10_000, "p-a", "toys", 1, 0, 0, 1, 1.5, V0)), h.fire(9_999));
            // From 20 s on v1 (2, 0, 1), the previous window's score with v1 too.
            assertEquals(List.of(
                    row(20_000, "p-a", "toys", 1, 1, 0, 2, 2.0, V1),
                    row(20_000, "p-b", "books", 0, 0, 1, 1, 1.5, V1)), h.fire(19_999));
            assertEquals(List.of(
                    row(30_000, "p-a", "toys", 0, 1, 0, 0, 0.5, V1),
                    row(30_000, "p-b", "books", 0, 0, 1, 1, 1.5, V1)), h.fire(29_999));
            assertEquals(1, h.function.invalidWeightsRecords());
        }
    }

    @Test
    void aProductIsOneItemPerWindowInTheCategoryOfItsLatestEvent() throws Exception {
        try (Harness h = new Harness(spec(0)).open()) {
            h.event("p-c", "toys", TrendEvent.CLICK, 6_000);
            h.event("p-c", "books", TrendEvent.CART, 3_000);
            assertEquals(List.of(row(10_000, "p-c", "toys", 1, 1, 0, 4, 3.0, V0)), h.fire(9_999));
            // At the same millisecond as the latest, the greatest category: "zines".
            h.event("p-c", "zines", TrendEvent.CLICK, 16_000);
            h.event("p-c", "art", TrendEvent.CLICK, 16_000);
            assertEquals(List.of(row(20_000, "p-c", "zines", 3, 1, 0, 6, 4.0, V0)),
                    h.fire(19_999));
        }
    }

    /** Lateness 5 s: events behind the watermark update fired windows until they are final. */
    static void lateAndUpdatedEvents(Harness h, List<List<ProductWindow>> fired)
            throws Exception {
        h.event("p-a", "toys", TrendEvent.CLICK, 1_000);
        fired.add(h.fire(9_999));
        // Behind the watermark, but [-10 s, 10 s) takes updates until 14.999 s.
        h.event("p-a", "toys", TrendEvent.CLICK, 2_000);
        fired.add(h.fire(12_000));
        fired.add(h.fire(15_000));
        // [-10 s, 10 s) is final now: this one counts in [0 s, 20 s) only.
        h.event("p-a", "toys", TrendEvent.CLICK, 3_000);
        fired.add(h.fire(19_999));
        fired.add(h.fire(25_000));
    }

    static void lateAndUpdatedEventsAfterward(Harness h, List<List<ProductWindow>> fired)
            throws Exception {
        // Every window of 4 s is final at 25 s: late. 12 s counts in [10 s, 30 s) only.
        h.event("p-a", "toys", TrendEvent.CLICK, 4_000);
        h.event("p-b", "toys", TrendEvent.CLICK, 12_000);
        fired.add(h.fire(29_999));
        fired.add(h.fire(60_000));
    }

    static final List<List<ProductWindow>> LATE_AND_UPDATED = List.of(
            List.of(row(10_000, "p-a", "toys", 1, 0, 0, 1, 1.5, V0)),
            // The update: the window again, whole.
            List.of(row(10_000, "p-a", "toys", 2, 0, 0, 2, 2.0, V0)),
            List.of(),
            List.of(row(20_000, "p-a", "toys", 3, 0, 0, 3, 2.5, V0)),
            List.of(),
            // p-a's events are in [0 s, 10 s): nothing in [10 s, 30 s).
            List.of(row(30_000, "p-b", "toys", 1, 0, 0, 1, 1.5, V0)),
            List.of());

    @Test
    void lateEventsGoToTheSideOutputAndTheOthersUpdateTheirWindows() throws Exception {
        try (Harness h = new Harness(spec(5_000)).open()) {
            List<List<ProductWindow>> fired = new ArrayList<>();
            lateAndUpdatedEvents(h, fired);
            lateAndUpdatedEventsAfterward(h, fired);
            assertEquals(LATE_AND_UPDATED, fired);
            assertEquals(List.of(new TrendEvent("p-a", "toys", TrendEvent.CLICK, 4_000)),
                    h.late());
            assertEquals(0, h.keyedStateEntries());
            assertEquals(0, h.h.numEventTimeTimers());
        }
    }

    @Test
    void aSnapshotAndARestoreGiveTheSameOutputAndTheSameLateEvents() throws Exception {
        List<List<ProductWindow>> fired = new ArrayList<>();
        OperatorSubtaskState snapshot;
        try (Harness h = new Harness(spec(5_000)).open()) {
            lateAndUpdatedEvents(h, fired);
            snapshot = h.h.snapshot(1, 1);
        }
        try (Harness restored = new Harness(spec(5_000))) {
            restored.h.initializeState(snapshot);
            restored.open();
            // No watermark since the restore: the restored one still makes 4 s late.
            lateAndUpdatedEventsAfterward(restored, fired);
            assertEquals(LATE_AND_UPDATED, fired);
            assertEquals(List.of(new TrendEvent("p-a", "toys", TrendEvent.CLICK, 4_000)),
                    restored.late());
            assertEquals(0, restored.keyedStateEntries());
        }
    }

    @Test
    void aRestoredCoreScoresWindowsBeforeEveryRecordWithTheWeightsOfItsFirstStart()
            throws Exception {
        OperatorSubtaskState snapshot;
        try (Harness h = new Harness(spec(0)).open()) {
            h.event("p-a", "toys", TrendEvent.CLICK, 1_000);
            assertEquals(List.of(row(10_000, "p-a", "toys", 1, 0, 0, 1, 1.5, V0)), h.fire(9_999));
            snapshot = h.h.snapshot(1, 1);
        }
        // Restarted with other weights (a new champion): the windows that no weights record
        // applies to keep v0, as before the restore, so a replay gives the same output.
        WeightsRecord champion = new WeightsRecord("v9", 9, 9, 9, 0);
        try (Harness restored = new Harness(spec(0), champion)) {
            restored.h.initializeState(snapshot);
            restored.open();
            restored.event("p-a", "toys", TrendEvent.CART, 12_000);
            // [0 s, 20 s): a click and a cart, 1 + 3 = 4; nothing before: (4 + 2) / 2.
            assertEquals(List.of(row(20_000, "p-a", "toys", 1, 1, 0, 4, 3.0, V0)),
                    restored.fire(19_999));
        }
    }

    @Test
    void anEventInTheWindowBeforeFiresTheLaterWindowAgainWithItsNewMomentum() throws Exception {
        // Lateness 25 s, more than a window: [10 s, 30 s) has fired when 5 s comes in.
        try (Harness h = new Harness(spec(25_000)).open()) {
            h.event("p-a", "toys", TrendEvent.CLICK, 1_000);
            h.event("p-a", "toys", TrendEvent.CART, 15_000);
            assertEquals(3, h.fire(29_999).size());
            h.event("p-a", "toys", TrendEvent.CLICK, 5_000);
            assertEquals(List.of(
                    row(10_000, "p-a", "toys", 2, 0, 0, 2, 2.0, V0),
                    row(20_000, "p-a", "toys", 2, 1, 0, 5, 3.5, V0),
                    // Its counts are the same; the window before it now scores 2.
                    row(30_000, "p-a", "toys", 0, 1, 0, 3, 5.0 / 4, V0)), h.fire(30_000));
        }
    }

    /** Lateness 0, copies within {@code dedupHorizonMs} of a counted event count once. */
    static WindowSpec dedupSpec(long dedupHorizonMs) {
        return new WindowSpec(20_000, 10_000, 0, 3, 10, PRIOR, 0.0, dedupHorizonMs, 0);
    }

    static TrendEvent click(String productId, long ts, String eventId) {
        return new TrendEvent(productId, "toys", TrendEvent.CLICK, ts, eventId);
    }

    /** Copies of e-1 and what is not a copy: its id as another type or on another product. */
    static void copies(Harness h) throws Exception {
        h.event("p-a", "toys", TrendEvent.CLICK, 1_000, "e-1");
        h.event("p-a", "toys", TrendEvent.CLICK, 1_000, "e-1"); // a retry
        h.event("p-a", "toys", TrendEvent.CLICK, 4_000, "e-1"); // 3 s away: a copy
        h.event("p-a", "toys", TrendEvent.CLICK, 7_000, "e-1"); // 6 s away: another event
        h.event("p-a", "toys", TrendEvent.CLICK, 7_500, "e-1"); // 0.5 s from 7 s: a copy
        h.event("p-a", "toys", TrendEvent.CART, 1_000, "e-1"); // another type
        h.event("p-b", "toys", TrendEvent.CLICK, 1_000, "e-1"); // another product
    }

    static final List<TrendEvent> COPIES = List.of(click("p-a", 1_000, "e-1"),
            click("p-a", 4_000, "e-1"), click("p-a", 7_500, "e-1"));

    @Test
    void copiesWithinTheDedupHorizonCountOnceAndGoToTheSideOutput() throws Exception {
        try (Harness h = new Harness(dedupSpec(5_000)).open()) {
            copies(h);
            // p-a: the clicks at 1 s and 7 s and the cart, 1 + 1 + 3 = 5; p-b its click.
            assertEquals(List.of(
                    row(10_000, "p-a", "toys", 2, 1, 0, 5, 3.5, V0),
                    row(10_000, "p-b", "toys", 1, 0, 0, 1, 1.5, V0)), h.fire(9_999));
            assertEquals(COPIES, h.duplicates());
            assertEquals(List.of(), h.late());
            // Its windows final, a copy of the click at 1 s is late, not a duplicate.
            h.fire(19_999);
            h.event("p-b", "toys", TrendEvent.CLICK, 1_000, "e-1");
            assertEquals(List.of(click("p-b", 1_000, "e-1")), h.late());
            assertEquals(COPIES, h.duplicates());
            // The ids go with the horizon: no state and no timer is left.
            h.fire(49_999);
            assertEquals(0, h.keyedStateEntries());
            assertEquals(0, h.h.numEventTimeTimers());
        }
    }

    @Test
    void anIdIsKeptUntilNoCopyWithinTheHorizonCanBeOnTime() throws Exception {
        // Horizon 2 s: a copy at 5.5 s of a click at 4 s is in the slice [0 s, 10 s), on time
        // until the watermark reaches 19.999 s, so the id is kept until then.
        try (Harness h = new Harness(dedupSpec(2_000)).open()) {
            h.event("p-a", "toys", TrendEvent.CLICK, 4_000, "e-2");
            h.fire(19_998);
            h.event("p-a", "toys", TrendEvent.CLICK, 5_500, "e-2");
            assertEquals(List.of(click("p-a", 5_500, "e-2")), h.duplicates());
            assertEquals(List.of(), h.late());
            h.fire(19_999);
            h.event("p-a", "toys", TrendEvent.CLICK, 5_500, "e-2");
            assertEquals(List.of(click("p-a", 5_500, "e-2")), h.late());
        }
    }

    @Test
    void aRestoredCoreKnowsTheIdsItCounted() throws Exception {
        OperatorSubtaskState snapshot;
        try (Harness h = new Harness(dedupSpec(5_000)).open()) {
            h.event("p-a", "toys", TrendEvent.CLICK, 1_000, "e-1");
            snapshot = h.h.snapshot(1, 1);
        }
        try (Harness restored = new Harness(dedupSpec(5_000))) {
            restored.h.initializeState(snapshot);
            restored.open();
            restored.event("p-a", "toys", TrendEvent.CLICK, 1_000, "e-1");
            restored.event("p-a", "toys", TrendEvent.CLICK, 8_000, "e-1");
            assertEquals(List.of(row(10_000, "p-a", "toys", 2, 0, 0, 2, 2.0, V0)),
                    restored.fire(9_999));
            assertEquals(List.of(click("p-a", 1_000, "e-1")), restored.duplicates());
        }
    }

    @Test
    void withNoDedupHorizonEveryCopyCounts() throws Exception {
        try (Harness h = new Harness(dedupSpec(0)).open()) {
            copies(h);
            assertEquals(List.of(
                    row(10_000, "p-a", "toys", 5, 1, 0, 8, 5.0, V0),
                    row(10_000, "p-b", "toys", 1, 0, 0, 1, 1.5, V0)), h.fire(9_999));
            assertEquals(List.of(), h.duplicates());
        }
    }

    /**
     * Windows of 40 s sliding by 10 s; rising compares the newest 2 slides (scale 0.5) with
     * the window before them, least z 2, variance times 1.5; at most {@code cap} events of a
     * user and type per window (0: no cap).
     */
    static WindowSpec recentSpec(int cap) {
        return new WindowSpec(40_000, 10_000, 0, 3, 10, PRIOR, 0.0, 2, 2.0, 1.5, 0, cap);
    }

    static ProductWindow notSignificant(ProductWindow row) {
        row.significantGrowth = false;
        return row;
    }

    @Test
    void risingComparesTheNewestSlidesWithTheWindowBeforeThem() throws Exception {
        try (Harness h = new Harness(recentSpec(0)).open()) {
            // p-a: a click in each slice of [0 s, 40 s), then 5 clicks and a cart in
            // [40 s, 60 s). p-b: 3 clicks in each slice of [0 s, 40 s), then 8 clicks.
            for (long ts : new long[] {1_000, 11_000, 21_000, 31_000}) {
                h.event("p-a", "toys", TrendEvent.CLICK, ts);
                for (int i = 0; i < 3; i++) {
                    h.event("p-b", "toys", TrendEvent.CLICK, ts + i);
                }
            }
            for (long ts : new long[] {41_000, 42_000, 51_000, 52_000, 53_000}) {
                h.event("p-a", "toys", TrendEvent.CLICK, ts);
            }
            h.event("p-a", "toys", TrendEvent.CART, 54_000);
            for (long ts = 41_000; ts < 49_000; ts += 1_000) {
                h.event("p-b", "toys", TrendEvent.CLICK, ts);
            }
            h.fire(49_999);
            // Window [20 s, 60 s). p-a: recent [40 s, 60 s) 5 + 3 = 8, base [0 s, 40 s) 4
            // (variance 4): momentum (8 / 0.5 + 2) / (4 + 2) = 3, z = (8 - 0.5 * 4) /
            // sqrt(1.5 * 0.75 * 4 + 1) = 2.56 >= 2. p-b: recent 8, base 12 (variance 12):
            // momentum (16 + 2) / (12 + 2), z = (8 - 6) / sqrt(1.5 * 0.75 * 12 + 1) = 0.53.
            assertEquals(List.of(
                    row(60_000, "p-a", "toys", 7, 1, 0, 10, 3.0, V0),
                    notSignificant(row(60_000, "p-b", "toys", 14, 0, 0, 14, 9.0 / 7, V0))),
                    h.fire(59_999));
            // p-a's last slice, [50 s, 60 s), is in windows up to 90 s and in the base of
            // those up to 110 s: it is dropped when that window is final.
            h.fire(109_998);
            assertEquals(1, h.keyedStateEntries());
            h.fire(109_999);
            assertEquals(0, h.keyedStateEntries());
        }
    }

    @Test
    void anEventInTheBaseOfAFiredWindowFiresItAgainWithItsNewMomentum() throws Exception {
        // Lateness 25 s, more than the recent span (20 s): at 49.999 s [10 s, 50 s) has
        // fired, and a click at 5 s still counts in [-10 s, 30 s) and [0 s, 40 s).
        WindowSpec spec = new WindowSpec(40_000, 10_000, 25_000, 3, 10, PRIOR, 0.0, 2,
                Double.NEGATIVE_INFINITY, 1.0, 0, 0);
        try (Harness h = new Harness(spec).open()) {
            h.event("p-a", "toys", TrendEvent.CLICK, 1_000);
            h.event("p-a", "toys", TrendEvent.CART, 45_000);
            // [10 s, 50 s): recent 3 against the base [-10 s, 30 s), 1: (3 / 0.5 + 2) / 3.
            List<ProductWindow> fired = h.fire(49_999);
            assertEquals(row(50_000, "p-a", "toys", 0, 1, 0, 3, 8.0 / 3, V0),
                    fired.get(fired.size() - 1));
            h.event("p-a", "toys", TrendEvent.CLICK, 5_000);
            // The windows it counts in (their bases, ending at 10 s and 20 s, are final and
            // keep 1), and the window whose base now holds 2: (3 / 0.5 + 2) / (2 + 2).
            assertEquals(List.of(
                    row(30_000, "p-a", "toys", 2, 0, 0, 2, 2.0 / 3, V0),
                    row(40_000, "p-a", "toys", 2, 0, 0, 2, 2.0 / 3, V0),
                    row(50_000, "p-a", "toys", 0, 1, 0, 3, 2.0, V0)), h.fire(50_000));
        }
    }

    @Test
    void theRecentSpanIsTheCappedWindowLessItsCappedOlderPart() throws Exception {
        try (Harness h = new Harness(recentSpec(2)).open()) {
            // u-1: 5 clicks on p-c in [40 s, 60 s), nothing before: 2 count in the window,
            // all of them recent: momentum (2 / 0.5 + 2) / (0 + 2) = 3, z = 2 / sqrt(1) = 2.
            for (long ts : new long[] {41_000, 42_000, 51_000, 52_000, 53_000}) {
                h.userEvent("p-c", TrendEvent.CLICK, ts, "u-1");
            }
            // u-2: 3 clicks on p-d in [20 s, 40 s), 2 in [40 s, 60 s): at the cap in the
            // older part, so nothing recent, with a base [0 s, 40 s) of 2: momentum
            // (0 + 2) / (2 + 2), z = -1 / sqrt(1.5 * 0.75 * 2 + 1).
            for (long ts : new long[] {21_000, 22_000, 23_000, 51_000, 52_000}) {
                h.userEvent("p-d", TrendEvent.CLICK, ts, "u-2");
            }
            h.fire(49_999);
            assertEquals(List.of(
                    row(60_000, "p-c", "toys", 2, 0, 0, 2, 3.0, V0),
                    notSignificant(row(60_000, "p-d", "toys", 2, 0, 0, 2, 0.5, V0))),
                    h.fire(59_999));
        }
    }

    /** Lateness {@code allowedLatenessMs}, at most 2 events of a user and type per window. */
    static WindowSpec capSpec(long allowedLatenessMs) {
        return new WindowSpec(20_000, 10_000, allowedLatenessMs, 3, 10, PRIOR, 0.0, 0, 2);
    }

    @Test
    void eachWindowCountsAUsersEventsOfATypeAtMostTheCapTimes() throws Exception {
        try (Harness h = new Harness(capSpec(0)).open()) {
            // u-1: 3 clicks in [0 s, 10 s), 2 in [10 s, 20 s); u-2: 1 click, 3 carts.
            for (long ts : new long[] {1_000, 2_000, 3_000, 11_000, 12_000}) {
                h.userEvent("p-a", TrendEvent.CLICK, ts, "u-1");
            }
            h.userEvent("p-a", TrendEvent.CLICK, 4_000, "u-2");
            for (long ts : new long[] {5_000, 6_000, 13_000}) {
                h.userEvent("p-a", TrendEvent.CART, ts, "u-2");
            }
            // [-10 s, 10 s): clicks min(3, 2) + 1, carts min(2, 2): 3 + 6 = 9.
            assertEquals(List.of(row(10_000, "p-a", "toys", 3, 2, 0, 9, 5.5, V0)),
                    h.fire(9_999));
            // [0 s, 20 s): clicks min(5, 2) + 1, carts min(3, 2): 3 + 6 = 9.
            assertEquals(List.of(row(20_000, "p-a", "toys", 3, 2, 0, 9, 5.5, V0)),
                    h.fire(19_999));
            // [10 s, 30 s): clicks min(2, 2), carts 1: 2 + 3 = 5, against 9 (capped too).
            assertEquals(List.of(row(30_000, "p-a", "toys", 2, 1, 0, 5, 7.0 / 11, V0)),
                    h.fire(29_999));
            assertEquals(List.of(), h.late());
            h.fire(59_999);
            assertEquals(0, h.keyedStateEntries());
            assertEquals(0, h.h.numEventTimeTimers());
        }
    }

    @Test
    void theCapHoldsForEventsThatCountOnlyInTheLaterWindows() throws Exception {
        // Lateness 5 s: at 15 s [-10 s, 10 s) is final, so a click at 4 s counts in
        // [0 s, 20 s) only.
        try (Harness h = new Harness(capSpec(5_000)).open()) {
            h.userEvent("p-a", TrendEvent.CLICK, 1_000, "u-1");
            h.userEvent("p-a", TrendEvent.CLICK, 2_000, "u-1");
            assertEquals(List.of(row(10_000, "p-a", "toys", 2, 0, 0, 2, 2.0, V0)),
                    h.fire(15_000));
            h.userEvent("p-a", TrendEvent.CLICK, 4_000, "u-1");
            h.userEvent("p-a", TrendEvent.CLICK, 4_500, "u-2");
            assertEquals(List.of(row(20_000, "p-a", "toys", 3, 0, 0, 3, 2.5, V0)),
                    h.fire(19_999));
        }
    }

    @Test
    void aRestoredCoreCapsAsBefore() throws Exception {
        OperatorSubtaskState snapshot;
        try (Harness h = new Harness(capSpec(0)).open()) {
            h.userEvent("p-a", TrendEvent.CLICK, 1_000, "u-1");
            h.userEvent("p-a", TrendEvent.CLICK, 2_000, "u-1");
            snapshot = h.h.snapshot(1, 1);
        }
        try (Harness restored = new Harness(capSpec(0))) {
            restored.h.initializeState(snapshot);
            restored.open();
            restored.userEvent("p-a", TrendEvent.CLICK, 3_000, "u-1");
            assertEquals(List.of(row(10_000, "p-a", "toys", 2, 0, 0, 2, 2.0, V0)),
                    restored.fire(9_999));
        }
    }
}
