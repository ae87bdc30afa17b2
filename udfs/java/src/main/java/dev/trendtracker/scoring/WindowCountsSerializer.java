package dev.trendtracker.scoring;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.table.data.binary.BinaryStringData;

/**
 * Flink's serializer of {@link WindowCounts}: a count of entries, then per entry the
 * product_id, a category flag and category (each as a length and its UTF-8 bytes), and the
 * three counts.
 */
public final class WindowCountsSerializer extends TypeSerializerSingleton<WindowCounts> {
    private static final long serialVersionUID = 1L;
    public static final WindowCountsSerializer INSTANCE = new WindowCountsSerializer();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public WindowCounts createInstance() {
        return new WindowCounts();
    }

    @Override
    public WindowCounts copy(WindowCounts from) {
        return from.copy();
    }

    @Override
    public WindowCounts copy(WindowCounts from, WindowCounts reuse) {
        return from.copy();
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(WindowCounts record, DataOutputView target) throws IOException {
        target.writeInt(record.counts.size());
        for (Map.Entry<WindowCounts.ProductKey, long[]> entry : record.counts.entrySet()) {
            WindowCounts.ProductKey key = entry.getKey();
            writeString(key.productId, target);
            target.writeBoolean(key.category != null);
            if (key.category != null) {
                writeString(key.category, target);
            }
            for (long count : entry.getValue()) {
                target.writeLong(count);
            }
        }
    }

    @Override
    public WindowCounts deserialize(DataInputView source) throws IOException {
        int size = source.readInt();
        HashMap<WindowCounts.ProductKey, long[]> counts = new HashMap<>(Math.max(16, size * 2));
        for (int i = 0; i < size; i++) {
            BinaryStringData productId = readString(source);
            BinaryStringData category = source.readBoolean() ? readString(source) : null;
            long[] values = new long[WindowCounts.EVENT_TYPES];
            for (int j = 0; j < values.length; j++) {
                values[j] = source.readLong();
            }
            counts.put(new WindowCounts.ProductKey(productId, category), values);
        }
        return new WindowCounts(counts);
    }

    private static void writeString(BinaryStringData text, DataOutputView target)
            throws IOException {
        byte[] bytes = text.toBytes();
        target.writeInt(bytes.length);
        target.write(bytes);
    }

    private static BinaryStringData readString(DataInputView source) throws IOException {
        byte[] bytes = new byte[source.readInt()];
        source.readFully(bytes);
        return BinaryStringData.fromBytes(bytes);
    }

    @Override
    public WindowCounts deserialize(WindowCounts reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    @Override
    public TypeSerializerSnapshot<WindowCounts> snapshotConfiguration() {
        return new Snapshot();
    }

    /** The serializer's snapshot: no configuration, only the class. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<WindowCounts> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
