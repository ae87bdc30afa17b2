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
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.types.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scores and ranks each window, popular and rising: {@code rank_window(window_end, counts)
 * OVER (ORDER BY window_time RANGE BETWEEN size + slide PRECEDING AND CURRENT ROW)}, an OVER
 * aggregate over the windows' counts (one row per window), which emits once per window when
 * the watermark passes its end, as the window aggregate before it does.
 *
 * <p>The frame holds the current window's {@link WindowCounts} and those of the windows up to
 * {@code size + slide} before it ({@link WindowHistory}). Every product of the current window
 * is scored with the window's weights and ranked overall and per category, by score (popular)
 * and by momentum against the previous non-overlapping window, {@code size} earlier (rising),
 * top {@code topN} each, ties by product_id ascending; at most {@code maxCategories}
 * categories ({@link WindowRankings}, {@link WindowRanking}). Each item carries its rank in the
 * same ranking of the previous window (one slide earlier): the rankings computed for that
 * window when it was current, or, after a restore, computed again from the frame with the
 * weights that window was scored with. So the output is a function of the events and the
 * weights topic, on replay and after a restore. The result is one row of arrays
 * ({@link WindowRankings#result}) with the window's one {@code weights_version}.
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
@FunctionHint(
        accumulator = @DataTypeHint(value = "RAW", bridgedTo = WindowHistory.class,
                rawSerializer = WindowHistorySerializer.class),
        output = @DataTypeHint("ROW<ranking ARRAY<STRING>, category ARRAY<STRING>, "
                + "`rank` ARRAY<INT>, product_id ARRAY<STRING>, score ARRAY<DOUBLE>, "
                + "clicks ARRAY<BIGINT>, carts ARRAY<BIGINT>, purchases ARRAY<BIGINT>, "
                + "previous_rank ARRAY<INT>, momentum ARRAY<DOUBLE>, weights_version STRING>"))
public class RankWindow extends AggregateFunction<Row, WindowHistory> {
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
    private final long windowSizeMs;
    private final long windowSlideMs;
    private final double risingPrior;
    private final double risingMinScore;

    private transient Weights initial;
    private transient WeightsFeed feed;
    private transient Counter scored;
    private transient MetricGroup metrics;
    private transient Set<String> versionGauges;
    private transient volatile String lastVersion;
    /** The rankings of the last window ranked here (not state: recomputed after a restore). */
    private transient WindowRankings lastRankings;
    private transient long lastWindowEnd;

    public RankWindow(int topN, int maxCategories, String initialWeights, String servers,
                      String topic, String model, String scope, long windowSizeMs,
                      long windowSlideMs, double risingPrior, double risingMinScore) {
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
        if (windowSlideMs <= 0 || windowSizeMs <= 0 || windowSizeMs % windowSlideMs != 0) {
            throw new IllegalArgumentException("window size must be a multiple of the slide");
        }
        if (!(risingPrior > 0) || !(risingMinScore >= 0)) {
            throw new IllegalArgumentException("risingPrior must be positive, risingMinScore "
                    + "not negative");
        }
        this.windowSizeMs = windowSizeMs;
        this.windowSlideMs = windowSlideMs;
        this.risingPrior = risingPrior;
        this.risingMinScore = risingMinScore;
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

    @Override
    public WindowHistory createAccumulator() {
        return new WindowHistory();
    }

    /** A window enters the frame. */
    public void accumulate(WindowHistory acc, LocalDateTime windowEnd,
                           @DataTypeHint(value = "RAW", bridgedTo = WindowCounts.class,
                                   rawSerializer = WindowCountsSerializer.class)
                           WindowCounts counts) {
        acc.add(epochMs(windowEnd), counts);
    }

    /** A window leaves the frame. */
    public void retract(WindowHistory acc, LocalDateTime windowEnd,
                        @DataTypeHint(value = "RAW", bridgedTo = WindowCounts.class,
                                rawSerializer = WindowCountsSerializer.class)
                        WindowCounts counts) {
        acc.remove(epochMs(windowEnd));
    }

    private static long epochMs(LocalDateTime windowEnd) {
        // The job runs with table.local-time-zone UTC: window times are UTC wall times.
        return windowEnd.toInstant(ZoneOffset.UTC).toEpochMilli();
    }

    /** Both rankings of the newest window of the frame (the current row's). */
    @Override
    public Row getValue(WindowHistory acc) {
        Long newest = acc.newest();
        if (newest == null) {
            return WindowRankings.empty(initial.version).result(null);
        }
        long windowEndMs = newest;
        Weights weights = weightsFor(windowEndMs);
        track(weights);
        WindowCounts counts = acc.at(windowEndMs);
        scored.inc(counts.counts.size());
        WindowRankings rankings = rank(acc, windowEndMs, weights);
        WindowRankings previous = previousRankings(acc, windowEndMs - windowSlideMs);
        lastRankings = rankings;
        lastWindowEnd = windowEndMs;
        return rankings.result(previous);
    }

    private WindowRankings rank(WindowHistory acc, long windowEndMs, Weights weights) {
        return WindowRankings.rank(acc.at(windowEndMs), acc.at(windowEndMs - windowSizeMs),
                weights, topN, maxCategories, risingPrior, risingMinScore);
    }

    /**
     * The rankings of the window ending at {@code windowEndMs}: those computed when it was
     * current, or (after a restore) computed again with the weights it was scored with; null
     * when it had no events.
     */
    private WindowRankings previousRankings(WindowHistory acc, long windowEndMs) {
        if (lastRankings != null && lastWindowEnd == windowEndMs) {
            return lastRankings;
        }
        if (acc.at(windowEndMs) == null) {
            return null;
        }
        return rank(acc, windowEndMs, weightsScoredAt(windowEndMs));
    }

    /** The weights a window already scored was scored with. */
    private Weights weightsScoredAt(long windowEndMs) {
        if (feed == null) {
            return initial;
        }
        Weights active = feed.activeAt(windowEndMs);
        return active != null ? active : initial;
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
