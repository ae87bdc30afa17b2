package dev.trendtracker.deadletter;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * What a dead letter carries of its record's value: {@code dead_letter_payload(payload,
 * prefix_bytes)} is a {@code ROW<payload STRING, payload_bytes BIGINT, payload_sha256 STRING>}
 * with a prefix of the value, the value's size in bytes and its SHA-256 (lower-case hex).
 *
 * <p>Why a prefix: the dead-letter envelope is JSON, where a byte that is not UTF-8 becomes
 * U+FFFD (3 bytes) and a control character a six-character escape, so a whole value of a few
 * hundred KB could make an envelope larger than the producer sends, and stop the job on that
 * record. A value of at most {@code prefix_bytes} bytes is carried whole and as it is; a
 * longer one is cut to at most {@code prefix_bytes} bytes, before a UTF-8 character the limit
 * would split. The size and the hash identify the whole value. A null value (a tombstone)
 * gives three nulls.
 *
 * <p>Called on the dead-letter branch only (after the job's filter on the reason), so a valid
 * event is never hashed. The value's bytes are read as they are, never decoded or copied.
 */
public class DeadLetterPayload extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private static final HexFormat HEX = HexFormat.of();
    /** A UTF-8 character is at most 4 bytes: a cut backs off at most 3. */
    private static final int MAX_CONTINUATION_BYTES = 3;

    private transient MessageDigest sha256;

    @Override
    public boolean isDeterministic() {
        return false; // one call per dead letter, never repeated for each field read from it
    }

    @Override
    public void open(FunctionContext context) throws NoSuchAlgorithmException {
        sha256 = MessageDigest.getInstance("SHA-256");
    }

    public @DataTypeHint(
            value = "ROW<payload STRING, payload_bytes BIGINT, payload_sha256 STRING>",
            bridgedTo = RowData.class) RowData eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData payload,
            int prefixBytes) throws NoSuchAlgorithmException {
        if (payload == null) {
            return GenericRowData.of(null, null, null);
        }
        if (sha256 == null) {
            sha256 = MessageDigest.getInstance("SHA-256");
        }
        byte[] bytes = payload.toBytes(); // the record's own array when it wraps one
        StringData prefix = bytes.length <= prefixBytes
                ? payload
                : StringData.fromBytes(bytes, 0, prefixEnd(bytes, prefixBytes));
        String hash = HEX.formatHex(sha256.digest(bytes));
        return GenericRowData.of(prefix, (long) bytes.length, StringData.fromString(hash));
    }

    /**
     * The end of a prefix of at most {@code limit} bytes of a longer value: a continuation
     * byte (10xxxxxx) at the limit belongs to a character begun before it, which is left out.
     */
    static int prefixEnd(byte[] bytes, int limit) {
        int end = Math.max(limit, 0);
        while (end > 0 && limit - end < MAX_CONTINUATION_BYTES && (bytes[end] & 0xC0) == 0x80) {
            end--;
        }
        return end;
    }
}
