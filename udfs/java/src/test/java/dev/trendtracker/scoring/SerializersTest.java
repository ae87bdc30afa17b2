package dev.trendtracker.scoring;

import static dev.trendtracker.scoring.Rankings.counts;
import static dev.trendtracker.scoring.Rankings.product;
import static dev.trendtracker.scoring.Rankings.row;
import static dev.trendtracker.scoring.Rankings.rows;
import static dev.trendtracker.scoring.WindowRankingTest.V1;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.table.data.StringData;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;

/** The state serializers: bytes, copies and snapshots (what a restore reads back). */
class SerializersTest {

    static <T> byte[] bytes(TypeSerializer<T> serializer, T value) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64);
        serializer.serialize(value, out);
        return out.getCopyOfBuffer();
    }

    static <T> T read(TypeSerializer<T> serializer, byte[] bytes) throws IOException {
        DataInputDeserializer in = new DataInputDeserializer(bytes);
        T value = serializer.deserialize(in);
        assertEquals(0, in.available(), "every byte read");
        return value;
    }

    /** The serializer restored from its snapshot, written and read as a checkpoint does. */
    static <T> TypeSerializer<T> restored(TypeSerializer<T> serializer) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64);
        TypeSerializerSnapshot.writeVersionedSnapshot(out, serializer.snapshotConfiguration());
        TypeSerializerSnapshot<T> snapshot = TypeSerializerSnapshot.readVersionedSnapshot(
                new DataInputDeserializer(out.getCopyOfBuffer()),
                SerializersTest.class.getClassLoader());
        assertTrue(serializer.snapshotConfiguration().resolveSchemaCompatibility(snapshot)
                .isCompatibleAsIs());
        return snapshot.restoreSerializer();
    }

    @Test
    void windowCountsBytesAreExact() throws IOException {
        WindowCounts counts = new WindowCounts();
        counts.add("p", "c", WindowCounts.CART);
        counts.add(StringData.fromString("q"), null, WindowCounts.PURCHASE);
        byte[] bytes = bytes(WindowCountsSerializer.INSTANCE, counts);
        // int 2, then per entry: int 1, "p", true, int 1, "c", 3 longs; int 1, "q", false,
        // 3 longs. 4 + (4+1+1+4+1+24) + (4+1+1+24) = 69 bytes; order is the map's.
        assertEquals(69, bytes.length);
        WindowCounts again = read(WindowCountsSerializer.INSTANCE, bytes);
        assertArrayEquals(new long[] {0, 1, 0}, WindowCountsTest.countsOf(again, "p", "c"));
        assertArrayEquals(new long[] {0, 0, 1}, WindowCountsTest.countsOf(again, "q", null));
    }

    @Test
    void windowCountsSurviveTheSerializerAndItsSnapshot() throws IOException {
        WindowCounts counts = new WindowCounts();
        counts.add("p-1", "toys", WindowCounts.CLICK);
        counts.add("p-1", "toys", WindowCounts.PURCHASE);
        counts.add("p-\u00e9", "b\u00fccher", WindowCounts.CART);
        TypeSerializer<WindowCounts> serializer = restored(WindowCountsSerializer.INSTANCE);
        assertSame(WindowCountsSerializer.INSTANCE, serializer);
        WindowCounts again = read(serializer, bytes(WindowCountsSerializer.INSTANCE, counts));
        // p-1/toys: 1 + 5 = 6; p-é/bücher: 3.
        assertEquals(List.of(row(null, 1, "p-1", 6.0, 1L, 0L, 1L),
                        row(null, 2, "p-\u00e9", 3.0, 0L, 1L, 0L),
                        row("b\u00fccher", 1, "p-\u00e9", 3.0, 0L, 1L, 0L),
                        row("toys", 1, "p-1", 6.0, 1L, 0L, 1L)),
                rows(again.rank(V1, 5).result(), 7));
    }

    @Test
    void windowCountsCopiesAreDeepAndTheSerializerIsAShareableSingleton() throws Exception {
        WindowCountsSerializer serializer = WindowCountsSerializer.INSTANCE;
        WindowCounts counts = counts(product("p-1", "toys", 1, 0, 0));
        WindowCounts copy = serializer.copy(counts);
        counts.add("p-1", "toys", WindowCounts.CLICK);
        assertArrayEquals(new long[] {1, 0, 0}, WindowCountsTest.countsOf(copy, "p-1", "toys"));
        assertNotSame(copy, serializer.copy(copy, new WindowCounts()));
        assertFalse(serializer.isImmutableType());
        assertEquals(-1, serializer.getLength());
        assertEquals(0, serializer.createInstance().counts.size());
        assertSame(serializer, serializer.duplicate());
        assertEquals(serializer, InstantiationUtil.clone(serializer));
        // copy(source, target) copies the bytes of one value.
        DataOutputSerializer out = new DataOutputSerializer(64);
        serializer.copy(new DataInputDeserializer(bytes(serializer, counts)), out);
        assertArrayEquals(bytes(serializer, counts), out.getCopyOfBuffer());
    }

    @Test
    void windowHistoryBytesAreExact() throws IOException {
        WindowHistory history = new WindowHistory();
        history.add(60_000L, counts(product("p", "c", 1, 0, 0)));
        history.add(30_000L, new WindowCounts());
        byte[] bytes = bytes(WindowHistorySerializer.INSTANCE, history);
        // int 2; long 30000, empty counts (int 0); long 60000, one entry (4 + 35 bytes).
        assertEquals(4 + (8 + 4) + (8 + 4 + 35), bytes.length);
        DataInputDeserializer in = new DataInputDeserializer(bytes);
        assertEquals(2, in.readInt());
        assertEquals(30_000L, in.readLong());
        assertEquals(0, in.readInt());
        assertEquals(60_000L, in.readLong());
    }

    @Test
    void windowHistorySurvivesTheSerializerAndItsSnapshot() throws Exception {
        WindowHistory history = new WindowHistory();
        history.add(1_704_067_230_000L, counts(product("p-1", "toys", 2, 0, 0)));
        history.add(1_704_067_260_000L, counts(product("p-2", "toys", 0, 1, 0),
                product("p-1", "toys", 1, 0, 0)));
        TypeSerializer<WindowHistory> serializer = restored(WindowHistorySerializer.INSTANCE);
        assertSame(WindowHistorySerializer.INSTANCE, serializer);
        WindowHistory again = read(serializer, bytes(serializer, history));
        assertEquals(List.of(1_704_067_230_000L, 1_704_067_260_000L),
                List.copyOf(again.windows.keySet()));
        assertArrayEquals(new long[] {2, 0, 0}, WindowCountsTest.countsOf(
                again.at(1_704_067_230_000L), "p-1", "toys"));
        assertArrayEquals(new long[] {0, 1, 0}, WindowCountsTest.countsOf(
                again.at(1_704_067_260_000L), "p-2", "toys"));
        assertArrayEquals(new long[] {1, 0, 0}, WindowCountsTest.countsOf(
                again.at(1_704_067_260_000L), "p-1", "toys"));

        WindowHistory copy = serializer.copy(history);
        history.at(1_704_067_230_000L).add("p-1", "toys", WindowCounts.CLICK);
        assertArrayEquals(new long[] {2, 0, 0}, WindowCountsTest.countsOf(
                copy.at(1_704_067_230_000L), "p-1", "toys"));
        assertInstanceOf(WindowHistorySerializer.Snapshot.class,
                serializer.snapshotConfiguration());
        assertEquals(0, serializer.createInstance().windows.size());
        assertEquals(serializer, InstantiationUtil.clone(serializer));
        // copy(source, target) copies one value (its entries in the map's order, which a
        // map of another capacity may change).
        DataOutputSerializer out = new DataOutputSerializer(64);
        serializer.copy(new DataInputDeserializer(bytes(serializer, copy)), out);
        WindowHistory copied = read(serializer, out.getCopyOfBuffer());
        assertArrayEquals(new long[] {2, 0, 0}, WindowCountsTest.countsOf(
                copied.at(1_704_067_230_000L), "p-1", "toys"));
        assertArrayEquals(new long[] {0, 1, 0}, WindowCountsTest.countsOf(
                copied.at(1_704_067_260_000L), "p-2", "toys"));
        assertEquals(2, copied.at(1_704_067_260_000L).counts.size());
    }

    @Test
    void windowHistoryKeepsTheNewestWindowAndForgetsThoseThatLeave() {
        WindowHistory history = new WindowHistory();
        assertEquals(null, history.newest());
        WindowCounts first = new WindowCounts();
        history.add(30_000L, first);
        history.add(90_000L, new WindowCounts());
        history.add(60_000L, new WindowCounts());
        assertEquals(90_000L, history.newest());
        assertSame(first, history.at(30_000L));
        assertEquals(null, history.at(45_000L));
        history.remove(90_000L);
        assertEquals(60_000L, history.newest());
    }
}
