package dev.trendtracker.deadletter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;

import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** dead_letter_payload: a prefix of the value, its size and its SHA-256 (hashes by sha256sum). */
class DeadLetterPayloadTest {
    private DeadLetterPayload function;

    @BeforeEach
    void open() throws Exception {
        function = new DeadLetterPayload();
        function.open(new FunctionContext(null));
    }

    static StringData bytes(int... values) {
        byte[] bytes = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            bytes[i] = (byte) values[i];
        }
        return StringData.fromBytes(bytes);
    }

    static byte[] prefix(RowData row) {
        return row.getString(0).toBytes();
    }

    @Test
    void aTombstoneGivesThreeNulls() throws Exception {
        RowData row = function.eval(null, 10);
        assertEquals(3, row.getArity());
        assertTrue(row.isNullAt(0) && row.isNullAt(1) && row.isNullAt(2));
    }

    @Test
    void aValueUpToThePrefixIsCarriedWholeAsItIs() throws Exception {
        StringData value = StringData.fromString("abc");
        RowData row = function.eval(value, 3);
        assertSame(value, row.getString(0));
        assertEquals(3L, row.getLong(1));
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                row.getString(2).toString());
    }

    @Test
    void aLongerValueIsCutAndStillSizedAndHashedWhole() throws Exception {
        RowData row = function.eval(StringData.fromString("abcdef"), 4);
        assertEquals("abcd", row.getString(0).toString());
        assertEquals(6L, row.getLong(1));
        assertEquals("bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721",
                row.getString(2).toString());
        assertEquals("", function.eval(StringData.fromString("abcdef"), 0).getString(0)
                .toString());
    }

    @Test
    void aCutNeverSplitsAUtf8Character() throws Exception {
        StringData value = StringData.fromString("a\u00e9b"); // 61 C3 A9 62
        RowData cut = function.eval(value, 2);
        assertArrayEquals("a".getBytes(StandardCharsets.UTF_8), prefix(cut));
        assertEquals(4L, cut.getLong(1));
        assertEquals("987a4acf961d5fb9808a9c5162e1b0e1140b250728f22fbfd0613974f5cf928a",
                cut.getString(2).toString());
        assertArrayEquals("a\u00e9".getBytes(StandardCharsets.UTF_8),
                prefix(function.eval(value, 3)));
        // A four-byte character after x: a limit inside it backs off to before it.
        StringData emoji = StringData.fromString("x\uD83D\uDE00"); // 78 F0 9F 98 80
        for (int limit = 1; limit <= 4; limit++) {
            assertArrayEquals(new byte[] {'x'}, prefix(function.eval(emoji, limit)));
        }
        assertEquals("c3cd6bb319af3bee70c1785e45c723dace589613fd6984677911fb23798a35df",
                function.eval(emoji, 4).getString(2).toString());
    }

    @Test
    void bytesThatAreNotUtf8AreHashedAsTheyAreAndCutAtMostThreeBack() throws Exception {
        RowData row = function.eval(bytes(0xff, 0xfe, 0x80), 2);
        assertArrayEquals(new byte[] {(byte) 0xff}, prefix(row));
        assertEquals(3L, row.getLong(1));
        assertEquals("b632bfa9c60bc17f7fd78dba311fd3f5dfa66cb8c017a4278e2bae28d668844d",
                row.getString(2).toString());
        // Only continuation bytes: no character start to back off to within 3 bytes.
        byte[] continuations = {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80};
        assertEquals(1, DeadLetterPayload.prefixEnd(continuations, 4));
        assertEquals(0, DeadLetterPayload.prefixEnd(continuations, 0));
        assertEquals(0, DeadLetterPayload.prefixEnd(continuations, -5));
        assertEquals("b7f9ccb1ba3083882226f0a462de660111f4e3ab9334295ca33551142ab882c0",
                function.eval(StringData.fromBytes(continuations), 4).getString(2).toString());
    }

    @Test
    void itWorksWithoutOpenAndIsNeverFolded() throws Exception {
        DeadLetterPayload unopened = new DeadLetterPayload();
        assertEquals(3L, unopened.eval(StringData.fromString("abc"), 10).getLong(1));
        assertFalse(unopened.isDeterministic());
    }
}
