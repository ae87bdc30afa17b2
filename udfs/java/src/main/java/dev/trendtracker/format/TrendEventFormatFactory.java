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
 *   event_id STRING,    -- of a valid event, else NULL
 *   user_id STRING,     -- of a valid event, else NULL
 *   ...
 * ) WITH ('connector' = 'kafka', ..., 'format' = 'trend-event',
 *         'trend-event.event-type' = 'click')
 * </pre>
 *
 * <p>With {@code 'trend-event.max-future-skew-ms'} an event stamped that far ahead of the
 * clock at decoding is {@code future_ts}. The job does not set it: it judges an event against
 * the record's timestamp in the topic, the broker's append time, which is the same whenever
 * the record is read.
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
                            + "ahead of the processing time at decoding is future_ts; "
                            + "unset, no event is.");

    /** The skew of a format without {@link #MAX_FUTURE_SKEW_MS}: no event is that far. */
    static final long NO_FUTURE_CHECK = Long.MAX_VALUE;

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
        long skew = formatOptions.getOptional(MAX_FUTURE_SKEW_MS).orElse(NO_FUTURE_CHECK);
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
        return options;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Collections.singleton(MAX_FUTURE_SKEW_MS);
    }
}
