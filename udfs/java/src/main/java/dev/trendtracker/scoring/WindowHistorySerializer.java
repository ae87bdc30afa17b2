package dev.trendtracker.scoring;

import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * Flink's serializer of {@link WindowHistory}: a count of windows, then per window its end
 * (epoch ms) and its counts ({@link WindowCountsSerializer}).
 */
public final class WindowHistorySerializer extends TypeSerializerSingleton<WindowHistory> {
    private static final long serialVersionUID = 1L;
    public static final WindowHistorySerializer INSTANCE = new WindowHistorySerializer();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public WindowHistory createInstance() {
        return new WindowHistory();
    }

    @Override
    public WindowHistory copy(WindowHistory from) {
        return from.copy();
    }

    @Override
    public WindowHistory copy(WindowHistory from, WindowHistory reuse) {
        return from.copy();
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(WindowHistory record, DataOutputView target) throws IOException {
        target.writeInt(record.windows.size());
        for (Map.Entry<Long, WindowCounts> entry : record.windows.entrySet()) {
            target.writeLong(entry.getKey());
            WindowCountsSerializer.INSTANCE.serialize(entry.getValue(), target);
        }
    }

    @Override
    public WindowHistory deserialize(DataInputView source) throws IOException {
        int size = source.readInt();
        TreeMap<Long, WindowCounts> windows = new TreeMap<>();
        for (int i = 0; i < size; i++) {
            long windowEnd = source.readLong();
            windows.put(windowEnd, WindowCountsSerializer.INSTANCE.deserialize(source));
        }
        return new WindowHistory(windows);
    }

    @Override
    public WindowHistory deserialize(WindowHistory reuse, DataInputView source)
            throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    @Override
    public TypeSerializerSnapshot<WindowHistory> snapshotConfiguration() {
        return new Snapshot();
    }

    /** The serializer's snapshot: no configuration, only the class. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<WindowHistory> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
