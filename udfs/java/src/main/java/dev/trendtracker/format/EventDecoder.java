package dev.trendtracker.format;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.math.BigDecimal;
import java.nio.ByteOrder;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadConstraints;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadFeature;

/**
 * Decodes one raw event value against the event contract in a single pass.
 *
 * <p>The contract is {@code trend_tracker/schemas/event.schema.json}; the rules, their order
 * and the reason codes are those of {@code trend_tracker.events.classify}, and the two are
 * compared payload by payload (docs/EVENT-CONTRACT.md). In short:
 *
 * <ol>
 *   <li>{@code not_json}: a null value; bytes that are not well-formed UTF-8 (overlong forms,
 *       encoded surrogates, code points above U+10FFFF, truncated sequences); a UTF-8
 *       byte-order mark; anything but exactly one JSON object (RFC 8259: no NaN or Infinity,
 *       no comments, only whitespace after the object); nesting deeper than {@link
 *       #MAX_DEPTH} (the event object itself is depth 1).
 *   <li>{@code missing_field}: a required field absent or null. Duplicate keys: the last
 *       one wins, as in Python's {@code json}. Names and strings are compared unescaped.
 *   <li>{@code wrong_type}: a non-string id or event_type; a ts that is not an integral
 *       number in {@code MIN_TS_MS..MAX_TS_MS} (a ts in seconds is below it); a price
 *       (optional, null allowed) that is not a finite number {@code >= 0}. Integer
 *       literals are exact; any literal with a fraction or exponent is read as the nearest
 *       IEEE double, as Python does ({@code 1.7e12} and {@code 1704067200000.0} are
 *       integral, {@code 1e400} is infinite).
 *   <li>{@code bad_id}: product_id or category not matching {@code [A-Za-z0-9._:-]{1,64}};
 *       event_id or user_id not 1..128 code points long.
 *   <li>{@code unknown_event_type}, {@code topic_mismatch}, {@code future_ts} (ts more than
 *       the skew ahead of the given processing time).
 * </ol>
 *
 * <p>Unknown fields are skipped without decoding their values (only their nesting depth is
 * tracked). One instance per thread: it keeps the last record's decoded fields.
 */
public final class EventDecoder {

    /** Why a record is rejected; {@code null} from {@link #decode} means valid. */
    public enum Reason {
        NOT_JSON("not_json"),
        MISSING_FIELD("missing_field"),
        WRONG_TYPE("wrong_type"),
        BAD_ID("bad_id"),
        UNKNOWN_EVENT_TYPE("unknown_event_type"),
        TOPIC_MISMATCH("topic_mismatch"),
        FUTURE_TS("future_ts");

        public final String code;

        Reason(String code) {
            this.code = code;
        }
    }

    /** Deepest nesting of objects and arrays in a value; the event object is depth 1. */
    public static final int MAX_DEPTH = 64;
    /** Least ts (2000-01-01T00:00:00Z): a ts in seconds is below it, so it is wrong_type. */
    public static final long MIN_TS_MS = 946_684_800_000L;
    /** Largest ts (9999-12-31T23:59:59.999Z): ts fits BIGINT and TIMESTAMP(3). */
    public static final long MAX_TS_MS = 253_402_300_799_999L;
    /** product_id and category: 1..64 characters of {@code [A-Za-z0-9._:-]}. */
    public static final int MAX_ID_CHARS = 64;
    /** event_id and user_id: 1..128 Unicode code points. */
    public static final int MAX_OPAQUE_ID_CODE_POINTS = 128;
    /** The event types, in the order of their codes. */
    public static final String[] EVENT_TYPES = {"click", "cart", "purchase"};

    /** The largest double written out as an integer: 309 digits. */
    private static final String MAX_DOUBLE_DIGITS =
            new BigDecimal(Double.MAX_VALUE).toBigInteger().toString();
    private static final int MAX_TS_DIGITS = Long.toString(MAX_TS_MS).length();

    private static final VarHandle LONGS =
            MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ALL_20 = 0x2020202020202020L;
    private static final long ALL_80 = 0x8080808080808080L;

    // Fields of the contract (indexes into state[]).
    private static final int EVENT_ID = 0;
    private static final int EVENT_TYPE = 1;
    private static final int PRODUCT_ID = 2;
    private static final int CATEGORY = 3;
    private static final int USER_ID = 4;
    private static final int TS = 5;
    private static final int PRICE = 6;
    private static final int FIELDS = 7;
    private static final int REQUIRED = 6; // all but price

    // What the last occurrence of a field held.
    private static final byte ABSENT = 0;
    private static final byte NULL = 1;
    private static final byte WRONG = 2; // wrong JSON type or number out of range
    private static final byte INVALID = 3; // a string breaking its id rule / unknown type
    private static final byte VALID = 4;

    private final JsonFactory json;
    private final int topicEventType;
    private final long maxFutureSkewMs;

    private final byte[] state = new byte[FIELDS];
    private int eventType;
    private long ts;
    private byte[] productId;
    private byte[] category;
    private String eventId;
    private String userId;

    /**
     * @param topicEventType the event type the topic carries ({@code click}, {@code cart} or
     *     {@code purchase}), or {@code null} to skip the topic check
     * @param maxFutureSkewMs how far ahead of processing time a ts may be
     */
    public EventDecoder(String topicEventType, long maxFutureSkewMs) {
        this.topicEventType = topicEventType == null ? -1 : eventTypeCode(topicEventType);
        if (topicEventType != null && this.topicEventType < 0) {
            throw new IllegalArgumentException("unknown event type " + topicEventType);
        }
        if (maxFutureSkewMs < 0) {
            throw new IllegalArgumentException("max future skew must be >= 0");
        }
        this.maxFutureSkewMs = maxFutureSkewMs;
        this.json = newJsonFactory();
    }

    private static JsonFactory newJsonFactory() {
        return JsonFactory.builder()
                // Every byte source is UTF-8 (checked before parsing): no guessing of UTF-16/32.
                .disable(JsonFactory.Feature.CHARSET_DETECTION)
                // Names are compared, never kept: no interning. Canonical names are reused
                // across records; a flood of odd names must not make a record fail.
                .disable(JsonFactory.Feature.INTERN_FIELD_NAMES)
                .disable(JsonFactory.Feature.FAIL_ON_SYMBOL_HASH_OVERFLOW)
                .disable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION)
                // The contract sets its own limits (depth) or none (number and string
                // lengths: a 5,000-digit ts is wrong_type, not unreadable).
                .streamReadConstraints(StreamReadConstraints.builder()
                        .maxNestingDepth(Integer.MAX_VALUE)
                        .maxNumberLength(Integer.MAX_VALUE)
                        .maxStringLength(Integer.MAX_VALUE)
                        .build())
                .build();
    }

    /** The code of an event type (index into {@link #EVENT_TYPES}), or -1. */
    public static int eventTypeCode(String eventType) {
        for (int i = 0; i < EVENT_TYPES.length; i++) {
            if (EVENT_TYPES[i].equals(eventType)) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Decodes one value. Returns null when the event is valid (then {@link #ts()}, {@link
     * #productId()}, {@link #category()}, {@link #eventId()} and {@link #userId()} hold its
     * fields), else the reason. Never throws.
     */
    public Reason decode(byte[] value, long processingTimeMs) {
        for (int i = 0; i < FIELDS; i++) {
            state[i] = ABSENT;
        }
        if (value == null || !isWellFormedUtf8(value)) {
            return Reason.NOT_JSON;
        }
        try (JsonParser parser = json.createParser(value)) {
            if (!readObject(parser)) {
                return Reason.NOT_JSON;
            }
        } catch (IOException | RuntimeException e) {
            return Reason.NOT_JSON;
        }
        return verdict(processingTimeMs);
    }

    /** ts of the last valid event, epoch milliseconds. */
    public long ts() {
        return ts;
    }

    /** product_id of the last valid event, as UTF-8 (ASCII) bytes. */
    public byte[] productId() {
        return productId;
    }

    /** category of the last valid event, as UTF-8 (ASCII) bytes. */
    public byte[] category() {
        return category;
    }

    /** event_id of the last valid event, unescaped. */
    public String eventId() {
        return eventId;
    }

    /** user_id of the last valid event, unescaped. */
    public String userId() {
        return userId;
    }

    private Reason verdict(long processingTimeMs) {
        for (int i = 0; i < REQUIRED; i++) {
            if (state[i] <= NULL) {
                return Reason.MISSING_FIELD;
            }
        }
        for (int i = 0; i < FIELDS; i++) {
            if (state[i] == WRONG) {
                return Reason.WRONG_TYPE;
            }
        }
        if (state[PRODUCT_ID] == INVALID || state[CATEGORY] == INVALID
                || state[EVENT_ID] == INVALID || state[USER_ID] == INVALID) {
            return Reason.BAD_ID;
        }
        if (state[EVENT_TYPE] == INVALID) {
            return Reason.UNKNOWN_EVENT_TYPE;
        }
        if (topicEventType >= 0 && eventType != topicEventType) {
            return Reason.TOPIC_MISMATCH;
        }
        long limit = processingTimeMs + maxFutureSkewMs;
        if (limit < processingTimeMs) {
            limit = Long.MAX_VALUE; // overflow: nothing is that far ahead
        }
        return ts > limit ? Reason.FUTURE_TS : null;
    }

    // --- parsing ---------------------------------------------------------------------------

    /** Reads the root object; false when the value is not exactly one JSON object. */
    private boolean readObject(JsonParser p) throws IOException {
        if (p.nextToken() != JsonToken.START_OBJECT) {
            return false;
        }
        JsonToken token;
        while ((token = p.nextToken()) == JsonToken.FIELD_NAME) {
            int field = fieldOf(p.currentName());
            JsonToken value = p.nextToken();
            if (value == JsonToken.START_OBJECT || value == JsonToken.START_ARRAY) {
                if (!skipContainer(p)) {
                    return false;
                }
                if (field >= 0) {
                    state[field] = WRONG;
                }
                continue;
            }
            if (field < 0 || value == null) {
                continue; // an unknown scalar: Jackson skips (and checks) it lazily
            }
            state[field] = value == JsonToken.VALUE_NULL ? NULL : read(field, value, p);
        }
        // The object must close, and nothing but whitespace may follow it.
        return token == JsonToken.END_OBJECT && p.nextToken() == null;
    }

    private static int fieldOf(String name) {
        switch (name) {
            case "event_id": return EVENT_ID;
            case "event_type": return EVENT_TYPE;
            case "product_id": return PRODUCT_ID;
            case "category": return CATEGORY;
            case "user_id": return USER_ID;
            case "ts": return TS;
            case "price": return PRICE;
            default: return -1;
        }
    }

    /** Skips the container just opened (at depth 2); false when it nests too deep. */
    private static boolean skipContainer(JsonParser p) throws IOException {
        int depth = 2;
        if (depth > MAX_DEPTH) {
            return false;
        }
        while (depth > 1) {
            JsonToken t = p.nextToken();
            if (t == null) {
                return false;
            }
            if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
                if (++depth > MAX_DEPTH) {
                    return false;
                }
            } else if (t == JsonToken.END_OBJECT || t == JsonToken.END_ARRAY) {
                depth--;
            }
        }
        return true;
    }

    /** The state of a known field holding the scalar {@code value} (not null). */
    private byte read(int field, JsonToken value, JsonParser p) throws IOException {
        switch (field) {
            case TS:
                return readTs(value, p);
            case PRICE:
                return readPrice(value, p);
            default:
                if (value != JsonToken.VALUE_STRING) {
                    return WRONG;
                }
                char[] chars = p.getTextCharacters();
                int offset = p.getTextOffset();
                int length = p.getTextLength();
                switch (field) {
                    case EVENT_TYPE:
                        return readEventType(chars, offset, length);
                    case PRODUCT_ID: {
                        byte[] id = idBytes(chars, offset, length);
                        if (id == null) {
                            return INVALID;
                        }
                        productId = id;
                        return VALID;
                    }
                    case CATEGORY: {
                        byte[] id = idBytes(chars, offset, length);
                        if (id == null) {
                            return INVALID;
                        }
                        category = id;
                        return VALID;
                    }
                    default: { // event_id, user_id
                        if (!opaqueIdOk(chars, offset, length)) {
                            return INVALID;
                        }
                        String id = new String(chars, offset, length);
                        if (field == EVENT_ID) {
                            eventId = id;
                        } else {
                            userId = id;
                        }
                        return VALID;
                    }
                }
        }
    }

    private byte readEventType(char[] chars, int offset, int length) {
        next:
        for (int code = 0; code < EVENT_TYPES.length; code++) {
            String name = EVENT_TYPES[code];
            if (name.length() != length) {
                continue;
            }
            for (int i = 0; i < length; i++) {
                if (name.charAt(i) != chars[offset + i]) {
                    continue next;
                }
            }
            eventType = code;
            return VALID;
        }
        return INVALID;
    }

    /** An id of {@code [A-Za-z0-9._:-]{1,64}} as bytes, or null. */
    private static byte[] idBytes(char[] chars, int offset, int length) {
        if (length < 1 || length > MAX_ID_CHARS) {
            return null;
        }
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            char c = chars[offset + i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '.' || c == '_' || c == ':' || c == '-')) {
                return null;
            }
            bytes[i] = (byte) c;
        }
        return bytes;
    }

    /** 1..128 code points (a lone surrogate counts as one, as in Python). */
    private static boolean opaqueIdOk(char[] chars, int offset, int length) {
        if (length < 1 || length > 2 * MAX_OPAQUE_ID_CODE_POINTS) {
            return false;
        }
        return length <= MAX_OPAQUE_ID_CODE_POINTS
                || Character.codePointCount(chars, offset, length) <= MAX_OPAQUE_ID_CODE_POINTS;
    }

    private byte readTs(JsonToken value, JsonParser p) throws IOException {
        if (value == JsonToken.VALUE_NUMBER_INT) {
            char[] c = p.getTextCharacters();
            int offset = p.getTextOffset();
            int length = p.getTextLength();
            if (c[offset] == '-' || length > MAX_TS_DIGITS) { // -0 too is below MIN_TS_MS
                return WRONG;
            }
            long v = 0;
            for (int i = 0; i < length; i++) {
                v = v * 10 + (c[offset + i] - '0');
            }
            if (v < MIN_TS_MS || v > MAX_TS_MS) {
                return WRONG;
            }
            ts = v;
            return VALID;
        }
        if (value == JsonToken.VALUE_NUMBER_FLOAT) {
            double d = p.getDoubleValue();
            // NaN and infinities fail the range test; 1.7e12 and 1704067200000.0 are integral.
            if (d >= MIN_TS_MS && d <= MAX_TS_MS && d == Math.floor(d)) {
                ts = (long) d;
                return VALID;
            }
        }
        return WRONG;
    }

    private static byte readPrice(JsonToken value, JsonParser p) throws IOException {
        if (value == JsonToken.VALUE_NUMBER_INT) {
            // Exact, as Python compares an int with a float: 0 <= price <= Double.MAX_VALUE.
            char[] c = p.getTextCharacters();
            int offset = p.getTextOffset();
            int length = p.getTextLength();
            if (c[offset] == '-') {
                return length == 2 && c[offset + 1] == '0' ? VALID : WRONG;
            }
            int maxLength = MAX_DOUBLE_DIGITS.length();
            if (length != maxLength) {
                return length < maxLength ? VALID : WRONG;
            }
            for (int i = 0; i < length; i++) { // same length, no leading zeros: compare digits
                int diff = c[offset + i] - MAX_DOUBLE_DIGITS.charAt(i);
                if (diff != 0) {
                    return diff < 0 ? VALID : WRONG;
                }
            }
            return VALID;
        }
        if (value == JsonToken.VALUE_NUMBER_FLOAT) {
            double d = p.getDoubleValue();
            return d >= 0 && d <= Double.MAX_VALUE ? VALID : WRONG;
        }
        return WRONG;
    }

    // --- bytes -----------------------------------------------------------------------------

    /**
     * True when {@code b} is well-formed UTF-8 (the Unicode definition, as Python's strict
     * decoder), does not start with a byte-order mark, and holds no control character
     * other than tab, line feed and carriage return (JSON allows no other, raw, anywhere).
     * Eight ASCII bytes are checked at a time.
     */
    static boolean isWellFormedUtf8(byte[] b) {
        int n = b.length;
        if (n >= 3 && b[0] == (byte) 0xEF && b[1] == (byte) 0xBB && b[2] == (byte) 0xBF) {
            return false;
        }
        int i = 0;
        while (i < n) {
            if (i + 8 <= n) {
                long w = (long) LONGS.get(b, i);
                // Every byte in 0x20..0x7F: no high bit, and no borrow from subtracting 0x20.
                if (((w | (w - ALL_20)) & ALL_80) == 0) {
                    i += 8;
                    continue;
                }
            }
            int c = b[i] & 0xFF;
            if (c < 0x80) {
                if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                    return false;
                }
                i++;
            } else if (c < 0xC2) { // a continuation byte, or an overlong 2-byte lead
                return false;
            } else if (c < 0xE0) {
                if (i + 1 >= n || !continuation(b[i + 1])) {
                    return false;
                }
                i += 2;
            } else if (c < 0xF0) {
                if (i + 2 >= n) {
                    return false;
                }
                int c1 = b[i + 1] & 0xFF;
                boolean ok = c == 0xE0 ? c1 >= 0xA0 && c1 <= 0xBF // no overlong forms
                        : c == 0xED ? c1 >= 0x80 && c1 <= 0x9F // no surrogates
                        : continuation(b[i + 1]);
                if (!ok || !continuation(b[i + 2])) {
                    return false;
                }
                i += 3;
            } else if (c < 0xF5) {
                if (i + 3 >= n) {
                    return false;
                }
                int c1 = b[i + 1] & 0xFF;
                boolean ok = c == 0xF0 ? c1 >= 0x90 && c1 <= 0xBF // no overlong forms
                        : c == 0xF4 ? c1 >= 0x80 && c1 <= 0x8F // nothing above U+10FFFF
                        : continuation(b[i + 1]);
                if (!ok || !continuation(b[i + 2]) || !continuation(b[i + 3])) {
                    return false;
                }
                i += 4;
            } else {
                return false;
            }
        }
        return true;
    }

    private static boolean continuation(byte b) {
        return (b & 0xC0) == 0x80;
    }
}
