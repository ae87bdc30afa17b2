package dev.trendtracker.window;

/**
 * When the weights a subtask scores windows with change: one answer per change, however many
 * products (keys) score the same window end. Timers fire in time order across a subtask's
 * keys, so the first window end scored with a new version is the first of that version here.
 * A window scored again for a late event (its end before the newest one scored) is no change:
 * it keeps the weights of its own end.
 *
 * <p>Plain state of one subtask, kept for the life of the operator instance (a restored job
 * reports the weights of its first window again).
 */
final class WeightsSwitches {
    private String version;
    private long newestEnd = Long.MIN_VALUE;

    /** A change of weights: the version before (null at a subtask's first window) and after. */
    record Switch(String from, String to, long firstWindowEnd) {}

    /**
     * The change that scoring the window ending at {@code end} with {@code weightsVersion}
     * makes, or null when it makes none.
     */
    Switch scored(String weightsVersion, long end) {
        if (end <= newestEnd) {
            return null;
        }
        newestEnd = end;
        if (weightsVersion.equals(version)) {
            return null;
        }
        Switch change = new Switch(version, weightsVersion, end);
        version = weightsVersion;
        return change;
    }
}
