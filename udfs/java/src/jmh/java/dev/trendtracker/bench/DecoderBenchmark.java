package dev.trendtracker.bench;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.connector.format.ProjectableDecodingFormat;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.runtime.connector.source.ScanRuntimeProviderContext;
import org.apache.flink.table.types.DataType;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import dev.trendtracker.format.EventDecoder;
import dev.trendtracker.format.TrendEventFormatFactory;

/**
 * Decoding one event: {@link EventDecoder} alone (bytes to a verdict and fields), and the
 * trend-event format's runtime decoder as the job's sources run it (bytes to the decoded
 * row of the job's columns: payload, reason, product_id, category, ts, arrival_ts).
 *
 * <p>The events have the simulator's shape, valid, 1,024 different ones cycled through
 * (product ids of 1,000 products, 20 categories, the three event types on their topics).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class DecoderBenchmark {
    static final int EVENTS = 1024;
    static final String[] TYPES = {"click", "cart", "purchase"};

    private byte[][] clicks;
    private int next;
    private EventDecoder decoder;
    private DeserializationSchema<RowData> format;

    @Setup
    public void setup() throws Exception {
        clicks = new byte[EVENTS][];
        for (int i = 0; i < EVENTS; i++) {
            clicks[i] = event(i, "click");
        }
        decoder = new EventDecoder("click", 60_000);
        DataType columns = DataTypes.ROW(
                DataTypes.FIELD("payload", DataTypes.STRING()),
                DataTypes.FIELD("reason", DataTypes.STRING()),
                DataTypes.FIELD("product_id", DataTypes.STRING()),
                DataTypes.FIELD("category", DataTypes.STRING()),
                DataTypes.FIELD("ts", DataTypes.BIGINT()),
                DataTypes.FIELD("arrival_ts", DataTypes.BIGINT()));
        @SuppressWarnings("unchecked")
        ProjectableDecodingFormat<DeserializationSchema<RowData>> decodingFormat =
                (ProjectableDecodingFormat<DeserializationSchema<RowData>>)
                        new TrendEventFormatFactory().createDecodingFormat(null,
                                Configuration.fromMap(Map.of("event-type", "click",
                                        "max-future-skew-ms", "60000")));
        format = decodingFormat.createRuntimeDecoder(ScanRuntimeProviderContext.INSTANCE,
                columns, new int[][] {{0}, {1}, {2}, {3}, {4}, {5}});
    }

    /** An event as the simulator writes it. */
    static byte[] event(int i, String type) {
        String json = "{\"event_id\":\"" + Integer.toHexString(0x4f1c2a00 + i) + "-" + i
                + "\",\"event_type\":\"" + type + "\",\"product_id\":\""
                + String.format("p-%05d", (i * 7919) % 1000) + "\",\"category\":\"c-"
                + (i % 20) + "\",\"user_id\":\"u-" + (i % 97) + "\",\"session_id\":\"s-"
                + (i % 13) + "\",\"ts\":" + (1_704_067_200_000L + i * 37L)
                + ("click".equals(type) ? "" : ",\"price\":12.5") + "}";
        return json.getBytes(StandardCharsets.UTF_8);
    }

    private byte[] nextEvent() {
        byte[] value = clicks[next];
        next = (next + 1) & (EVENTS - 1);
        return value;
    }

    /** Bytes to a verdict with the event's fields: the contract check alone. */
    @Benchmark
    public long decoder() {
        EventDecoder.Reason reason = decoder.decode(nextEvent(), 1_704_067_300_000L);
        return reason == null ? decoder.ts() + decoder.productId().length : -1;
    }

    /** Bytes to the decoded row: what the job's sources do per record. */
    @Benchmark
    public RowData format() throws Exception {
        return format.deserialize(nextEvent());
    }
}
