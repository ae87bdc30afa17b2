package dev.trendtracker.window;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.util.Collector;

/**
 * The job's core as a DataStream graph: from the decoded valid events and the weights records
 * to the ranked windows, and the late events.
 *
 * <pre>
 * events --keyBy(product_id)--\
 *                              product-windows (ProductWindows, keyed broadcast)
 * weights --broadcast---------/     | forward (chained), late events -> late(),
 *                                   |   duplicates -> duplicates()
 *                              local-top-n (LocalTopN: the subtask's candidates)
 *                                   | keyBy(window_end)
 *                              window-merge (WindowMerge: the window's rankings)
 *                                   | keyBy(window_end) and keyBy(window_end + slide)
 *                              previous-ranks (PreviousRanks) -> windows()
 *                                   | forward (chained)
 *                              ranked-rows (one row per window, ranking, category, rank) -> rows()
 * </pre>
 *
 * Every operator runs at the environment's parallelism (none at 1) and has a stable uid, so a
 * savepoint restores into a job that keeps it. {@code events} must carry event-time
 * timestamps and watermarks; so must {@code weights}, stamped as
 * {@link WeightsRecord#watermarkStrategy} does.
 */
public final class TrendTopology {
    public static final String PRODUCT_WINDOWS = "product-windows";
    public static final String LOCAL_TOP_N = "local-top-n";
    public static final String WINDOW_MERGE = "window-merge";
    public static final String PREVIOUS_RANKS = "previous-ranks";
    public static final String RANKED_ROWS = "ranked-rows";

    private final DataStream<RankedWindow> windows;
    private final DataStream<TrendEvent> late;
    private final DataStream<TrendEvent> duplicates;
    private DataStream<RankedRow> rows;

    private TrendTopology(DataStream<RankedWindow> windows, DataStream<TrendEvent> late,
                          DataStream<TrendEvent> duplicates) {
        this.windows = windows;
        this.late = late;
        this.duplicates = duplicates;
    }

    /**
     * The graph over {@code events} (valid events) and {@code weights} (weights records as
     * JSON, see {@link WeightsRecord}); windows are scored with {@code initialWeights} until
     * a weights record applies.
     */
    public static TrendTopology build(DataStream<TrendEvent> events, DataStream<String> weights,
                                      WindowSpec spec, WeightsRecord initialWeights) {
        SingleOutputStreamOperator<ProductWindow> products = events
                .keyBy(event -> event.productId, Types.STRING)
                .connect(weights.broadcast())
                .transform(PRODUCT_WINDOWS, TypeInformation.of(ProductWindow.class),
                        new ProductWindowsOperator(new ProductWindows(spec, initialWeights)))
                .uid(PRODUCT_WINDOWS)
                .name(PRODUCT_WINDOWS);
        DataStream<TrendEvent> late = products.getSideOutput(ProductWindows.LATE);
        DataStream<TrendEvent> duplicates = products.getSideOutput(ProductWindows.DUPLICATE);
        DataStream<ProductWindow> candidates = products
                .transform(LOCAL_TOP_N, TypeInformation.of(ProductWindow.class),
                        new LocalTopN(spec))
                .uid(LOCAL_TOP_N)
                .name(LOCAL_TOP_N);
        DataStream<RankedWindow> ranked = candidates
                .keyBy(candidate -> candidate.windowEnd, Types.LONG)
                .process(new WindowMerge(spec), TypeInformation.of(RankedWindow.class))
                .uid(WINDOW_MERGE)
                .name(WINDOW_MERGE);
        long slide = spec.slideMs;
        DataStream<RankedWindow> windows = ranked
                .connect(ranked)
                .keyBy(window -> window.windowEnd, window -> window.windowEnd + slide,
                        Types.LONG)
                .process(new PreviousRanks(spec), TypeInformation.of(RankedWindow.class))
                .uid(PREVIOUS_RANKS)
                .name(PREVIOUS_RANKS);
        return new TrendTopology(windows, late, duplicates);
    }

    /** Each window's rankings, whole, each time it is emitted (see {@link RankedWindow}). */
    public DataStream<RankedWindow> windows() {
        return windows;
    }

    /** One row per (window, ranking, category, rank), each time the window is emitted. */
    public DataStream<RankedRow> rows() {
        if (rows == null) {
            rows = windows
                    .flatMap((RankedWindow window, Collector<RankedRow> out) -> {
                        for (RankedRow row : window.rows()) {
                            out.collect(row);
                        }
                    }, TypeInformation.of(RankedRow.class))
                    .uid(RANKED_ROWS)
                    .name(RANKED_ROWS);
        }
        return rows;
    }

    /** Valid events behind the allowed lateness of all their windows (dead letters). */
    public DataStream<TrendEvent> late() {
        return late;
    }

    /** Valid, on-time copies of events counted before within the dedup horizon. */
    public DataStream<TrendEvent> duplicates() {
        return duplicates;
    }
}
