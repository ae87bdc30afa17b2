package dev.trendtracker.scoring;

import static dev.trendtracker.scoring.Functions.context;
import static dev.trendtracker.scoring.Functions.count;
import static dev.trendtracker.scoring.Rankings.counts;
import static dev.trendtracker.scoring.Rankings.product;
import static dev.trendtracker.scoring.Rankings.row;
import static dev.trendtracker.scoring.Rankings.rows;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.LocalDateTime;
import java.util.List;

import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.testutils.MetricListener;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/**
 * rank_window over the windows' counts in a bounded run (no weights topic): each window is
 * ranked with the initial weights, against the window {@code size} earlier (momentum) and the
 * window one slide earlier (previous_rank), and again the same after a restore.
 */
class RankWindowTest {
    static final String V1 = "{\"weights_version\": \"v1\", \"click\": 1, \"cart\": 3, "
            + "\"purchase\": 5}";
    // Windows of 60 s sliding by 30 s; window ends in UTC wall time, as the job has them.
    static final LocalDateTime T1 = LocalDateTime.of(2024, 1, 1, 0, 1, 0);
    static final LocalDateTime T2 = LocalDateTime.of(2024, 1, 1, 0, 1, 30);
    static final LocalDateTime T3 = LocalDateTime.of(2024, 1, 1, 0, 2, 0);
    static final WindowCounts W1 = counts(product("p-1", "a", 2, 0, 0)); // p-1 2
    static final WindowCounts W2 = counts(product("p-1", "a", 1, 0, 0),
            product("p-2", "a", 0, 0, 1)); // p-1 1, p-2 5
    static final WindowCounts W3 = counts(product("p-1", "a", 4, 0, 0),
            product("p-2", "a", 0, 1, 0)); // p-1 4, p-2 3

    static RankWindow bounded() {
        return new RankWindow(2, 10, V1, null, "trend-weights", "trend-weights", "test",
                60_000, 30_000, 2.0, 0.0);
    }

    /** (ranking, category, rank, product_id, score, previous_rank, momentum) rows. */
    static List<List<Object>> result(Row row) {
        return Rankings.columns(rows(row, 10), 0, 1, 2, 3, 4, 8, 9);
    }

    @Test
    void eachWindowIsRankedAgainstTheWindowsBeforeIt() throws Exception {
        MetricListener metrics = new MetricListener();
        RankWindow function = bounded();
        function.open(context(metrics));
        WindowHistory acc = function.createAccumulator();

        function.accumulate(acc, T1, W1);
        Row first = function.getValue(acc);
        assertEquals("v1", first.getField(10));
        // Nothing before T1: momentum from nothing, (2 + 2) / 2; no previous ranks.
        assertEquals(List.of(row("popular", null, 1, "p-1", 2.0, null, 2.0),
                        row("popular", "a", 1, "p-1", 2.0, null, 2.0),
                        row("rising", null, 1, "p-1", 2.0, null, 2.0),
                        row("rising", "a", 1, "p-1", 2.0, null, 2.0)),
                result(first));

        function.accumulate(acc, T2, W2);
        // No window 60 s before T2; previous ranks from T1's rankings.
        // p-2: (5 + 2) / 2 = 3.5; p-1: (1 + 2) / 2 = 1.5.
        assertEquals(List.of(row("popular", null, 1, "p-2", 5.0, null, 3.5),
                        row("popular", null, 2, "p-1", 1.0, 1, 1.5),
                        row("popular", "a", 1, "p-2", 5.0, null, 3.5),
                        row("popular", "a", 2, "p-1", 1.0, 1, 1.5),
                        row("rising", null, 1, "p-2", 5.0, null, 3.5),
                        row("rising", null, 2, "p-1", 1.0, 1, 1.5),
                        row("rising", "a", 1, "p-2", 5.0, null, 3.5),
                        row("rising", "a", 2, "p-1", 1.0, 1, 1.5)),
                result(function.getValue(acc)));

        function.accumulate(acc, T3, W3);
        // Against T1 (60 s before): p-1 (4 + 2) / (2 + 2) = 1.5; p-2 (3 + 2) / 2 = 2.5.
        // Previous ranks from T2: popular and rising both p-2 first, p-1 second.
        List<List<Object>> third = List.of(row("popular", null, 1, "p-1", 4.0, 2, 1.5),
                row("popular", null, 2, "p-2", 3.0, 1, 2.5),
                row("popular", "a", 1, "p-1", 4.0, 2, 1.5),
                row("popular", "a", 2, "p-2", 3.0, 1, 2.5),
                row("rising", null, 1, "p-2", 3.0, 1, 2.5),
                row("rising", null, 2, "p-1", 4.0, 2, 1.5),
                row("rising", "a", 1, "p-2", 3.0, 1, 2.5),
                row("rising", "a", 2, "p-1", 4.0, 2, 1.5));
        Row result = function.getValue(acc);
        assertEquals(third, result(result));
        assertEquals(List.of(row(4L, 0L, 0L), row(0L, 1L, 0L)),
                Rankings.columns(rows(result, 10), 5, 6, 7).subList(0, 2));

        // 1 + 2 + 2 aggregates scored; the weights in use.
        assertEquals(5, count(metrics, "trend", "aggregates_scored"));
        Gauge<Integer> inUse = metrics.<Integer>getGauge("trend", "weights_version", "v1",
                "weights_in_use").orElseThrow();
        assertEquals(1, inUse.getValue());

        // After a restore the frame comes back from state, not the last rankings: T3 again
        // gives the same result, T2's rankings computed again from the frame.
        RankWindow restored = bounded();
        restored.open(context(new MetricListener()));
        WindowHistory restoredAcc = SerializersTest.read(WindowHistorySerializer.INSTANCE,
                SerializersTest.bytes(WindowHistorySerializer.INSTANCE, acc));
        assertEquals(third, result(restored.getValue(restoredAcc)));
        restored.close();
        function.close();
    }

    @Test
    void aWindowLeavingTheFrameIsForgotten() throws Exception {
        RankWindow function = bounded();
        function.open(context(new MetricListener()));
        WindowHistory acc = function.createAccumulator();
        assertEquals(List.of(), result(function.getValue(acc)));
        assertEquals("v1", function.getValue(acc).getField(10));
        function.accumulate(acc, T1, W1);
        function.accumulate(acc, T2, W2);
        function.retract(acc, T2, W2);
        assertEquals(1_704_067_260_000L, acc.newest()); // T1
        assertEquals(null, acc.at(1_704_067_290_000L));
        function.retract(acc, T1, W1);
        assertEquals(null, acc.newest());
    }

    @Test
    void theArgumentsAreCheckedWhenTheJobIsBuilt() {
        assertEquals("topN must be positive", assertThrows(IllegalArgumentException.class,
                () -> new RankWindow(0, 10, V1, null, "t", "m", "s", 60_000, 30_000, 2, 0))
                .getMessage());
        assertEquals("maxCategories must be positive", assertThrows(
                IllegalArgumentException.class,
                () -> new RankWindow(1, 0, V1, null, "t", "m", "s", 60_000, 30_000, 2, 0))
                .getMessage());
        assertEquals("window size must be a multiple of the slide", assertThrows(
                IllegalArgumentException.class,
                () -> new RankWindow(1, 1, V1, null, "t", "m", "s", 60_000, 40_000, 2, 0))
                .getMessage());
        assertEquals("risingPrior must be positive, risingMinScore not negative", assertThrows(
                IllegalArgumentException.class,
                () -> new RankWindow(1, 1, V1, null, "t", "m", "s", 60_000, 30_000, 0, 0))
                .getMessage());
        assertEquals("risingPrior must be positive, risingMinScore not negative", assertThrows(
                IllegalArgumentException.class,
                () -> new RankWindow(1, 1, V1, null, "t", "m", "s", 60_000, 30_000, 1, -1))
                .getMessage());
        assertEquals("weight click is not a number", assertThrows(
                IllegalArgumentException.class,
                () -> new RankWindow(1, 1, "{\"weights_version\": \"v\"}", null, "t", "m", "s",
                        60_000, 30_000, 1, 0)).getMessage());
        assertEquals(false, bounded().isDeterministic());
    }
}
