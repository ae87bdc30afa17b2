package dev.trendtracker.bench;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import dev.trendtracker.window.ProductSlices;
import dev.trendtracker.window.TrendEvent;
import dev.trendtracker.window.WindowSpec;

/**
 * Counting one valid event into its product's slices, as {@code product-windows}
 * ({@code ProductWindows.processElement}) does per event: the event's slice and first open
 * window from the {@link WindowSpec}, then {@link ProductSlices#add} on the product's state.
 *
 * <p>The events name {@code products} products in 20 categories, in a fixed pseudo-random
 * order, stamped over one window of 60 s sliding by 10 s (6 slices), all on time. The
 * product's state is looked up in a hash map, as the heap state backend keeps it by key
 * (no serialization: the figure is the Java code's alone); the states are emptied at every
 * iteration, so each holds at most the window's slices, as in the job.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class ProductSlicesBenchmark {
    static final int EVENTS = 1 << 16;
    static final long WINDOW_MS = 60_000;

    @Param({"1000", "100000"})
    public int products;

    private TrendEvent[] events;
    private int next;
    private WindowSpec spec;
    private Map<String, ProductSlices> states;

    @Setup
    public void setup() {
        spec = new WindowSpec(WINDOW_MS, 10_000, 0, 10, 200, 1.0, 0.0);
        events = new TrendEvent[EVENTS];
        long x = 20240101L;
        for (int i = 0; i < EVENTS; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L; // LCG: a fixed order
            int product = (int) Long.remainderUnsigned(x >>> 17, products);
            events[i] = new TrendEvent(String.format("p-%06d", product), "c-" + (product % 20),
                    (int) Long.remainderUnsigned(x >>> 7, 3),
                    1_704_067_200_000L + (long) i * WINDOW_MS / EVENTS);
        }
    }

    @Setup(Level.Iteration)
    public void newStates() {
        states = new HashMap<>();
    }

    /** One event counted into its product's slices. */
    @Benchmark
    public ProductSlices add() {
        int i = next;
        next = (i + 1) & (EVENTS - 1);
        TrendEvent event = events[i];
        long sliceEnd = spec.sliceEnd(event.ts);
        long firstEnd = spec.firstOpenWindowEnd(sliceEnd, Long.MIN_VALUE);
        ProductSlices slices = states.get(event.productId);
        if (slices == null) {
            slices = new ProductSlices();
            states.put(event.productId, slices);
        }
        slices.add(sliceEnd, firstEnd, event.eventType, event.category, event.ts);
        return slices;
    }
}
