package dev.trendtracker.lateness;

import java.util.List;

import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.util.OutputTag;

/**
 * Puts a {@link LateGate} between the decoded records and the rest of the job.
 *
 * <p>{@link #split} takes the table of every decoded record, in the gate's input columns,
 * and returns two tables: the on-time valid records, whose {@code et} is the event time
 * with the gate's watermarks, and the dead letters. Rows cross as Flink's internal
 * {@link RowData}, so nothing is converted on the way.
 */
public final class LateGates {
    /** The gate's input columns, in order (see {@link LateGate}). */
    public static final List<String> INPUT_COLUMNS = List.of(
            "payload", "topic", "partition", "offset", "event_type", "event_type_code",
            "reason", "product_id", "category", "et");

    /** The operator's uid: it keeps the gate's watermark when the job graph changes. */
    public static final String UID = "late-gate";

    private LateGates() {}

    /**
     * [on-time records, dead letters] of {@code records}; a valid record behind the
     * watermark becomes a dead letter with reason {@code lateReason}.
     */
    public static Table[] split(StreamTableEnvironment tEnv, Table records, String lateReason) {
        ResolvedSchema schema = records.getResolvedSchema();
        List<String> names = schema.getColumnNames();
        if (!names.equals(INPUT_COLUMNS)) {
            throw new IllegalArgumentException(
                    "the late gate takes the columns " + INPUT_COLUMNS + ", not " + names);
        }
        DataType input = schema.toPhysicalRowDataType().bridgedTo(RowData.class);
        DataStream<RowData> stream = tEnv.toDataStream(records, input);

        DataType onTime = DataTypes.ROW(
                DataTypes.FIELD("product_id", DataTypes.STRING()),
                DataTypes.FIELD("category", DataTypes.STRING()),
                DataTypes.FIELD("event_type_code", DataTypes.INT()),
                DataTypes.FIELD("et", DataTypes.TIMESTAMP_LTZ(3)));
        DataType deadLetters = DataTypes.ROW(
                DataTypes.FIELD("payload", type(schema, "payload")),
                DataTypes.FIELD("topic", type(schema, "topic")),
                DataTypes.FIELD("partition", type(schema, "partition")),
                DataTypes.FIELD("offset", type(schema, "offset")),
                DataTypes.FIELD("event_type", type(schema, "event_type")),
                DataTypes.FIELD("reason", DataTypes.STRING()));
        OutputTag<RowData> tag = new OutputTag<>(
                "dead-letters", InternalTypeInfo.of((RowType) deadLetters.getLogicalType()));

        // One subtask: it sees every partition's watermark itself (see LateGate).
        SingleOutputStreamOperator<RowData> gated = stream
                .transform("late_gate", InternalTypeInfo.of((RowType) onTime.getLogicalType()),
                        new LateGate(tag, lateReason))
                .uid(UID)
                // No maximum parallelism of 1: at a job parallelism of 1 the operators after
                // the gate are chained to it, and their state would keep that maximum, so a
                // savepoint could not be resumed at a higher parallelism.
                .setParallelism(1);
        Table onTimeTable = tEnv.fromDataStream(gated, Schema.newBuilder()
                .fromRowDataType(onTime)
                .watermark("et", "SOURCE_WATERMARK()")
                .build());
        Table deadLetterTable = tEnv.fromDataStream(gated.getSideOutput(tag), Schema.newBuilder()
                .fromRowDataType(deadLetters)
                .build());
        return new Table[] {onTimeTable, deadLetterTable};
    }

    private static DataType type(ResolvedSchema schema, String name) {
        Column column = schema.getColumn(name).orElseThrow();
        return column.getDataType();
    }
}
