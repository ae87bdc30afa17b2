package dev.trendtracker.lateness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Instant;
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
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.Test;

/**
 * LateGates.split in a real table environment (a MiniCluster in this JVM): the decoded
 * records' table in, the on-time records (with the gate's watermarks) and the dead letters out.
 */
class LateGatesTest {
    static final String[] NAMES = {"payload", "topic", "partition", "offset", "event_type",
        "event_type_code", "reason", "product_id", "category"};

    /** A watermark right after each record, at its timestamp: the next one may be late. */
    static final class EveryRecord implements WatermarkGenerator<Row> {
        @Override
        public void onEvent(Row row, long timestamp, WatermarkOutput output) {
            output.emitWatermark(new Watermark(timestamp));
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {}
    }

    static Row record(long offset, String reason, String productId, long et) {
        return Row.of("{\"n\":" + offset + "}", "clicks", 0, offset, "click", 0, reason,
                productId, productId == null ? null : "toys", et);
    }

    static Table records(StreamExecutionEnvironment env, StreamTableEnvironment tEnv,
                         Row... rows) {
        List<Row> physical = new ArrayList<>();
        for (Row row : rows) {
            Row copy = new Row(NAMES.length);
            for (int i = 0; i < NAMES.length; i++) {
                copy.setField(i, row.getField(i));
            }
            physical.add(Row.join(copy, Row.of(row.getField(NAMES.length))));
        }
        DataStream<Row> stream = env.fromData(physical, Types.ROW_NAMED(
                        new String[] {"payload", "topic", "partition", "offset", "event_type",
                            "event_type_code", "reason", "product_id", "category", "ts"},
                        Types.STRING, Types.STRING, Types.INT, Types.LONG, Types.STRING,
                        Types.INT, Types.STRING, Types.STRING, Types.STRING, Types.LONG))
                .assignTimestampsAndWatermarks(WatermarkStrategy
                        .<Row>forGenerator(context -> new EveryRecord())
                        .withTimestampAssigner((row, previous) -> (Long) row.getField(9)));
        Table withTs = tEnv.fromDataStream(stream, Schema.newBuilder()
                .columnByMetadata("et", DataTypes.TIMESTAMP_LTZ(3), "rowtime")
                .watermark("et", "SOURCE_WATERMARK()")
                .build());
        return withTs.dropColumns(org.apache.flink.table.api.Expressions.$("ts"));
    }

    /** The rows keep the gate's internal data: the time may come as TimestampData. */
    static long epochMs(Object time) {
        return time instanceof Instant ? ((Instant) time).toEpochMilli()
                : ((TimestampData) time).getMillisecond();
    }

    @Test
    void onTimeRecordsGoOnWithTheWatermarksAndTheRestAreDeadLetters() throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        StreamTableEnvironment tEnv = StreamTableEnvironment.create(env);
        Table records = records(env, tEnv,
                record(0, null, "p-0", 1_000), // on time; watermark 1000 after it
                record(1, null, "p-1", 1_000), // at the watermark: late
                record(2, "bad_id", null, 1_000), // invalid: dead whatever its time
                record(3, null, "p-3", 2_000)); // on time
        Table[] split = LateGates.split(tEnv, records, "late");
        assertEquals(List.of("product_id", "category", "event_type_code", "et"),
                split[0].getResolvedSchema().getColumnNames());
        assertEquals("TIMESTAMP_LTZ(3) *ROWTIME*", split[0].getResolvedSchema()
                .getColumn("et").orElseThrow().getDataType().toString());
        assertEquals(List.of("payload", "topic", "partition", "offset", "event_type", "reason"),
                split[1].getResolvedSchema().getColumnNames());

        DataStream<String> onTime = tEnv.toDataStream(split[0]).map(
                row -> "on " + row.getField(0) + " " + row.getField(1) + " " + row.getField(2)
                        + " " + epochMs(row.getField(3)));
        DataStream<String> deadLetters = tEnv.toDataStream(split[1]).map(
                row -> "dead " + row.getField(3) + " " + row.getField(5) + " " + row.getField(0));
        List<String> out = new ArrayList<>();
        try (CloseableIterator<String> results = onTime.union(deadLetters).executeAndCollect()) {
            results.forEachRemaining(out::add);
        }
        out.sort(null);
        assertEquals(List.of("dead 1 late {\"n\":1}", "dead 2 bad_id {\"n\":2}",
                "on p-0 toys 0 1000", "on p-3 toys 0 2000"), out);
    }

    @Test
    void aTableOfOtherColumnsIsRefused() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        StreamTableEnvironment tEnv = StreamTableEnvironment.create(env);
        Table wrong = tEnv.fromValues(Row.of("x")).as("payload");
        assertEquals("the late gate takes the columns " + LateGates.INPUT_COLUMNS
                + ", not [payload]", assertThrows(IllegalArgumentException.class,
                        () -> LateGates.split(tEnv, wrong, "late")).getMessage());
    }
}
