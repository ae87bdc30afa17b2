package dev.trendtracker.format;

import java.util.Collections;
import java.util.HashSet;
import java.util.Set;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;

/**
 * The {@code trend-event} format: decodes each Kafka value once against the event contract.
 *
 * <pre>
 * CREATE TABLE src_click (
 *   payload STRING,     -- the raw value; NULL only for a null (tombstone) value
 *   reason STRING,      -- NULL when valid, else the reason code
 *   product_id STRING,  -- of a valid event, else NULL
 *   category STRING,    -- of a valid event, else NULL
 *   ts BIGINT,          -- epoch ms of a valid event, 0 for every invalid record
 *   arrival_ts BIGINT,  -- epoch ms of the clock when the record was decoded
 *   ...
 * ) WITH ('connector' = 'kafka', ..., 'format' = 'trend-event',
 *         'trend-event.event-type' = 'click', 'trend-event.max-future-skew-ms' = '60000')
 * </pre>
 *
 * <p>Columns are matched by name and any subset may be declared, in any order (see {@link
 * TrendEventColumns}). Decoding never fails: every invalid record is a row with a reason.
 */
public final class TrendEventFormatFactory implements DeserializationFormatFactory {

    public static final String IDENTIFIER = "trend-event";

    public static final ConfigOption<String> EVENT_TYPE =
            ConfigOptions.key("event-type")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("The event type the topic carries (click, cart or "
                            + "purchase); an event of another type is topic_mismatch.");

    public static final ConfigOption<Long> MAX_FUTURE_SKEW_MS =
            ConfigOptions.key("max-future-skew-ms")
                    .longType()
                    .noDefaultValue()
                    .withDescription("An event whose ts is more than this many milliseconds "
                            + "ahead of the processing time at decoding is future_ts.");

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        String eventType = formatOptions.get(EVENT_TYPE);
        if (EventDecoder.eventTypeCode(eventType) < 0) {
            throw new ValidationException(String.format(
                    "Option '%s.%s' must be one of %s, not '%s'.", IDENTIFIER, EVENT_TYPE.key(),
                    String.join(", ", EventDecoder.EVENT_TYPES), eventType));
        }
        long skew = formatOptions.get(MAX_FUTURE_SKEW_MS);
        if (skew < 0) {
            throw new ValidationException(String.format(
                    "Option '%s.%s' must be >= 0, not %d.", IDENTIFIER, MAX_FUTURE_SKEW_MS.key(),
                    skew));
        }
        return new TrendEventDecodingFormat(eventType, skew);
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(EVENT_TYPE);
        options.add(MAX_FUTURE_SKEW_MS);
        return options;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Collections.emptySet();
    }
}
