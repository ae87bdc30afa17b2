package dev.trendtracker.lateness;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.util.OutputTag;
import org.junit.jupiter.api.Test;

/**
 * The late gate in Flink's operator harness: every record is on time or a dead letter,
 * decided against the gate's watermark, which survives a snapshot and a restore (at another
 * parallelism too, as the smallest of the subtasks').
 */
class LateGateTest {
    static final OutputTag<RowData> DEAD_LETTERS = new OutputTag<>("dead-letters",
            InternalTypeInfo.of((RowType) DataTypes.ROW(
                    DataTypes.FIELD("payload", DataTypes.STRING()),
                    DataTypes.FIELD("topic", DataTypes.STRING()),
                    DataTypes.FIELD("partition", DataTypes.INT()),
                    DataTypes.FIELD("offset", DataTypes.BIGINT()),
                    DataTypes.FIELD("event_type", DataTypes.STRING()),
                    DataTypes.FIELD("reason", DataTypes.STRING())).getLogicalType()));

    static OneInputStreamOperatorTestHarness<RowData, RowData> harness() throws Exception {
        return harness(1, 0);
    }

    static OneInputStreamOperatorTestHarness<RowData, RowData> harness(int parallelism,
                                                                       int subtask)
            throws Exception {
        return new OneInputStreamOperatorTestHarness<>(new LateGate(DEAD_LETTERS, "late"), 128,
                parallelism, subtask);
    }

    /** A decoded record as the gate reads it, its timestamp the event time. */
    static StreamRecord<RowData> record(long offset, String reason, String productId, long et) {
        GenericRowData row = GenericRowData.of(
                StringData.fromString("{\"n\":" + offset + "}"), StringData.fromString("clicks"),
                0, offset, StringData.fromString("click"), 0,
                reason == null ? null : StringData.fromString(reason),
                productId == null ? null : StringData.fromString(productId),
                productId == null ? null : StringData.fromString("toys"),
                TimestampData.fromEpochMillis(et));
        return new StreamRecord<>(row, et);
    }

    static RowData onTime(String productId, long et) {
        return GenericRowData.of(StringData.fromString(productId), StringData.fromString("toys"),
                0, TimestampData.fromEpochMillis(et));
    }

    static RowData deadLetter(long offset, String reason) {
        return GenericRowData.of(StringData.fromString("{\"n\":" + offset + "}"),
                StringData.fromString("clicks"), 0, offset, StringData.fromString("click"),
                StringData.fromString(reason));
    }

    static List<RowData> deadLetters(OneInputStreamOperatorTestHarness<RowData, RowData> h) {
        List<RowData> rows = new ArrayList<>();
        for (StreamRecord<RowData> record : h.getSideOutput(DEAD_LETTERS)) {
            rows.add(record.getValue());
        }
        return rows;
    }

    static List<Long> watermarks(OneInputStreamOperatorTestHarness<RowData, RowData> h) {
        List<Long> marks = new ArrayList<>();
        for (Object element : h.getOutput()) {
            if (element instanceof Watermark) {
                marks.add(((Watermark) element).getTimestamp());
            }
        }
        return marks;
    }

    @Test
    void validRecordsAheadOfTheWatermarkGoOnAndTheOthersAreDeadLetters() throws Exception {
        try (OneInputStreamOperatorTestHarness<RowData, RowData> h = harness()) {
            h.open();
            h.processElement(record(0, null, "p-1", 1_000)); // no watermark yet: on time
            h.processElement(record(1, "not_json", null, 5_000)); // invalid: its reason
            h.processWatermark(1_000);
            h.processElement(record(2, null, "p-2", 1_000)); // at the watermark: late
            h.processElement(record(3, null, "p-3", 999)); // behind it: late
            h.processElement(record(4, null, "p-4", 1_001)); // ahead: on time
            h.processWatermark(500); // an older watermark does not move the gate back
            h.processElement(record(5, null, "p-5", 800));
            h.processElement(record(6, "future_ts", null, 9_000));

            assertEquals(List.of(onTime("p-1", 1_000), onTime("p-4", 1_001)),
                    h.extractOutputValues());
            assertEquals(List.of(deadLetter(1, "not_json"), deadLetter(2, "late"),
                    deadLetter(3, "late"), deadLetter(5, "late"), deadLetter(6, "future_ts")),
                    deadLetters(h));
            // Records keep their event time as timestamp; watermarks pass through.
            List<Long> timestamps = new ArrayList<>();
            for (StreamRecord<? extends RowData> r : h.extractOutputStreamRecords()) {
                timestamps.add(r.getTimestamp());
            }
            assertEquals(List.of(1_000L, 1_001L), timestamps);
            assertEquals(List.of(1_000L, 500L), watermarks(h));
        }
    }

    @Test
    void theWatermarkSurvivesASnapshotAndARestore() throws Exception {
        OperatorSubtaskState snapshot;
        try (OneInputStreamOperatorTestHarness<RowData, RowData> h = harness()) {
            h.open();
            h.processWatermark(2_000);
            snapshot = h.snapshot(1, 10);
        }
        try (OneInputStreamOperatorTestHarness<RowData, RowData> h = harness()) {
            h.initializeState(snapshot);
            h.open();
            h.processElement(record(7, null, "p-7", 2_000));
            h.processElement(record(8, null, "p-8", 2_001));
            assertEquals(List.of(onTime("p-8", 2_001)), h.extractOutputValues());
            assertEquals(List.of(deadLetter(7, "late")), deadLetters(h));
        }
    }

    @Test
    void aSnapshotBeforeAnyWatermarkRestoresNone() throws Exception {
        OperatorSubtaskState snapshot;
        try (OneInputStreamOperatorTestHarness<RowData, RowData> h = harness()) {
            h.open();
            snapshot = h.snapshot(1, 10);
        }
        try (OneInputStreamOperatorTestHarness<RowData, RowData> h = harness()) {
            h.initializeState(snapshot);
            h.open();
            h.processElement(record(0, null, "p-0", 0));
            assertEquals(List.of(onTime("p-0", 0)), h.extractOutputValues());
        }
    }

    @Test
    void aRestoreAtAnotherParallelismTakesTheSmallestWatermark() throws Exception {
        OperatorSubtaskState first;
        OperatorSubtaskState second;
        try (OneInputStreamOperatorTestHarness<RowData, RowData> h = harness(2, 0)) {
            h.open();
            h.processWatermark(3_000);
            first = h.snapshot(1, 10);
        }
        try (OneInputStreamOperatorTestHarness<RowData, RowData> h = harness(2, 1)) {
            h.open();
            h.processWatermark(1_000);
            second = h.snapshot(1, 10);
        }
        OperatorSubtaskState merged = AbstractStreamOperatorTestHarness.repackageState(
                first, second);
        for (int parallelism : new int[] {1, 3}) {
            for (int subtask = 0; subtask < parallelism; subtask++) {
                OperatorSubtaskState state = AbstractStreamOperatorTestHarness
                        .repartitionOperatorState(merged, 128, 2, parallelism, subtask);
                try (OneInputStreamOperatorTestHarness<RowData, RowData> h =
                             harness(parallelism, subtask)) {
                    h.initializeState(state);
                    h.open();
                    h.processElement(record(1, null, "p-1", 1_000));
                    h.processElement(record(2, null, "p-2", 2_000));
                    assertEquals(List.of(onTime("p-2", 2_000)), h.extractOutputValues());
                    assertEquals(List.of(deadLetter(1, "late")), deadLetters(h));
                }
            }
        }
    }
}
