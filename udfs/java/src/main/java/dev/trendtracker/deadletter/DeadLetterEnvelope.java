package dev.trendtracker.deadletter;

import java.io.IOException;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.util.ByteArrayBuilder;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * The dead-letter topic's value: {@code dead_letter_envelope(payload, topic, partition, offset,
 * reason, payload_bytes, payload_sha256, traceparent)} is the JSON envelope, in UTF-8, with the
 * fields in that order.
 *
 * <p>{@code payload}, {@code payload_bytes} and {@code payload_sha256} are
 * {@link DeadLetterPayload}'s, written as null for a tombstone. {@code traceparent} is the
 * record's W3C Trace Context header, so a refused event leads back to the request that wrote
 * it; the field is there only when the record carried one in the W3C form
 * ({@link #isTraceparent}): any producer may write headers, and an envelope must stay within
 * the producer's request size.
 *
 * <p>Called once per dead letter, never for a valid event.
 */
public class DeadLetterEnvelope extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private static final JsonFactory JSON = new JsonFactory();
    /** {@code 00-<32 hex>-<16 hex>-<2 hex>}: version, trace id, parent id and flags. */
    static final int TRACEPARENT_LENGTH = 55;

    public @DataTypeHint("BYTES") byte[] eval(String payload, String topic, Integer partition,
                                              Long offset, String reason, Long payloadBytes,
                                              String payloadSha256, String traceparent)
            throws IOException {
        ByteArrayBuilder bytes = new ByteArrayBuilder(
                256 + (payload == null ? 0 : payload.length()));
        try (JsonGenerator json = JSON.createGenerator(bytes)) {
            json.writeStartObject();
            json.writeStringField("payload", payload);
            json.writeStringField("topic", topic);
            json.writeFieldName("partition");
            writeNumber(json, partition == null ? null : partition.longValue());
            json.writeFieldName("offset");
            writeNumber(json, offset);
            json.writeStringField("reason", reason);
            json.writeFieldName("payload_bytes");
            writeNumber(json, payloadBytes);
            json.writeStringField("payload_sha256", payloadSha256);
            if (isTraceparent(traceparent)) {
                json.writeStringField("traceparent", traceparent);
            }
            json.writeEndObject();
        }
        return bytes.toByteArray();
    }

    private static void writeNumber(JsonGenerator json, Long value) throws IOException {
        if (value == null) {
            json.writeNull();
        } else {
            json.writeNumber(value);
        }
    }

    /**
     * Whether {@code value} is a traceparent of the W3C form: two lower-case hex digits of
     * version (not {@code ff}), a trace id of 32 and a parent id of 16 (neither all zeros) and
     * two of flags, separated by dashes.
     */
    static boolean isTraceparent(String value) {
        if (value == null || value.length() != TRACEPARENT_LENGTH || value.charAt(2) != '-'
                || value.charAt(35) != '-' || value.charAt(52) != '-'
                || value.startsWith("ff")) {
            return false;
        }
        boolean traceId = false;
        boolean parentId = false;
        for (int i = 0; i < TRACEPARENT_LENGTH; i++) {
            if (i == 2 || i == 35 || i == 52) {
                continue;
            }
            char c = value.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                return false;
            }
            traceId |= i > 2 && i < 35 && c != '0';
            parentId |= i > 35 && i < 52 && c != '0';
        }
        return traceId && parentId;
    }
}
