package dev.trendtracker.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;

/**
 * The runtime decoder of the {@code trend-event} format: one row per record, never an
 * exception. The payload column wraps the record's bytes as they are (no decoding).
 *
 * <p>The clock is read once per record, when a future skew is set or {@code arrival_ts} is
 * declared: the same instant decides {@code future_ts} and is the record's {@code arrival_ts}.
 */
final class TrendEventDeserializer implements DeserializationSchema<RowData> {

    private static final long serialVersionUID = 1L;

    private final int[] columns;
    private final String eventType;
    private final long maxFutureSkewMs;
    private final TypeInformation<RowData> producedType;

    private transient EventDecoder decoder;
    private transient StringData[] reasons;
    private transient boolean readsClock;

    TrendEventDeserializer(int[] columns, String eventType, long maxFutureSkewMs,
            TypeInformation<RowData> producedType) {
        this.columns = columns;
        this.eventType = eventType;
        this.maxFutureSkewMs = maxFutureSkewMs;
        this.producedType = producedType;
    }

    @Override
    public void open(InitializationContext context) {
        init();
    }

    private void init() {
        decoder = new EventDecoder(eventType, maxFutureSkewMs);
        readsClock = maxFutureSkewMs != TrendEventFormatFactory.NO_FUTURE_CHECK;
        for (int column : columns) {
            readsClock |= column == TrendEventColumns.ARRIVAL_TS;
        }
        EventDecoder.Reason[] all = EventDecoder.Reason.values();
        reasons = new StringData[all.length];
        for (EventDecoder.Reason reason : all) {
            reasons[reason.ordinal()] = StringData.fromString(reason.code);
        }
    }

    @Override
    public RowData deserialize(byte[] message) {
        if (decoder == null) {
            init();
        }
        long arrivalMs = readsClock ? System.currentTimeMillis() : 0L;
        EventDecoder.Reason reason;
        try {
            reason = decoder.decode(message, arrivalMs);
        } catch (RuntimeException e) {
            reason = EventDecoder.Reason.NOT_JSON; // never seen; a record must not stop the job
        }
        boolean valid = reason == null;
        GenericRowData row = new GenericRowData(columns.length);
        for (int i = 0; i < columns.length; i++) {
            switch (columns[i]) {
                case TrendEventColumns.PAYLOAD:
                    row.setField(i, message == null ? null : StringData.fromBytes(message));
                    break;
                case TrendEventColumns.REASON:
                    row.setField(i, valid ? null : reasons[reason.ordinal()]);
                    break;
                case TrendEventColumns.PRODUCT_ID:
                    row.setField(i, valid ? StringData.fromBytes(decoder.productId()) : null);
                    break;
                case TrendEventColumns.CATEGORY:
                    row.setField(i, valid ? StringData.fromBytes(decoder.category()) : null);
                    break;
                case TrendEventColumns.TS:
                    row.setField(i, valid ? decoder.ts() : 0L);
                    break;
                case TrendEventColumns.EVENT_ID:
                    row.setField(i, valid ? StringData.fromString(decoder.eventId()) : null);
                    break;
                case TrendEventColumns.USER_ID:
                    row.setField(i, valid ? StringData.fromString(decoder.userId()) : null);
                    break;
                default: // arrival_ts
                    row.setField(i, arrivalMs);
                    break;
            }
        }
        return row;
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
