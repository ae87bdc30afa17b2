package dev.trendtracker.scoring;

import static dev.trendtracker.scoring.Functions.context;
import static dev.trendtracker.scoring.Functions.count;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.apache.flink.metrics.testutils.MetricListener;
import org.junit.jupiter.api.Test;

/** count_read and count_dead_letter: what they return and what they count. */
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
}
