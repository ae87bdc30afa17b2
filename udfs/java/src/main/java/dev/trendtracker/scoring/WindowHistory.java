package dev.trendtracker.scoring;

import java.util.Map;
import java.util.TreeMap;

/**
 * The counts of the recent windows, by window end (epoch ms): the accumulator of
 * {@link RankWindow}, an OVER aggregate whose frame holds the current window and those up to
 * {@code size + slide} before it. That is what both rankings of the current window need (the
 * previous non-overlapping window, {@code size} earlier) and what the previous window's
 * rankings need (one slide earlier, and its own previous non-overlapping window).
 *
 * <p>Plain logic, no Flink runtime. {@link WindowHistorySerializer} stores it in Flink state.
 */
public final class WindowHistory {
    public final TreeMap<Long, WindowCounts> windows;

    public WindowHistory() {
        this(new TreeMap<>());
    }

    WindowHistory(TreeMap<Long, WindowCounts> windows) {
        this.windows = windows;
    }

    /** Adds the counts of the window ending at {@code windowEndMs}. */
    public void add(long windowEndMs, WindowCounts counts) {
        windows.put(windowEndMs, counts);
    }

    /** Forgets the window ending at {@code windowEndMs} (it left the frame). */
    public void remove(long windowEndMs) {
        windows.remove(windowEndMs);
    }

    /** The end of the newest window held, or null when none is. */
    public Long newest() {
        return windows.isEmpty() ? null : windows.lastKey();
    }

    /** The counts of the window ending at {@code windowEndMs}, or null. */
    public WindowCounts at(long windowEndMs) {
        return windows.get(windowEndMs);
    }

    public WindowHistory copy() {
        TreeMap<Long, WindowCounts> copy = new TreeMap<>();
        for (Map.Entry<Long, WindowCounts> entry : windows.entrySet()) {
            copy.put(entry.getKey(), entry.getValue().copy());
        }
        return new WindowHistory(copy);
    }
}
