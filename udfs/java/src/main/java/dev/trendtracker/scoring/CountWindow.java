package dev.trendtracker.scoring;

import org.apache.flink.metrics.Counter;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.table.functions.FunctionContext;

/**
 * Counts a window's valid events per (product, category) and event type:
 * {@code window_counts(product_id, category, event_type_code)}, a window aggregate over HOP
 * windows.
 *
 * <p>Flink keeps one {@link WindowCounts} per slice of the window (a window of
 * {@code size/slide} slices), counts each event into its slice ({@link #accumulate}) and adds
 * a window's slices up when the watermark passes its end ({@link #merge}). An event costs one
 * map update, and a window one pass over its slices' counts, with no state access per product
 * and slice. With {@code merge}, Flink also counts in parallel subtasks and adds their partial
 * counts (two-phase aggregation). The result is the window's counts, handed in the JVM to
 * {@link RankWindow}.
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = WindowCounts.class,
                rawSerializer = WindowCountsSerializer.class),
        output = @DataTypeHint(value = "RAW", bridgedTo = WindowCounts.class,
                rawSerializer = WindowCountsSerializer.class))
public class CountWindow extends AggregateFunction<WindowCounts, WindowCounts> {
    private static final long serialVersionUID = 1L;

    private transient Counter[] eventsValid;

    @Override
    public void open(FunctionContext context) throws Exception {
        eventsValid = EventTypeCounters.create(context.getMetricGroup(), "events_valid");
    }

    @Override
    public WindowCounts createAccumulator() {
        return new WindowCounts();
    }

    /** Counts one valid event; {@code eventType} is a {@link WindowCounts} code. */
    public void accumulate(WindowCounts acc,
                           @DataTypeHint(value = "STRING", bridgedTo = StringData.class)
                           StringData productId,
                           @DataTypeHint(value = "STRING", bridgedTo = StringData.class)
                           StringData category,
                           Integer eventType) {
        acc.add(productId, category, eventType);
        if (eventsValid != null) {
            eventsValid[eventType].inc();
        }
    }

    /** Adds up a window's slices, or the partial counts of parallel subtasks. */
    public void merge(WindowCounts acc, Iterable<WindowCounts> others) {
        for (WindowCounts other : others) {
            acc.addAll(other);
        }
    }

    @Override
    public WindowCounts getValue(WindowCounts acc) {
        return acc;
    }
}
