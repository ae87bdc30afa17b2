package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.expressions.Expression;
import org.apache.flink.table.api.Expressions;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.flink.streaming.api.graph.StreamNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * TrendTables.attach in a real table environment (a MiniCluster in this JVM): the decoded
 * records' table and a weights table in; the window results (one row of arrays per window
 * emission) and the dead letters (invalid records, late events) out.
 */
class TrendTablesTest {
    static final String[] NAMES = {"payload", "topic", "partition", "offset", "event_type",
        "event_type_code", "reason", "product_id", "category", "event_id", "user_id", "ts",
        "traceparent"};

    /** A watermark right after each record, at its timestamp. */
    static final class EveryRecord<T> implements WatermarkGenerator<T> {
        @Override
        public void onEvent(T row, long timestamp, WatermarkOutput output) {
            output.emitWatermark(new Watermark(timestamp));
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {}
    }

    static Row record(long offset, String reason, String productId, int type, long et) {
        return record(offset, reason, productId, type, et, "e-" + offset);
    }

    /** The traceparent header of the record at {@code offset}: odd offsets have one. */
    static String traceparent(long offset) {
        return offset % 2 == 0 ? null
                : String.format("00-4bf92f3577b34da6a3ce929d0e0e%04x-00f067aa0ba902b7-01", offset);
    }

    static Row record(long offset, String reason, String productId, int type, long et,
                      String eventId) {
        return Row.of("{\"n\":" + offset + "}", "clicks", 0, offset,
                new String[] {"click", "cart", "purchase"}[type], type, reason, productId,
                productId == null ? null : "toys", reason == null ? eventId : null,
                reason == null ? "u-" + offset : null, et, traceparent(offset));
    }

    static Table records(StreamExecutionEnvironment env, StreamTableEnvironment tEnv,
                         Row... rows) {
        DataStream<Row> stream = env.fromData(List.of(rows), Types.ROW_NAMED(NAMES,
                        Types.STRING, Types.STRING, Types.INT, Types.LONG, Types.STRING,
                        Types.INT, Types.STRING, Types.STRING, Types.STRING, Types.STRING,
                        Types.STRING, Types.LONG, Types.STRING))
                .assignTimestampsAndWatermarks(WatermarkStrategy
                        .<Row>forGenerator(context -> new EveryRecord<>())
                        .withTimestampAssigner((row, previous) -> (Long) row.getField(11)));
        Table withTs = tEnv.fromDataStream(stream, Schema.newBuilder()
                .columnByMetadata("et", DataTypes.TIMESTAMP_LTZ(3), "rowtime")
                .watermark("et", "SOURCE_WATERMARK()")
                .build());
        return withTs.select(TrendTables.RECORD_COLUMNS.stream().map(Expressions::$)
                .toArray(Expression[]::new));
    }

    static Table weights(StreamExecutionEnvironment env, StreamTableEnvironment tEnv,
                         String... records) {
        DataStream<String> stream = env.fromData(List.of(records), Types.STRING)
                .assignTimestampsAndWatermarks(WeightsRecord.watermarkStrategy());
        return tEnv.fromDataStream(stream, Schema.newBuilder()
                .columnByMetadata("applies", DataTypes.TIMESTAMP_LTZ(3), "rowtime")
                .watermark("applies", "SOURCE_WATERMARK()")
                .build());
    }

    /** The rows may keep the core's internal data (TimestampData, GenericArrayData). */
    static long epochMs(Object time) {
        return time instanceof LocalDateTime
                ? ((LocalDateTime) time).toInstant(ZoneOffset.UTC).toEpochMilli()
                : ((TimestampData) time).getMillisecond();
    }

    static Object[] array(Object value) {
        return value instanceof Object[] ? (Object[]) value
                : ((GenericArrayData) value).toObjectArray();
    }

    /** A window result row, briefly: its end, version and its rows. */
    static String window(Row row) {
        Object[] ranking = array(row.getField("ranking_list"));
        Object[] category = array(row.getField("category_list"));
        Object[] rank = array(row.getField("rank_list"));
        Object[] product = array(row.getField("product_id_list"));
        Object[] score = array(row.getField("score_list"));
        Object[] previous = array(row.getField("previous_rank_list"));
        Object[] momentum = array(row.getField("momentum_list"));
        StringBuilder text = new StringBuilder("window " + epochMs(row.getField("window_start"))
                + " " + epochMs(row.getField("window_end")) + " "
                + row.getField("weights_version") + ":");
        for (int i = 0; i < product.length; i++) {
            text.append(" ").append(ranking[i]).append("/").append(category[i]).append("/")
                    .append(rank[i]).append("/").append(product[i]).append("/")
                    .append(score[i]).append("/").append(previous[i]).append("/")
                    .append(momentum[i]);
        }
        return text.toString();
    }

    @Test
    void recordsAndWeightsGoInWindowsAndDeadLettersComeOut() throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        // One subtask everywhere: the watermark each record meets is then fixed.
        env.setParallelism(1);
        StreamTableEnvironment tEnv = StreamTableEnvironment.create(env);
        Table records = records(env, tEnv,
                record(0, null, "p-1", TrendEvent.CLICK, 1_000),
                record(1, "bad_id", null, TrendEvent.CLICK, 1_000),
                record(2, null, "p-2", TrendEvent.CART, 12_000),
                // Behind the watermark: [-10 s, 10 s) is final, [0 s, 20 s) is not.
                record(3, null, "p-1", TrendEvent.CLICK, 500),
                record(4, null, "p-2", TrendEvent.CLICK, 25_000),
                // Every window of it is final: late.
                record(5, null, "p-3", TrendEvent.CLICK, 1_500),
                // A copy of record 4 (its id, product and type): counted once.
                record(6, null, "p-2", TrendEvent.CLICK, 25_000, "e-4"));
        Table weights = weights(env, tEnv, "{\"weights_version\": \"v1\", \"click\": 2, "
                + "\"cart\": 0, \"purchase\": 1, \"applies_from_ms\": 20000}");
        Table[] tables = TrendTables.attach(tEnv, records, weights, 20_000, 10_000, 0, 2, 10,
                2.0, 0.0, 2, Double.NEGATIVE_INFINITY, 1.0, 60_000, 5,
                "{\"weights_version\": \"v0\", \"click\": 1, \"cart\": 3, "
                        + "\"purchase\": 5, \"published_ms\": 0}", "late", "duplicate");
        assertEquals(List.of("window_start", "window_end", "ranking_list", "category_list",
                "rank_list", "product_id_list", "score_list", "clicks_list", "carts_list",
                "purchases_list", "previous_rank_list", "momentum_list", "weights_version"),
                tables[0].getResolvedSchema().getColumnNames());
        assertEquals(List.of("payload", "topic", "partition", "offset", "event_type", "reason",
                "traceparent"), tables[1].getResolvedSchema().getColumnNames());

        DataStream<String> windows = tEnv.toDataStream(tables[0]).map(TrendTablesTest::window);
        DataStream<String> deadLetters = tEnv.toDataStream(tables[1]).map(
                row -> "dead " + row.getField(3) + " " + row.getField(4) + " "
                        + row.getField(5) + " " + row.getField(0) + " " + row.getField(6));
        List<String> out = new ArrayList<>();
        try (CloseableIterator<String> results = windows.union(deadLetters)
                .executeAndCollect()) {
            results.forEachRemaining(out::add);
        }
        out.sort(null);
        assertEquals(List.of(
                // Each with its record's traceparent header, if it had one.
                "dead 1 click bad_id {\"n\":1}"
                        + " 00-4bf92f3577b34da6a3ce929d0e0e0001-00f067aa0ba902b7-01",
                "dead 5 click late {\"n\":5}"
                        + " 00-4bf92f3577b34da6a3ce929d0e0e0005-00f067aa0ba902b7-01",
                "dead 6 click duplicate {\"n\":6} null",
                "window -10000 10000 v0: popular/null/1/p-1/1.0/null/1.5"
                        + " popular/toys/1/p-1/1.0/null/1.5 rising/null/1/p-1/1.0/null/1.5"
                        + " rising/toys/1/p-1/1.0/null/1.5",
                // From 20 s on v1: p-1 has both clicks, p-2 its cart (worth 0 now).
                "window 0 20000 v1: popular/null/1/p-1/4.0/1/3.0 popular/null/2/p-2/0.0/null/1.0"
                        + " popular/toys/1/p-1/4.0/1/3.0 popular/toys/2/p-2/0.0/null/1.0"
                        + " rising/null/1/p-1/4.0/1/3.0 rising/null/2/p-2/0.0/null/1.0"
                        + " rising/toys/1/p-1/4.0/1/3.0 rising/toys/2/p-2/0.0/null/1.0",
                "window 10000 30000 v1: popular/null/1/p-2/2.0/2/2.0"
                        + " popular/toys/1/p-2/2.0/2/2.0 rising/null/1/p-2/2.0/2/2.0"
                        + " rising/toys/1/p-2/2.0/2/2.0",
                "window 20000 40000 v1: popular/null/1/p-2/2.0/1/2.0"
                        + " popular/toys/1/p-2/2.0/1/2.0 rising/null/1/p-2/2.0/1/2.0"
                        + " rising/toys/1/p-2/2.0/1/2.0"), out);
    }

    /**
     * The weights source runs at parallelism 1 whatever the job's, so its state would not
     * restore at another parallelism without a uid of its own (its derived id follows how
     * it chains).
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void theWeightsSourceHasItsUidAtAnyParallelism(int parallelism) {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(parallelism);
        StreamTableEnvironment tEnv = StreamTableEnvironment.create(env);
        Table[] tables = TrendTables.attach(tEnv,
                records(env, tEnv, record(0, null, "p-1", TrendEvent.CLICK, 1_000)),
                weights(env, tEnv, "{\"weights_version\": \"v1\", \"click\": 2, "
                        + "\"cart\": 0, \"purchase\": 1, \"applies_from_ms\": 0}"),
                20_000, 10_000, 0, 2, 10, 2.0, 0.0, 2, Double.NEGATIVE_INFINITY, 1.0, 60_000,
                5, "{\"weights_version\": \"v0\", "
                        + "\"click\": 1, \"cart\": 3, \"purchase\": 5, \"published_ms\": 0}",
                "late", "duplicate");
        tEnv.toDataStream(tables[0]).sinkTo(new DiscardingSink<>());
        tEnv.toDataStream(tables[1]).sinkTo(new DiscardingSink<>());
        StreamGraph graph = env.getStreamGraph();
        List<StreamNode> named = new ArrayList<>();
        for (StreamNode node : graph.getStreamNodes()) {
            if (TrendTables.WEIGHTS_SOURCE.equals(node.getTransformationUID())) {
                named.add(node);
            }
        }
        assertEquals(1, named.size());
        assertEquals(List.of(), named.get(0).getInEdges());
        assertEquals(1, named.get(0).getParallelism());
    }
}
