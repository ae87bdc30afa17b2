package dev.trendtracker.scoring;

import java.util.HashMap;
import java.util.Map;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * Counts a dead letter and hands its reason on: {@code count_dead_letter(event_type, reason)}
 * on the dead-letter branch, so it runs once per invalid or late record, in the JVM.
 *
 * <p>The metric is {@code trend_event_type_reason_dead_letters{event_type, reason}}
 * (event_type is the topic's). Together with {@code events_read} (the decoder) and
 * {@code events_valid} ({@link CountWindow}) it accounts for every record.
 */
public class CountDeadLetter extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    private transient MetricGroup group;
    private transient Map<String, Counter> counters;

    @Override
    public boolean isDeterministic() {
        return false; // called for its side effect: never folded or dropped
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        group = context.getMetricGroup().addGroup("trend");
        counters = new HashMap<>();
    }

    public String eval(String eventType, String reason) {
        String key = eventType + "\u0000" + reason;
        Counter counter = counters.get(key);
        if (counter == null) {
            counter = group.addGroup("event_type", String.valueOf(eventType))
                    .addGroup("reason", String.valueOf(reason)).counter("dead_letters");
            counters.put(key, counter);
        }
        counter.inc();
        return reason;
    }
}
