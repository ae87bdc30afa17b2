package dev.trendtracker.scoring;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.HashSet;
import java.util.Set;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scores and ranks one window: {@code rank_window(window_end, counts)}, called once per window
 * with the window's {@link WindowCounts} when it fires.
 *
 * <p>Every product is scored with the window's weights and the top {@code topN} are kept
 * overall and per category (score descending, product_id ascending), for at most
 * {@code maxCategories} categories: those with the highest window score, ties by name
 * ({@link WindowRanking}). The result is one row of arrays ({@link WindowRanking#result})
 * with the window's one {@code weights_version}.
 *
 * <p>Which weights: a bounded run (no {@code servers}) uses {@code initialWeights}
 * throughout. A streaming run follows the weights topic ({@link WeightsFeed}) and records, on
 * the same topic, which weights it started using at which window (an activation) and the
 * newest window it scored. A window that is fired again after a restore from a checkpoint
 * (at or before the newest scored) is scored with the weights of the newest activation at or
 * before it, as it was the first time; only a window past the newest scored takes up newly
 * published weights. Both records are acknowledged before the window's result goes to the
 * sinks. So the result of a window depends on the events and the weights topic, never on the
 * registry at replay time, and MLflow is not needed to restart. {@code scope} (the consumer
 * group) separates the histories of independent runs.
 */
public class RankWindow extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(RankWindow.class);
    /** How long the first window of a (re)started job waits for the weights topic. */
    private static final long FEED_WAIT_MS = 15_000;

    private final int topN;
    private final int maxCategories;
    private final String initialWeights;
    private final String servers;
    private final String topic;
    private final String model;
    private final String scope;

    private transient Weights initial;
    private transient WeightsFeed feed;
    private transient Counter scored;
    private transient MetricGroup metrics;
    private transient Set<String> versionGauges;
    private transient volatile String lastVersion;

    public RankWindow(int topN, int maxCategories, String initialWeights, String servers,
                      String topic, String model, String scope) {
        if (topN < 1) {
            throw new IllegalArgumentException("topN must be positive");
        }
        if (maxCategories < 1) {
            throw new IllegalArgumentException("maxCategories must be positive");
        }
        this.topN = topN;
        this.maxCategories = maxCategories;
        this.initialWeights = initialWeights;
        this.servers = servers;
        this.topic = topic;
        this.model = model;
        this.scope = scope;
        Weights.parse(initialWeights); // fail when the job is built, not in a worker
    }

    @Override
    public boolean isDeterministic() {
        return false; // the weights in force depend on the weights topic
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        initial = Weights.parse(initialWeights);
        if (servers != null && !servers.isEmpty()) {
            feed = WeightsFeed.acquire(servers, topic, model, scope);
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

    @FunctionHint(output = @DataTypeHint("ROW<category ARRAY<STRING>, `rank` ARRAY<INT>, "
            + "product_id ARRAY<STRING>, score ARRAY<DOUBLE>, clicks ARRAY<BIGINT>, "
            + "carts ARRAY<BIGINT>, purchases ARRAY<BIGINT>, weights_version STRING>"))
    public Row eval(LocalDateTime windowEnd,
                    @DataTypeHint(value = "RAW", bridgedTo = WindowCounts.class,
                            rawSerializer = WindowCountsSerializer.class) WindowCounts counts) {
        // The job runs with table.local-time-zone UTC: window times are UTC wall times.
        long windowEndMs = windowEnd.toInstant(ZoneOffset.UTC).toEpochMilli();
        Weights weights = weightsFor(windowEndMs);
        track(weights);
        scored.inc(counts.counts.size());
        return counts.rank(weights, topN, maxCategories).result();
    }

    /** The weights of the window ending at {@code windowEndMs} (see the class comment). */
    private Weights weightsFor(long windowEndMs) {
        if (feed == null) {
            return initial;
        }
        Weights published = feed.current(FEED_WAIT_MS);
        Weights current = published != null ? published : initial;
        Weights active = feed.activeAt(windowEndMs);
        if (active != null && windowEndMs <= feed.lastScored()) {
            return active; // scored before this restore: the weights it had
        }
        if (active == null || !active.sameAs(current)) {
            feed.activate(windowEndMs, current);
            active = current;
        }
        feed.markScored(windowEndMs, active);
        return active;
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
}
