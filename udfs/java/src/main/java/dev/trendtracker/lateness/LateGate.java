package dev.trendtracker.lateness;

import java.util.Collections;

import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.util.OutputTag;

/**
 * The one place where a record's fate is decided: counted in its windows, or dead-lettered.
 *
 * <p>Every decoded record of the three topics passes this operator, which runs as one
 * subtask just before the window aggregation. A record with a reason (invalid) goes to the
 * dead-letter output as it is. A valid record whose event time is at or behind this
 * operator's watermark goes there with reason {@code late} (the reason code given); every
 * other valid record goes on to the windows.
 *
 * <p>Why that decision is exact: the window operator drops a row whose slice ends at or
 * before its own watermark + 1 ms, and its watermark is never ahead of this operator's.
 * <ul>
 *   <li>It is downstream, and this operator is the only way in, so the watermarks it sees
 *       were emitted here first. Being one subtask, this operator combines every source
 *       partition itself: a partition that comes back after being idle cannot be on time
 *       here and late there.</li>
 *   <li>Both keep their watermark in their checkpoints (the window operator does so in
 *       Flink), and both restore the smallest one of their subtasks. Since the window
 *       operator's watermark at a checkpoint is at most this operator's at the same
 *       checkpoint, the order survives a restore, at any parallelism.</li>
 * </ul>
 * So a record let through here (event time &gt; this watermark) ends in a slice the window
 * operator has not closed: every valid record is either in its windows or a {@code late}
 * dead letter, exactly one of the two, after a restore too.
 *
 * <p>The input row is {@code (payload, topic, partition, offset, event_type,
 * event_type_code, reason, product_id, category, et)}; the record's timestamp is {@code et}.
 * The on-time output is {@code (product_id, category, event_type_code, et)}; the
 * dead-letter output is {@code (payload, topic, partition, offset, event_type, reason)}.
 */
public class LateGate extends AbstractStreamOperator<RowData>
        implements OneInputStreamOperator<RowData, RowData> {
    private static final long serialVersionUID = 1L;

    static final int PAYLOAD = 0;
    static final int TOPIC = 1;
    static final int PARTITION = 2;
    static final int OFFSET = 3;
    static final int EVENT_TYPE = 4;
    static final int EVENT_TYPE_CODE = 5;
    static final int REASON = 6;
    static final int PRODUCT_ID = 7;
    static final int CATEGORY = 8;
    static final int ET = 9;

    private final OutputTag<RowData> deadLetters;
    private final String lateReason;

    /** The newest watermark seen (or restored); Long.MIN_VALUE before any. */
    private long watermark = Long.MIN_VALUE;

    private transient ListState<Long> watermarkState;
    private transient StringData late;

    /** {@code lateReason}: the reason code of a valid record behind the watermark. */
    public LateGate(OutputTag<RowData> deadLetters, String lateReason) {
        this.deadLetters = deadLetters;
        this.lateReason = lateReason;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        late = StringData.fromString(lateReason);
        // Union state: after a restore every subtask sees every value, whatever the
        // parallelism was, and takes the smallest, as the window operator does.
        watermarkState = context.getOperatorStateStore().getUnionListState(
                new ListStateDescriptor<>("watermark", LongSerializer.INSTANCE));
        if (context.isRestored()) {
            long restored = Long.MAX_VALUE;
            boolean any = false;
            for (Long value : watermarkState.get()) {
                restored = Math.min(restored, value);
                any = true;
            }
            watermark = any ? restored : Long.MIN_VALUE;
        }
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        watermarkState.update(Collections.singletonList(watermark));
    }

    @Override
    public void processElement(StreamRecord<RowData> element) throws Exception {
        RowData row = element.getValue();
        if (!row.isNullAt(REASON)) {
            output.collect(deadLetters, element.replace(deadLetter(row, row.getString(REASON))));
        } else if (element.getTimestamp() <= watermark) {
            output.collect(deadLetters, element.replace(deadLetter(row, late)));
        } else {
            output.collect(element.replace(onTime(row)));
        }
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        watermark = Math.max(watermark, mark.getTimestamp());
        super.processWatermark(mark);
    }

    static RowData onTime(RowData row) {
        GenericRowData out = new GenericRowData(4);
        out.setField(0, row.getString(PRODUCT_ID));
        out.setField(1, row.getString(CATEGORY));
        out.setField(2, row.getInt(EVENT_TYPE_CODE));
        out.setField(3, row.getTimestamp(ET, 3));
        return out;
    }

    static RowData deadLetter(RowData row, StringData reason) {
        GenericRowData out = new GenericRowData(6);
        out.setField(0, row.isNullAt(PAYLOAD) ? null : row.getString(PAYLOAD));
        out.setField(1, row.getString(TOPIC));
        out.setField(2, row.getInt(PARTITION));
        out.setField(3, row.getLong(OFFSET));
        out.setField(4, row.getString(EVENT_TYPE));
        out.setField(5, reason);
        return out;
    }
}
