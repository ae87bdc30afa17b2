package dev.trendtracker.format;

import java.util.Objects;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.Projection;
import org.apache.flink.table.connector.format.ProjectableDecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;

/**
 * The planning-time side of the {@code trend-event} format: checks the declared columns and
 * creates the runtime decoder.
 *
 * <p>Projectable: a connector that pushes a projection into the value format (the Kafka
 * connector 4.0 does not: it hands over every physical value column) gets a decoder that
 * produces only the projected columns. Either way columns are resolved by name.
 */
final class TrendEventDecodingFormat implements ProjectableDecodingFormat<DeserializationSchema<RowData>> {

    private final String eventType;
    private final long maxFutureSkewMs;

    TrendEventDecodingFormat(String eventType, long maxFutureSkewMs) {
        this.eventType = eventType;
        this.maxFutureSkewMs = maxFutureSkewMs;
    }

    @Override
    public DeserializationSchema<RowData> createRuntimeDecoder(
            DynamicTableSource.Context context, DataType physicalDataType, int[][] projections) {
        DataType produced = Projection.of(projections).project(physicalDataType);
        int[] columns = TrendEventColumns.resolve(produced);
        TypeInformation<RowData> typeInfo = context.createTypeInformation(produced);
        return new TrendEventDeserializer(columns, eventType, maxFutureSkewMs, typeInfo);
    }

    @Override
    public ChangelogMode getChangelogMode() {
        return ChangelogMode.insertOnly();
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof TrendEventDecodingFormat)) {
            return false;
        }
        TrendEventDecodingFormat other = (TrendEventDecodingFormat) o;
        return eventType.equals(other.eventType) && maxFutureSkewMs == other.maxFutureSkewMs;
    }

    @Override
    public int hashCode() {
        return Objects.hash(eventType, maxFutureSkewMs);
    }
}
