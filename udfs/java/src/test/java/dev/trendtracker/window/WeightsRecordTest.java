package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Weights records as the weights topic holds them, and the records that are refused. */
class WeightsRecordTest {
    @Test
    void aRecordAppliesFromItsTimeOrElseFromWhenItWasPublished() {
        assertEquals(new WeightsRecord("v2", 1.0, 0.0, 2.5, 1_000),
                WeightsRecord.parse("{\"weights_version\": \"v2\", \"click\": 1, \"cart\": 0, "
                        + "\"purchase\": 2.5, \"applies_from_ms\": 1000, "
                        + "\"published_ms\": 7000}"));
        // What the registry's publisher writes today.
        assertEquals(new WeightsRecord("trend-weights/3", 1.0, 3.0, 5.0, 1_767_225_600_000L),
                WeightsRecord.parse("{\"weights_version\":\"trend-weights/3\",\"click\":1.0,"
                        + "\"cart\":3.0,\"purchase\":5.0,\"published_ms\":1767225600000}"));
        assertEquals(6.0 + 2 * 3.0, new WeightsRecord("v", 1, 3, 5, 0).score(1, 2, 1));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "not json",
        "[1, 2]",
        "{\"click\": 1, \"cart\": 1, \"purchase\": 1, \"applies_from_ms\": 0}",
        "{\"weights_version\": \"\", \"click\": 1, \"cart\": 1, \"purchase\": 1, "
                + "\"applies_from_ms\": 0}",
        "{\"weights_version\": \"v\", \"click\": 1, \"cart\": 1, \"applies_from_ms\": 0}",
        "{\"weights_version\": \"v\", \"click\": \"1\", \"cart\": 1, \"purchase\": 1, "
                + "\"applies_from_ms\": 0}",
        "{\"weights_version\": \"v\", \"click\": -1, \"cart\": 1, \"purchase\": 1, "
                + "\"applies_from_ms\": 0}",
        "{\"weights_version\": \"v\", \"click\": 1000001, \"cart\": 1, \"purchase\": 1, "
                + "\"applies_from_ms\": 0}",
        "{\"weights_version\": \"v\", \"click\": 1e400, \"cart\": 1, \"purchase\": 1, "
                + "\"applies_from_ms\": 0}",
        "{\"weights_version\": \"v\", \"click\": 0, \"cart\": 0, \"purchase\": 0, "
                + "\"applies_from_ms\": 0}",
        "{\"weights_version\": \"v\", \"click\": 1, \"cart\": 1, \"purchase\": 1}",
        "{\"weights_version\": \"v\", \"click\": 1, \"cart\": 1, \"purchase\": 1, "
                + "\"applies_from_ms\": -5}",
        "{\"weights_version\": \"v\", \"click\": 1, \"cart\": 1, \"purchase\": 1, "
                + "\"applies_from_ms\": 1.5}",
    })
    void invalidRecordsAreRefused(String record) {
        assertThrows(IllegalArgumentException.class, () -> WeightsRecord.parse(record));
    }
}
