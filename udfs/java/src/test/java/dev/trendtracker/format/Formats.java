package dev.trendtracker.format;

import java.util.Map;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.connector.format.ProjectableDecodingFormat;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.runtime.connector.source.ScanRuntimeProviderContext;
import org.apache.flink.table.types.DataType;
import org.apache.flink.util.SimpleUserCodeClassLoader;
import org.apache.flink.util.UserCodeClassLoader;

/** The trend-event format as a Kafka source table builds it, for tests. */
final class Formats {
    private Formats() {}

    /** Every column the format produces, in its own order. */
    static final DataType ALL_COLUMNS = DataTypes.ROW(
            DataTypes.FIELD("payload", DataTypes.STRING()),
            DataTypes.FIELD("reason", DataTypes.STRING()),
            DataTypes.FIELD("product_id", DataTypes.STRING()),
            DataTypes.FIELD("category", DataTypes.STRING()),
            DataTypes.FIELD("ts", DataTypes.BIGINT()),
            DataTypes.FIELD("arrival_ts", DataTypes.BIGINT()),
            DataTypes.FIELD("event_id", DataTypes.STRING()),
            DataTypes.FIELD("user_id", DataTypes.STRING()));

    static Configuration options(String eventType, long skewMs) {
        return Configuration.fromMap(Map.of(
                "event-type", eventType, "max-future-skew-ms", Long.toString(skewMs)));
    }

    /** The runtime decoder of {@code physical} projected to {@code projections}, opened. */
    static DeserializationSchema<RowData> decoder(String eventType, long skewMs,
                                                  DataType physical, int[][] projections)
            throws Exception {
        // The format is projectable: a connector may push a projection into it.
        ProjectableDecodingFormat<DeserializationSchema<RowData>> format =
                (ProjectableDecodingFormat<DeserializationSchema<RowData>>)
                        new TrendEventFormatFactory().createDecodingFormat(
                                null, options(eventType, skewMs));
        DeserializationSchema<RowData> decoder = format.createRuntimeDecoder(
                ScanRuntimeProviderContext.INSTANCE, physical, projections);
        decoder.open(initializationContext());
        return decoder;
    }

    static DeserializationSchema<RowData> decoder(String eventType, long skewMs)
            throws Exception {
        return decoder(eventType, skewMs, ALL_COLUMNS,
                new int[][] {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}});
    }

    static DeserializationSchema.InitializationContext initializationContext() {
        return new DeserializationSchema.InitializationContext() {
            @Override
            public MetricGroup getMetricGroup() {
                return new UnregisteredMetricsGroup();
            }

            @Override
            public UserCodeClassLoader getUserCodeClassLoader() {
                return SimpleUserCodeClassLoader.create(Formats.class.getClassLoader());
            }
        };
    }
}
