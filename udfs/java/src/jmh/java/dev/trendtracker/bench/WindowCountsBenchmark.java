package dev.trendtracker.bench;

import java.util.concurrent.TimeUnit;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import dev.trendtracker.scoring.CountWindow;
import dev.trendtracker.scoring.WindowCounts;

/**
 * Counting one event into its window slice: {@code window_counts}' accumulate, as the window
 * aggregate calls it per valid event ({@link CountWindow} on a {@link WindowCounts}).
 *
 * <p>The events name {@code products} products in 20 categories, in a fixed pseudo-random
 * order, with each record's strings fresh (as the decoder hands them over); the slice is
 * emptied at every iteration, so it holds at most every product once, as a slice does.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class WindowCountsBenchmark {
    static final int EVENTS = 1 << 16;

    @Param({"1000", "100000"})
    public int products;

    private BinaryStringData[] productIds;
    private BinaryStringData[] categories;
    private Integer[] types;
    private int next;
    private CountWindow function;
    private WindowCounts slice;

    @Setup
    public void setup() {
        productIds = new BinaryStringData[EVENTS];
        categories = new BinaryStringData[EVENTS];
        types = new Integer[EVENTS];
        long x = 20240101L;
        for (int i = 0; i < EVENTS; i++) {
            x = x * 6364136223846793005L + 1442695040888963407L; // LCG: a fixed order
            int product = (int) Long.remainderUnsigned(x >>> 17, products);
            productIds[i] = (BinaryStringData) StringData.fromString(
                    String.format("p-%06d", product));
            categories[i] = (BinaryStringData) StringData.fromString("c-" + (product % 20));
            types[i] = (int) Long.remainderUnsigned(x >>> 7, 3);
        }
        function = new CountWindow();
    }

    @Setup(Level.Iteration)
    public void newSlice() {
        slice = function.createAccumulator();
    }

    /** One event counted into the slice. */
    @Benchmark
    public WindowCounts accumulate() {
        int i = next;
        next = (i + 1) & (EVENTS - 1);
        // Fresh strings per record, as the decoder gives them (the first of a product is
        // copied into the slice).
        function.accumulate(slice, BinaryStringData.fromBytes(productIds[i].toBytes()),
                BinaryStringData.fromBytes(categories[i].toBytes()), types[i]);
        return slice;
    }
}
