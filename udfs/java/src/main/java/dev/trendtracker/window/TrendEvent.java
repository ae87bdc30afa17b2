package dev.trendtracker.window;

import java.util.Objects;

/**
 * One valid event as the keyed core reads it: what it counts (product, category, event type
 * and event time) and where it came from (its record's value, position and {@code traceparent}
 * header), which a late or duplicate event's dead letter carries.
 *
 * <p>A Flink POJO (public fields, no-argument constructor).
 */
public final class TrendEvent {
    /** Event type codes ({@code dev.trendtracker.format.EventDecoder.EVENT_TYPES}). */
    public static final int CLICK = 0;
    public static final int CART = 1;
    public static final int PURCHASE = 2;

    public String productId;
    public String category;
    /** {@link #CLICK}, {@link #CART} or {@link #PURCHASE}. */
    public int eventType;
    /** Event time, epoch milliseconds. */
    public long ts;
    /** The event's event_id and user_id (null when not given). */
    public String eventId;
    public String userId;
    /** The record's value, topic, partition and offset (null/0 when not from Kafka). */
    public String payload;
    public String topic;
    public int partition;
    public long offset;
    /** The record's W3C {@code traceparent} header, as read (null without one). */
    public String traceparent;

    public TrendEvent() {}

    public TrendEvent(String productId, String category, int eventType, long ts) {
        this.productId = productId;
        this.category = category;
        this.eventType = eventType;
        this.ts = ts;
    }

    public TrendEvent(String productId, String category, int eventType, long ts, String eventId) {
        this(productId, category, eventType, ts);
        this.eventId = eventId;
    }

    public TrendEvent(String productId, String category, int eventType, long ts, String eventId,
                      String userId) {
        this(productId, category, eventType, ts, eventId);
        this.userId = userId;
    }

    public TrendEvent(String productId, String category, int eventType, long ts, String eventId,
                      String userId, String payload, String topic, int partition, long offset) {
        this(productId, category, eventType, ts, eventId, userId);
        this.payload = payload;
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof TrendEvent)) {
            return false;
        }
        TrendEvent that = (TrendEvent) other;
        return eventType == that.eventType && ts == that.ts && partition == that.partition
                && offset == that.offset && Objects.equals(productId, that.productId)
                && Objects.equals(category, that.category)
                && Objects.equals(eventId, that.eventId) && Objects.equals(userId, that.userId)
                && Objects.equals(payload, that.payload) && Objects.equals(topic, that.topic)
                && Objects.equals(traceparent, that.traceparent);
    }

    @Override
    public int hashCode() {
        return Objects.hash(productId, category, eventType, ts, topic, partition, offset);
    }

    @Override
    public String toString() {
        return "TrendEvent{" + productId + ", " + category + ", type " + eventType + ", ts " + ts
                + (eventId == null ? "" : ", id " + eventId)
                + (userId == null ? "" : ", user " + userId)
                + (topic == null ? "" : ", " + topic + "/" + partition + "/" + offset) + "}";
    }
}
