package dev.trendtracker.scoring;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

import dev.trendtracker.format.EventDecoder;

/** One counter per event type, indexed by the event type code: {@code trend_event_type_<name>}. */
final class EventTypeCounters {
    private EventTypeCounters() {}

    static Counter[] create(MetricGroup operator, String name) {
        MetricGroup group = operator.addGroup("trend");
        Counter[] counters = new Counter[EventDecoder.EVENT_TYPES.length];
        for (int code = 0; code < counters.length; code++) {
            counters[code] = group.addGroup("event_type", EventDecoder.EVENT_TYPES[code])
                    .counter(name);
        }
        return counters;
    }
}
