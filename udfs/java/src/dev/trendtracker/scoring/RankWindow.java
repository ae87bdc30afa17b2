package dev.trendtracker.scoring;

import java.util.HashSet;
import java.util.Set;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.types.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Counts, scores and ranks one window:
 * {@code rank_window(product_id, category, event_type_code)} over the window's valid events.
 *
 * <p>A window aggregate over HOP windows, all in the JVM. Flink keeps one {@link WindowCounts}
 * per slice of the window (a window of {@code size/slide} slices), counts each event into its
 * slice ({@link #accumulate}), adds a window's slices up when the watermark passes its end
 * ({@link #merge}), and then asks for the result ({@link #getValue}): every product scored
 * with the weights in force at that moment, and the top {@code topN} overall and per category
 * (score descending, product_id ascending). So an event costs one map update, a window one
 * pass over its slices' counts, and the scoring one call per (window, product), with no state
 * access per product. With {@code merge}, Flink also counts in parallel subtasks and adds
 * their partial counts (two-phase aggregation).
 *
 * <p>The result is one row of arrays per window ({@link WindowRanking#result}) with the
 * window's one {@code weights_version}.
 *
 * <p>The weights: {@code initialWeights} (a weights record, fixed when the job is built) until
 * the weights topic says otherwise. Without {@code servers} the weights never change (a
 * bounded run).
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = WindowCounts.class,
                rawSerializer = WindowCountsSerializer.class),
        output = @DataTypeHint("ROW<category ARRAY<STRING>, `rank` ARRAY<INT>, "
                + "product_id ARRAY<STRING>, score ARRAY<DOUBLE>, clicks ARRAY<BIGINT>, "
                + "carts ARRAY<BIGINT>, purchases ARRAY<BIGINT>, weights_version STRING>"))
public class RankWindow extends AggregateFunction<Row, WindowCounts> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(RankWindow.class);
    /** How long the first window of a (re)started job waits for the weights topic. */
    private static final long FEED_WAIT_MS = 15_000;

    private final int topN;
    private final String initialWeights;
    private final String servers;
    private final String topic;
    private final String model;

    private transient Weights initial;
    private transient WeightsFeed feed;
    private transient Counter scored;
    private transient MetricGroup metrics;
    private transient Set<String> versionGauges;
    private transient volatile String lastVersion;

    public RankWindow(int topN, String initialWeights, String servers, String topic,
                      String model) {
        if (topN < 1) {
            throw new IllegalArgumentException("topN must be positive");
        }
        this.topN = topN;
        this.initialWeights = initialWeights;
        this.servers = servers;
        this.topic = topic;
        this.model = model;
        Weights.parse(initialWeights); // fail at build time, not in a worker
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        initial = Weights.parse(initialWeights);
        if (servers != null && !servers.isEmpty()) {
            feed = WeightsFeed.acquire(servers, topic, model);
        }
        metrics = context.getMetricGroup().addGroup("trend");
        scored = metrics.counter("aggregates_scored");
        versionGauges = new HashSet<>();
    }

    @Override
    public void close() throws Exception {
        if (feed != null) {
            feed.release();
            feed = null;
        }
    }

    /** The weights in force now: the newest published ones, else the initial ones. */
    private Weights weightsNow() {
        if (feed == null) {
            return initial;
        }
        Weights published = feed.current(FEED_WAIT_MS);
        return published != null ? published : initial;
    }

    private void track(Weights weights) {
        lastVersion = weights.version;
        if (versionGauges.add(weights.version)) {
            final String version = weights.version;
            metrics.addGroup("weights_version", version).gauge("weights_in_use",
                    (Gauge<Integer>) () -> version.equals(lastVersion) ? 1 : 0);
            LOG.info("scoring windows with weights {}", weights);
        }
    }

    @Override
    public WindowCounts createAccumulator() {
        return new WindowCounts();
    }

    /** Counts one valid event; {@code eventType} is a {@link WindowCounts} code. */
    public void accumulate(WindowCounts acc, String productId, String category,
                           Integer eventType) {
        acc.add(productId, category, eventType);
    }

    /** Adds up slices (a window of several slices) or partial counts of parallel tasks. */
    public void merge(WindowCounts acc, Iterable<WindowCounts> others) {
        for (WindowCounts other : others) {
            acc.addAll(other);
        }
    }

    @Override
    public Row getValue(WindowCounts acc) {
        Weights weights = weightsNow();
        track(weights);
        scored.inc(acc.counts.size());
        return acc.rank(weights, topN).result();
    }
}
