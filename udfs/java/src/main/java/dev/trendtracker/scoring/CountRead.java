package dev.trendtracker.scoring;

import org.apache.flink.metrics.Counter;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * Counts a record read from an event topic and hands its event type code on:
 * {@code count_read(event_type_code)}, once per record right after decoding, in the JVM.
 *
 * <p>The metric is {@code trend_event_type_events_read{event_type}} (the topic's type), on
 * the operator after the source. (A format's metrics would carry the source's extra
 * {@code deserializer} group in their name.)
 */
public class CountRead extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    private transient Counter[] eventsRead;

    @Override
    public boolean isDeterministic() {
        return false; // called for its side effect: never folded or dropped
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        eventsRead = EventTypeCounters.create(context.getMetricGroup(), "events_read");
    }

    public int eval(int eventTypeCode) {
        eventsRead[eventTypeCode].inc();
        return eventTypeCode;
    }
}
