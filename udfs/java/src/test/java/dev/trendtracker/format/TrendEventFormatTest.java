package dev.trendtracker.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.runtime.connector.source.ScanRuntimeProviderContext;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;

/** The trend-event format: discovery, options, columns and the runtime decoder's rows. */
class TrendEventFormatTest {
    static final byte[] CART = ("{\"event_id\":\"e-1\",\"event_type\":\"cart\","
            + "\"product_id\":\"p-7\",\"category\":\"toys\",\"user_id\":\"u-1\","
            + "\"ts\":1704067200123,\"price\":1.5}").getBytes(StandardCharsets.UTF_8);

    @Test
    void theFactoryIsFoundByItsIdentifier() {
        DeserializationFormatFactory factory = FactoryUtil.discoverFactory(
                getClass().getClassLoader(), DeserializationFormatFactory.class, "trend-event");
        assertInstanceOf(TrendEventFormatFactory.class, factory);
        assertEquals(Set.of("event-type"), factory.requiredOptions()
                .stream().map(ConfigOption::key).collect(Collectors.toSet()));
        assertEquals(Set.of("max-future-skew-ms"), factory.optionalOptions()
                .stream().map(ConfigOption::key).collect(Collectors.toSet()));
    }

    @Test
    void withoutAFutureSkewNoEventIsFutureAndTheClockIsNotRead() throws Exception {
        // The job judges future_ts against the record's timestamp in the topic, in SQL.
        byte[] farAhead = new String(CART, StandardCharsets.UTF_8)
                .replace("1704067200123", "9999999999999").getBytes(StandardCharsets.UTF_8);
        DecodingFormat<DeserializationSchema<RowData>> format = new TrendEventFormatFactory()
                .createDecodingFormat(null, Configuration.fromMap(Map.of("event-type", "cart")));
        DataType columns = DataTypes.ROW(DataTypes.FIELD("reason", DataTypes.STRING()),
                DataTypes.FIELD("ts", DataTypes.BIGINT()));
        DeserializationSchema<RowData> decoder = format.createRuntimeDecoder(
                ScanRuntimeProviderContext.INSTANCE, columns);
        decoder.open(Formats.initializationContext());
        RowData row = decoder.deserialize(farAhead);
        assertTrue(row.isNullAt(0));
        assertEquals(9_999_999_999_999L, row.getLong(1));
        // With the skew, the same event is future_ts against the clock.
        assertEquals("future_ts", Formats.decoder("cart", 60_000).deserialize(farAhead)
                .getString(1).toString());
    }

    @Test
    void wrongOptionsAreRefusedWhenTheTableIsPlanned() {
        TrendEventFormatFactory factory = new TrendEventFormatFactory();
        assertEquals("Option 'trend-event.event-type' must be one of click, cart, purchase, "
                + "not 'view'.", assertThrows(ValidationException.class,
                        () -> factory.createDecodingFormat(null, Formats.options("view", 1)))
                .getMessage());
        assertEquals("Option 'trend-event.max-future-skew-ms' must be >= 0, not -1.",
                assertThrows(ValidationException.class,
                        () -> factory.createDecodingFormat(null, Formats.options("click", -1)))
                        .getMessage());
        // A required option missing.
        assertThrows(ValidationException.class, () -> factory.createDecodingFormat(
                null, Configuration.fromMap(Map.of("max-future-skew-ms", "1"))));
    }

    @Test
    void theFormatIsInsertOnlyAndEqualByItsOptions() {
        TrendEventFormatFactory factory = new TrendEventFormatFactory();
        DecodingFormat<DeserializationSchema<RowData>> format =
                factory.createDecodingFormat(null, Formats.options("click", 60_000));
        assertEquals(ChangelogMode.insertOnly(), format.getChangelogMode());
        assertEquals(format, factory.createDecodingFormat(null, Formats.options("click", 60_000)));
        assertEquals(format.hashCode(),
                factory.createDecodingFormat(null, Formats.options("click", 60_000)).hashCode());
        assertNotEquals(format, factory.createDecodingFormat(null, Formats.options("cart", 60_000)));
        assertNotEquals(format, factory.createDecodingFormat(null, Formats.options("click", 1)));
    }

    @Test
    void aValidEventIsOneRowWithItsFields() throws Exception {
        DeserializationSchema<RowData> decoder = Formats.decoder("cart", 60_000);
        RowData row = decoder.deserialize(CART);
        assertArrayEquals(CART, row.getString(0).toBytes());
        assertTrue(row.isNullAt(1));
        assertEquals("p-7", row.getString(2).toString());
        assertEquals("toys", row.getString(3).toString());
        assertEquals(1_704_067_200_123L, row.getLong(4));
        assertEquals("e-1", row.getString(6).toString());
        assertEquals("u-1", row.getString(7).toString());
        assertFalse(decoder.isEndOfStream(row));
    }

    @Test
    void opaqueIdsComeOutUnescaped() throws Exception {
        byte[] escaped = ("{\"event_id\":\"e-\\u00e9\\\"1\",\"event_type\":\"cart\","
                + "\"product_id\":\"p-7\",\"category\":\"toys\",\"user_id\":\"\u00fc-2\","
                + "\"ts\":1704067200123}").getBytes(StandardCharsets.UTF_8);
        RowData row = Formats.decoder("cart", 60_000).deserialize(escaped);
        assertTrue(row.isNullAt(1));
        assertEquals("e-\u00e9\"1", row.getString(6).toString());
        assertEquals("\u00fc-2", row.getString(7).toString());
    }

    @Test
    void anInvalidRecordIsARowWithItsReason() throws Exception {
        DeserializationSchema<RowData> decoder = Formats.decoder("click", 60_000);
        RowData mismatch = decoder.deserialize(CART);
        assertEquals("topic_mismatch", mismatch.getString(1).toString());
        assertTrue(mismatch.isNullAt(2) && mismatch.isNullAt(3));
        assertTrue(mismatch.isNullAt(6) && mismatch.isNullAt(7));
        assertEquals(0L, mismatch.getLong(4));
        RowData tombstone = decoder.deserialize(null);
        assertTrue(tombstone.isNullAt(0));
        assertEquals("not_json", tombstone.getString(1).toString());
    }

    @Test
    void columnsAreMatchedByNameInAnyOrderAndSubset() throws Exception {
        DataType declared = DataTypes.ROW(
                DataTypes.FIELD("arrival_ts", DataTypes.BIGINT()),
                DataTypes.FIELD("ts", DataTypes.BIGINT()),
                DataTypes.FIELD("reason", DataTypes.STRING()));
        DeserializationSchema<RowData> decoder =
                Formats.decoder("cart", 60_000, declared, new int[][] {{0}, {1}, {2}});
        long before = System.currentTimeMillis();
        RowData row = decoder.deserialize(CART);
        assertEquals(3, row.getArity());
        assertTrue(row.getLong(0) >= before);
        assertEquals(1_704_067_200_123L, row.getLong(1));
        assertTrue(row.isNullAt(2));
        RowType produced = (RowType) declared.getLogicalType();
        assertEquals(InternalTypeInfo.of(produced), decoder.getProducedType());
    }

    @Test
    void aProjectionPushedIntoTheFormatProducesOnlyItsColumns() throws Exception {
        // product_id then reason, out of all eight.
        DeserializationSchema<RowData> decoder = Formats.decoder("cart", 60_000,
                Formats.ALL_COLUMNS, new int[][] {{2}, {1}});
        RowData row = decoder.deserialize(CART);
        assertEquals(2, row.getArity());
        assertEquals("p-7", row.getString(0).toString());
        assertTrue(row.isNullAt(1));
    }

    @Test
    void aColumnTheFormatCannotServeFailsWithItsName() {
        DataType extra = DataTypes.ROW(DataTypes.FIELD("payload", DataTypes.STRING()),
                DataTypes.FIELD("extra", DataTypes.STRING()));
        assertEquals("Format 'trend-event' produces no column 'extra'. Its columns are payload "
                + "STRING, reason STRING, product_id STRING, category STRING, ts BIGINT, "
                + "arrival_ts BIGINT, event_id STRING and user_id STRING (any of them, in any "
                + "order); declare other columns as computed or METADATA columns.", assertThrows(ValidationException.class,
                        () -> Formats.decoder("click", 1, extra, new int[][] {{0}, {1}}))
                .getMessage());
        DataType tsString = DataTypes.ROW(DataTypes.FIELD("ts", DataTypes.STRING()));
        assertEquals("Column 'ts' of format 'trend-event' must be BIGINT, not STRING.",
                assertThrows(ValidationException.class,
                        () -> Formats.decoder("click", 1, tsString, new int[][] {{0}}))
                        .getMessage());
        DataType reasonInt = DataTypes.ROW(DataTypes.FIELD("reason", DataTypes.INT()));
        assertEquals("Column 'reason' of format 'trend-event' must be STRING, not INT.",
                assertThrows(ValidationException.class,
                        () -> Formats.decoder("click", 1, reasonInt, new int[][] {{0}}))
                        .getMessage());
    }

    @Test
    void theDecoderTravelsToTheTaskManagersAndWorksWithoutOpen() throws Exception {
        DeserializationSchema<RowData> decoder = Formats.decoder("cart", 60_000);
        DeserializationSchema<RowData> shipped = InstantiationUtil.clone(decoder);
        RowData row = shipped.deserialize(CART); // not opened: set up on first use
        assertEquals("p-7", row.getString(2).toString());
    }
}
