package dev.trendtracker.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.data.RowData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The event-contract corpus (tests/contract/event_corpus.py, exported to event_corpus.json)
 * through the decoder and through the format's runtime decoder: every payload, read from its
 * topic's type, gets its hand-written verdict, with the exact fields of a valid event.
 */
class EventCorpusTest {
    /** One payload and its verdict. */
    record Case(String name, String topic, byte[] value, String reason, String productId,
                String category, long ts) {}

    static long skewMs;
    static List<Case> cases;

    @BeforeAll
    static void read() throws IOException {
        String configured = System.getProperty("trend.eventCorpus",
                "../../tests/contract/event_corpus.json");
        JsonNode document = new ObjectMapper().readTree(Files.readAllBytes(Path.of(configured)));
        skewMs = document.get("skew_ms").asLong();
        cases = new ArrayList<>();
        for (JsonNode node : document.get("cases")) {
            JsonNode value = node.get("value");
            cases.add(new Case(node.get("name").asText(), node.get("topic").asText(),
                    value.isNull() ? null : Base64.getDecoder().decode(value.asText()),
                    text(node.get("reason")), text(node.get("product_id")),
                    text(node.get("category")), node.get("ts").asLong(0)));
        }
    }

    private static String text(JsonNode node) {
        return node.isNull() ? null : node.asText();
    }

    @Test
    void theCorpusCoversEveryReasonAndTopic() {
        assertEquals(60_000, skewMs);
        assertEquals(306, cases.size());
        Set<String> reasons = new TreeSet<>();
        Set<String> validTopics = new TreeSet<>();
        for (Case c : cases) {
            reasons.add(String.valueOf(c.reason()));
            if (c.reason() == null) {
                validTopics.add(c.topic());
            }
        }
        assertEquals(Set.of("null", "not_json", "missing_field", "wrong_type", "bad_id",
                "unknown_event_type", "topic_mismatch", "future_ts"), reasons);
        assertEquals(Set.of("click", "cart", "purchase"), validTopics);
    }

    @TestFactory
    Stream<DynamicTest> theDecoderGivesEachPayloadItsVerdict() {
        Map<String, EventDecoder> decoders = new HashMap<>();
        return cases.stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            EventDecoder decoder = decoders.computeIfAbsent(c.topic(),
                    topic -> new EventDecoder(topic, skewMs));
            EventDecoder.Reason reason = decoder.decode(c.value(), System.currentTimeMillis());
            assertEquals(c.reason(), reason == null ? null : reason.code);
            if (reason == null) {
                assertEquals(c.ts(), decoder.ts());
                assertArrayEquals(c.productId().getBytes(StandardCharsets.UTF_8),
                        decoder.productId());
                assertArrayEquals(c.category().getBytes(StandardCharsets.UTF_8),
                        decoder.category());
            }
        }));
    }

    @TestFactory
    Stream<DynamicTest> theFormatGivesEachPayloadItsRow() throws Exception {
        Map<String, DeserializationSchema<RowData>> formats = new HashMap<>();
        for (String topic : List.of("click", "cart", "purchase")) {
            formats.put(topic, Formats.decoder(topic, skewMs));
        }
        return cases.stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            long before = System.currentTimeMillis();
            RowData row = formats.get(c.topic()).deserialize(c.value());
            long after = System.currentTimeMillis();
            // payload, reason, product_id, category, ts, arrival_ts
            if (c.value() == null) {
                assertTrue(row.isNullAt(0));
            } else {
                assertArrayEquals(c.value(), row.getString(0).toBytes());
            }
            if (c.reason() == null) {
                assertTrue(row.isNullAt(1));
                assertEquals(c.productId(), row.getString(2).toString());
                assertEquals(c.category(), row.getString(3).toString());
                assertEquals(c.ts(), row.getLong(4));
            } else {
                assertEquals(c.reason(), row.getString(1).toString());
                assertNull(row.isNullAt(2) ? null : row.getString(2));
                assertNull(row.isNullAt(3) ? null : row.getString(3));
                assertEquals(0L, row.getLong(4));
            }
            long arrival = row.getLong(5);
            assertTrue(before <= arrival && arrival <= after, "arrival_ts is the clock");
        }));
    }
}
