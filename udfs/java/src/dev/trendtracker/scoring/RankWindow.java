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
 * Scores and ranks one window: {@code rank_window(product_id, category, clicks, carts,
 * purchases)} over the window's (product, category) counts, grouped by window.
 *
 * <p>Runs as a window aggregate over the window's counts, so it is called once per (window,
 * product, category) aggregate and returns once per window, all in the JVM. The window's
 * weights are chosen when its first aggregate arrives (when the window fires) and kept in the
 * accumulator ({@link WindowRanking}), which is Flink state: every ranking of the window,
 * overall and per category, carries one {@code weights_version}, and a window restored from a
 * checkpoint keeps the version it had. Scores are computed on arrival and only the best
 * {@code topN} of each ranking are kept, so the state of a window is
 * {@code O(topN x categories)}. The result is {@link WindowRanking#result}.
 *
 * <p>The weights: {@code initialWeights} (a weights record, fixed when the job is built) until
 * the weights topic says otherwise. Without {@code servers} the weights never change (a
 * bounded run).
 */
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = WindowRanking.class),
        output = @DataTypeHint("ROW<category ARRAY<STRING>, `rank` ARRAY<INT>, "
                + "product_id ARRAY<STRING>, score ARRAY<DOUBLE>, clicks ARRAY<BIGINT>, "
                + "carts ARRAY<BIGINT>, purchases ARRAY<BIGINT>, weights_version STRING>"))
public class RankWindow extends AggregateFunction<Row, WindowRanking> {
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
    public WindowRanking createAccumulator() {
        return new WindowRanking(topN);
    }

    public void accumulate(WindowRanking acc, String productId, String category, Long clicks,
                           Long carts, Long purchases) {
        if (!acc.isPinned()) {
            Weights weights = weightsNow();
            acc.pin(weights);
            track(weights);
        }
        acc.add(productId, category, clicks == null ? 0 : clicks, carts == null ? 0 : carts,
                purchases == null ? 0 : purchases);
        scored.inc();
    }

    @Override
    public Row getValue(WindowRanking acc) {
        return acc.result();
    }
}
