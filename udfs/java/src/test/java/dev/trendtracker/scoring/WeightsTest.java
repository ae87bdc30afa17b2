package dev.trendtracker.scoring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Weights records are data: parsed and validated as registry.weights.validate_weights does. */
class WeightsTest {

    @Test
    void aWeightsRecordIsParsedWithItsExtraFieldsIgnored() {
        Weights parsed = Weights.parse("{\"weights_version\": \"7\", \"click\": 1, \"cart\": 2.5, "
                + "\"purchase\": 0, \"published_ms\": 1}");
        assertEquals("7", parsed.version);
        assertEquals(1.0, parsed.click);
        assertEquals(2.5, parsed.cart);
        assertEquals(0.0, parsed.purchase);
        assertEquals("7 {click=1.0, cart=2.5, purchase=0.0}", parsed.toString());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{\"click\": 1, \"cart\": 1, \"purchase\": 1}|weights record has no weights_version",
        "{\"weights_version\": \"\", \"click\": 1, \"cart\": 1, \"purchase\": 1}|weights record has no weights_version",
        "{\"weights_version\": 3, \"click\": 1, \"cart\": 1, \"purchase\": 1}|weights record has no weights_version",
        "{\"weights_version\": \"x\", \"click\": -1, \"cart\": 1, \"purchase\": 1}|weight click=-1.0 is negative",
        "{\"weights_version\": \"x\", \"click\": \"1\", \"cart\": 1, \"purchase\": 1}|weight click is not a number",
        "{\"weights_version\": \"x\", \"click\": 1, \"purchase\": 1}|weight cart is not a number",
        "{\"weights_version\": \"x\", \"click\": 0, \"cart\": 0, \"purchase\": 0}|at least one weight must be positive",
        "{\"weights_version\": \"x\", \"click\": 1e999, \"cart\": 0, \"purchase\": 0}|weight click=Infinity is not finite",
        "{\"weights_version\": \"x\", \"click\": 1, \"cart\": 1000001, \"purchase\": 0}|weight cart=1000001.0 is above the maximum of 1000000.0",
        "[1]|weights record is not a JSON object",
    })
    void anInvalidRecordIsRefusedWithItsReason(String record, String message) {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> Weights.parse(record));
        assertEquals(message, e.getMessage());
    }

    @Test
    void bytesThatAreNotJsonOrNullAreRefused() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Weights.parse("{"))
                .getMessage().startsWith("weights record is not JSON: "));
        assertEquals("empty weights record", assertThrows(IllegalArgumentException.class,
                () -> Weights.parse((byte[]) null)).getMessage());
    }

    @Test
    void theConstructorChecksTheSameBounds() {
        assertEquals("weights have no version", assertThrows(IllegalArgumentException.class,
                () -> new Weights("", 1, 1, 1)).getMessage());
        assertEquals("weight purchase=NaN is not finite",
                assertThrows(IllegalArgumentException.class,
                        () -> new Weights("v", 1, 1, Double.NaN)).getMessage());
        Weights largest = new Weights("v", 1e6, 1e6, 1e6);
        assertEquals(3e6, largest.score(1, 1, 1));
    }

    @Test
    void aScoreIsTheWeightedSumOfTheCounts() {
        Weights weights = new Weights("v1", 1.0, 3.0, 5.0);
        // 2 * 1 + 4 * 3 + 1 * 5 = 19
        assertEquals(19.0, weights.score(2, 4, 1));
        assertEquals(0.0, weights.score(0, 0, 0));
    }

    @Test
    void anActivationRecordIsTheWeightsRecordWithItsWindowEnd() {
        Weights weights = new Weights("v2", 1.0, 3.0, 5.0);
        byte[] record = weights.toRecord(1_704_067_260_000L);
        assertEquals("{\"weights_version\":\"v2\",\"click\":1.0,\"cart\":3.0,\"purchase\":5.0,"
                + "\"window_end\":1704067260000}", new String(record, StandardCharsets.UTF_8));
        assertTrue(Weights.parse(record).sameAs(weights));
        assertEquals(1_704_067_260_000L, Weights.windowEnd(record));
        assertEquals("record has no integer window_end", assertThrows(
                IllegalArgumentException.class,
                () -> Weights.windowEnd("{\"window_end\": \"soon\"}".getBytes(StandardCharsets.UTF_8)))
                .getMessage());
    }

    @Test
    void sameAsComparesTheVersionAndEveryWeight() {
        Weights v1 = new Weights("v1", 1, 3, 5);
        assertTrue(v1.sameAs(new Weights("v1", 1, 3, 5)));
        assertFalse(v1.sameAs(new Weights("v2", 1, 3, 5)));
        assertFalse(v1.sameAs(new Weights("v1", 1, 3, 6)));
        assertFalse(v1.sameAs(null));
    }
}
