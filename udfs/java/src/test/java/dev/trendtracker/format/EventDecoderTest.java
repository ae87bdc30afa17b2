package dev.trendtracker.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

/** What the corpus does not pin down: the clock, the topic check and reuse across records. */
class EventDecoderTest {
    static final long T = 1_704_067_200_000L; // 2024-01-01T00:00:00Z

    static byte[] event(String eventType, String productId, long ts) {
        return ("{\"event_id\":\"e-1\",\"event_type\":\"" + eventType + "\",\"product_id\":\""
                + productId + "\",\"category\":\"shoes\",\"user_id\":\"u-1\",\"ts\":" + ts + "}")
                .getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aTsIsFutureOnlyWhenMoreThanTheSkewAheadOfTheProcessingTime() {
        EventDecoder decoder = new EventDecoder("click", 60_000);
        assertNull(decoder.decode(event("click", "p-1", T + 60_000), T));
        assertEquals(EventDecoder.Reason.FUTURE_TS,
                decoder.decode(event("click", "p-1", T + 60_001), T));
        EventDecoder noSkew = new EventDecoder("click", 0);
        assertNull(noSkew.decode(event("click", "p-1", T), T));
        assertEquals(EventDecoder.Reason.FUTURE_TS, noSkew.decode(event("click", "p-1", T + 1), T));
        // A skew that overflows the limit: nothing is that far ahead.
        EventDecoder huge = new EventDecoder("click", Long.MAX_VALUE);
        assertNull(huge.decode(event("click", "p-1", EventDecoder.MAX_TS_MS), T));
    }

    @Test
    void withoutATopicTypeEveryEventTypeIsAccepted() {
        EventDecoder decoder = new EventDecoder(null, 60_000);
        for (String type : EventDecoder.EVENT_TYPES) {
            assertNull(decoder.decode(event(type, "p-1", T), T), type);
        }
        assertEquals(EventDecoder.Reason.UNKNOWN_EVENT_TYPE,
                decoder.decode(event("view", "p-1", T), T));
    }

    @Test
    void aDecoderReusedForTheNextRecordKeepsNothingOfThePreviousOne() {
        EventDecoder decoder = new EventDecoder("cart", 60_000);
        assertNull(decoder.decode(event("cart", "p-1", T), T));
        assertArrayEquals("p-1".getBytes(StandardCharsets.UTF_8), decoder.productId());
        byte[] noProduct = "{\"event_id\":\"e-1\",\"event_type\":\"cart\",\"category\":\"shoes\",\"user_id\":\"u-1\",\"ts\":1704067200000}"
                .getBytes(StandardCharsets.UTF_8);
        assertEquals(EventDecoder.Reason.MISSING_FIELD, decoder.decode(noProduct, T));
        assertNull(decoder.decode(event("cart", "p-2", T + 1), T + 1));
        assertArrayEquals("p-2".getBytes(StandardCharsets.UTF_8), decoder.productId());
        assertArrayEquals("shoes".getBytes(StandardCharsets.UTF_8), decoder.category());
        assertEquals(T + 1, decoder.ts());
    }

    @Test
    void eventTypesHaveCodesInTheirOrder() {
        assertEquals(0, EventDecoder.eventTypeCode("click"));
        assertEquals(1, EventDecoder.eventTypeCode("cart"));
        assertEquals(2, EventDecoder.eventTypeCode("purchase"));
        assertEquals(-1, EventDecoder.eventTypeCode("view"));
        assertEquals(-1, EventDecoder.eventTypeCode(null));
    }

    @Test
    void theReasonCodesAreTheContracts() {
        String[] codes = new String[EventDecoder.Reason.values().length];
        for (EventDecoder.Reason reason : EventDecoder.Reason.values()) {
            codes[reason.ordinal()] = reason.code;
        }
        assertArrayEquals(new String[] {"not_json", "missing_field", "wrong_type", "bad_id",
                "unknown_event_type", "topic_mismatch", "future_ts"}, codes);
    }

    @Test
    void anUnknownTopicTypeOrANegativeSkewIsRefused() {
        assertEquals("unknown event type view", assertThrows(IllegalArgumentException.class,
                () -> new EventDecoder("view", 0)).getMessage());
        assertEquals("max future skew must be >= 0", assertThrows(
                IllegalArgumentException.class, () -> new EventDecoder("click", -1)).getMessage());
    }

    @Test
    void utf8IsCheckedEightAsciiBytesAtATimeAndByteByByteAtTheEdges() {
        // 8-byte words of printable ASCII, then a tail; a control byte in a word or the tail.
        assertEquals(true, EventDecoder.isWellFormedUtf8("abcdefgh12345".getBytes(
                StandardCharsets.UTF_8)));
        assertEquals(false, EventDecoder.isWellFormedUtf8("abc\u0001efgh".getBytes(
                StandardCharsets.UTF_8)));
        assertEquals(false, EventDecoder.isWellFormedUtf8("abcdefgh1\u0002".getBytes(
                StandardCharsets.UTF_8)));
        assertEquals(true, EventDecoder.isWellFormedUtf8("\t\r\n\u00e9\u20ac\uD83D\uDE00"
                .getBytes(StandardCharsets.UTF_8)));
        assertEquals(true, EventDecoder.isWellFormedUtf8(new byte[0]));
    }
}
