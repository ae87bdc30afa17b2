package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** One change reported per switch of weights in a subtask, whatever the number of keys. */
class WeightsSwitchesTest {

    @Test
    void theFirstWindowReportsTheWeightsItStartsWith() {
        WeightsSwitches switches = new WeightsSwitches();
        assertEquals(new WeightsSwitches.Switch(null, "v1", 10_000),
                switches.scored("v1", 10_000));
    }

    @Test
    void everyKeyOfAWindowAfterTheFirstReportsNothing() {
        WeightsSwitches switches = new WeightsSwitches();
        switches.scored("v1", 10_000);
        assertNull(switches.scored("v1", 10_000));
        assertNull(switches.scored("v1", 10_000));
        assertNull(switches.scored("v1", 20_000));
    }

    @Test
    void aNewVersionIsReportedOnceWithTheOneBeforeAndItsFirstWindow() {
        WeightsSwitches switches = new WeightsSwitches();
        switches.scored("v1", 10_000);
        switches.scored("v1", 20_000);
        assertEquals(new WeightsSwitches.Switch("v1", "v2", 30_000),
                switches.scored("v2", 30_000));
        assertNull(switches.scored("v2", 30_000));
        assertNull(switches.scored("v2", 40_000));
        assertEquals(new WeightsSwitches.Switch("v2", "v3", 50_000),
                switches.scored("v3", 50_000));
    }

    @Test
    void aWindowScoredAgainForALateEventChangesNothing() {
        WeightsSwitches switches = new WeightsSwitches();
        switches.scored("v1", 20_000);
        switches.scored("v2", 30_000);
        // Window 20 s fires again with its own weights, v1: no switch back, and none
        // forward at the next window of v2.
        assertNull(switches.scored("v1", 20_000));
        assertNull(switches.scored("v2", 40_000));
    }
}
