package dev.trendtracker.deadletter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

/** dead_letter_envelope: the dead letter's JSON, with the record's traceparent when it had one. */
class DeadLetterEnvelopeTest {
    static final String TRACEPARENT =
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    static final String SHA = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    private final DeadLetterEnvelope function = new DeadLetterEnvelope();

    String envelope(String payload, Long payloadBytes, String sha, String traceparent)
            throws Exception {
        return new String(function.eval(payload, "clicks", 1, 42L, "unknown_event_type",
                payloadBytes, sha, traceparent), StandardCharsets.UTF_8);
    }

    @Test
    void aRecordWithATraceparentHeaderGivesItsEnvelopeTheField() throws Exception {
        assertEquals("{\"payload\":\"abc\",\"topic\":\"clicks\",\"partition\":1,\"offset\":42,"
                + "\"reason\":\"unknown_event_type\",\"payload_bytes\":3,\"payload_sha256\":\""
                + SHA + "\",\"traceparent\":\"" + TRACEPARENT + "\"}",
                envelope("abc", 3L, SHA, TRACEPARENT));
    }

    @Test
    void aRecordWithoutOneGetsNoField() throws Exception {
        assertEquals("{\"payload\":\"abc\",\"topic\":\"clicks\",\"partition\":1,\"offset\":42,"
                + "\"reason\":\"unknown_event_type\",\"payload_bytes\":3,\"payload_sha256\":\""
                + SHA + "\"}", envelope("abc", 3L, SHA, null));
    }

    @Test
    void aTombstoneKeepsItsNullsAndItsTraceparent() throws Exception {
        assertEquals("{\"payload\":null,\"topic\":\"clicks\",\"partition\":1,\"offset\":42,"
                + "\"reason\":\"unknown_event_type\",\"payload_bytes\":null,"
                + "\"payload_sha256\":null,\"traceparent\":\"" + TRACEPARENT + "\"}",
                envelope(null, null, null, TRACEPARENT));
    }

    @Test
    void thePayloadIsEscapedAsJson() throws Exception {
        // A quote, a backslash, a control character and a non-ASCII one (kept as UTF-8).
        assertEquals("{\"payload\":\"\\\"\\\\\\u0001\u00e9\",\"topic\":\"clicks\","
                + "\"partition\":1,\"offset\":42,\"reason\":\"unknown_event_type\","
                + "\"payload_bytes\":5,\"payload_sha256\":\"" + SHA + "\"}",
                envelope("\"\\\u0001\u00e9", 5L, SHA, null));
    }

    @Test
    void aHeaderNotInTheW3cFormIsLeftOut() throws Exception {
        String[] notTraceparents = {
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",   // short
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011", // long
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // no trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // no parent id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // forbidden version
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "x".repeat(100_000),
        };
        for (String value : notTraceparents) {
            assertFalse(DeadLetterEnvelope.isTraceparent(value), value);
            assertFalse(envelope("abc", 3L, SHA, value).contains("traceparent"), value);
        }
        assertTrue(DeadLetterEnvelope.isTraceparent(TRACEPARENT));
        assertTrue(DeadLetterEnvelope.isTraceparent(
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"));
    }
}
