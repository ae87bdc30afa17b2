package dev.trendtracker.scoring;

import static dev.trendtracker.scoring.Functions.context;
import static dev.trendtracker.scoring.Functions.count;
import static dev.trendtracker.scoring.Rankings.row;
import static dev.trendtracker.scoring.Rankings.rows;
import static dev.trendtracker.scoring.WindowRankingTest.V1;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.apache.flink.metrics.testutils.MetricListener;
import org.apache.flink.table.data.StringData;
import org.junit.jupiter.api.Test;

/** count_read, count_dead_letter and window_counts: what they return and what they count. */
class CountingFunctionsTest {

    @Test
    void countReadCountsEachRecordUnderItsTopicsTypeAndHandsTheCodeOn() throws Exception {
        MetricListener metrics = new MetricListener();
        CountRead countRead = new CountRead();
        countRead.open(context(metrics));
        assertEquals(0, countRead.eval(0));
        assertEquals(2, countRead.eval(2));
        assertEquals(2, countRead.eval(2));
        assertEquals(1, count(metrics, "trend", "event_type", "click", "events_read"));
        assertEquals(0, count(metrics, "trend", "event_type", "cart", "events_read"));
        assertEquals(2, count(metrics, "trend", "event_type", "purchase", "events_read"));
        assertEquals(false, countRead.isDeterministic());
    }

    @Test
    void countDeadLetterCountsPerTypeAndReasonAndHandsTheReasonOn() throws Exception {
        MetricListener metrics = new MetricListener();
        CountDeadLetter countDeadLetter = new CountDeadLetter();
        countDeadLetter.open(context(metrics));
        assertEquals("not_json", countDeadLetter.eval("click", "not_json"));
        assertEquals("late", countDeadLetter.eval("click", "late"));
        assertEquals("late", countDeadLetter.eval("click", "late"));
        assertEquals("late", countDeadLetter.eval("cart", "late"));
        assertEquals(null, countDeadLetter.eval("purchase", null));
        assertEquals(1, count(metrics, "trend", "event_type", "click", "reason", "not_json",
                "dead_letters"));
        assertEquals(2, count(metrics, "trend", "event_type", "click", "reason", "late",
                "dead_letters"));
        assertEquals(1, count(metrics, "trend", "event_type", "cart", "reason", "late",
                "dead_letters"));
        assertEquals(1, count(metrics, "trend", "event_type", "purchase", "reason", "null",
                "dead_letters"));
        assertEquals(false, countDeadLetter.isDeterministic());
    }

    @Test
    void windowCountsCountsSlicesAndMergesThemIntoTheWindow() throws Exception {
        MetricListener metrics = new MetricListener();
        CountWindow function = new CountWindow();
        function.open(context(metrics));
        WindowCounts slice1 = function.createAccumulator();
        WindowCounts slice2 = function.createAccumulator();
        function.accumulate(slice1, StringData.fromString("p-1"), StringData.fromString("toys"), 0);
        function.accumulate(slice1, StringData.fromString("p-1"), StringData.fromString("toys"), 2);
        function.accumulate(slice2, StringData.fromString("p-1"), StringData.fromString("toys"), 0);
        function.accumulate(slice2, StringData.fromString("p-2"), StringData.fromString("toys"), 1);
        WindowCounts window = function.createAccumulator();
        function.merge(window, List.of(slice1, slice2));
        assertSame(window, function.getValue(window));
        assertArrayEquals(new long[] {2, 0, 1}, WindowCountsTest.countsOf(window, "p-1", "toys"));
        assertArrayEquals(new long[] {0, 1, 0}, WindowCountsTest.countsOf(window, "p-2", "toys"));
        // The slices are left as they were.
        assertArrayEquals(new long[] {1, 0, 1}, WindowCountsTest.countsOf(slice1, "p-1", "toys"));
        assertEquals(2, count(metrics, "trend", "event_type", "click", "events_valid"));
        assertEquals(1, count(metrics, "trend", "event_type", "cart", "events_valid"));
        assertEquals(1, count(metrics, "trend", "event_type", "purchase", "events_valid"));
        // p-1: 2 + 5 = 7; p-2: 3.
        assertEquals(List.of(row(null, 1, "p-1", 7.0), row(null, 2, "p-2", 3.0)),
                Rankings.columns(rows(window.rank(V1, 2, 1).result(), 7), 0, 1, 2, 3)
                        .subList(0, 2));
    }

    @Test
    void windowCountsCountsWithoutMetricsBeforeOpen() {
        CountWindow function = new CountWindow();
        WindowCounts acc = function.createAccumulator();
        function.accumulate(acc, StringData.fromString("p-1"), null, 1);
        assertArrayEquals(new long[] {0, 1, 0}, WindowCountsTest.countsOf(acc, "p-1", null));
        assertTrue(acc.counts.size() == 1);
    }
}
