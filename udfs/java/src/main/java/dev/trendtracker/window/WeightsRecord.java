package dev.trendtracker.window;

import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

import org.apache.flink.api.common.eventtime.SerializableTimestampAssigner;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * One record of the weights stream: a weights version and the event time it applies from.
 *
 * <p>{@code score = click*clicks + cart*carts + purchase*purchases}. A window is scored with
 * the newest record whose {@code appliesFromMs} is at or before the window's end.
 *
 * <p>Parsed from the weights topic's JSON ({@link #parse}): {@code {"weights_version": "v3",
 * "click": 1.0, "cart": 3.0, "purchase": 5.0, "applies_from_ms": 1767225600000}}. A record
 * without {@code applies_from_ms} applies from its {@code published_ms} (what the registry's
 * publisher writes). Weights are data: a record that is not such an object, whose weights
 * are not finite numbers from 0 to {@link #MAX_WEIGHT} or all zero, or whose time is not a
 * non-negative integer, is rejected (the rules of {@code registry.weights.validate_weights}).
 *
 * <p>A Flink POJO (public fields, no-argument constructor), kept in broadcast state.
 */
public final class WeightsRecord implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The largest weight of an event type ({@code registry.weights.MAX_WEIGHT}). */
    public static final double MAX_WEIGHT = 1e6;

    public String version;
    public double click;
    public double cart;
    public double purchase;
    public long appliesFromMs;

    public WeightsRecord() {}

    /** Throws IllegalArgumentException when the weights are not valid (see the class). */
    public WeightsRecord(String version, double click, double cart, double purchase,
                         long appliesFromMs) {
        if (version == null || version.isEmpty()) {
            throw new IllegalArgumentException("weights have no version");
        }
        this.version = version;
        this.click = checked("click", click);
        this.cart = checked("cart", cart);
        this.purchase = checked("purchase", purchase);
        if (click == 0 && cart == 0 && purchase == 0) {
            throw new IllegalArgumentException("at least one weight must be positive");
        }
        this.appliesFromMs = appliesFromMs;
    }

    /** {@code weight} when it is finite, non-negative and at most {@link #MAX_WEIGHT}. */
    private static double checked(String name, double weight) {
        if (!Double.isFinite(weight)) {
            throw new IllegalArgumentException("weight " + name + "=" + weight + " is not finite");
        }
        if (weight < 0) {
            throw new IllegalArgumentException("weight " + name + "=" + weight + " is negative");
        }
        if (weight > MAX_WEIGHT) {
            throw new IllegalArgumentException("weight " + name + "=" + weight
                    + " is above the maximum of " + MAX_WEIGHT);
        }
        return weight;
    }

    public double score(long clicks, long carts, long purchases) {
        return click * clicks + cart * carts + purchase * purchases;
    }

    /** Parses a weights record; throws IllegalArgumentException when it is not valid. */
    public static WeightsRecord parse(String value) {
        if (value == null) {
            throw new IllegalArgumentException("empty weights record");
        }
        JsonNode node;
        try {
            node = JSON.readTree(value.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalArgumentException("weights record is not JSON: " + e.getMessage());
        }
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException("weights record is not a JSON object");
        }
        JsonNode version = node.get("weights_version");
        if (version == null || !version.isTextual() || version.asText().isEmpty()) {
            throw new IllegalArgumentException("weights record has no weights_version");
        }
        JsonNode from = node.has("applies_from_ms") ? node.get("applies_from_ms")
                : node.get("published_ms");
        if (from == null || !from.isIntegralNumber() || !from.canConvertToLong()
                || from.asLong() < 0) {
            throw new IllegalArgumentException("weights record has no applies_from_ms (or "
                    + "published_ms) that is a non-negative integer");
        }
        return new WeightsRecord(version.asText(), weight(node, "click"), weight(node, "cart"),
                weight(node, "purchase"), from.asLong());
    }

    private static double weight(JsonNode node, String name) {
        JsonNode value = node.get(name);
        if (value == null || !value.isNumber()) {
            throw new IllegalArgumentException("weight " + name + " is not a number");
        }
        return value.asDouble();
    }

    /**
     * Event time and watermarks of a weights stream of JSON records: a record is stamped
     * {@code appliesFromMs - 1}, the last millisecond of the window ending where it applies
     * from, so the windows it applies to fire only once it has arrived (the watermark of the
     * weights stream holds them). Records arrive in the order they were published; an
     * invalid record is stamped with the time of the one before, and skipped where it is read.
     */
    public static WatermarkStrategy<String> watermarkStrategy() {
        return WatermarkStrategy.<String>forMonotonousTimestamps()
                .withTimestampAssigner((SerializableTimestampAssigner<String>)
                        (value, recordTimestamp) -> {
                            try {
                                return parse(value).appliesFromMs - 1;
                            } catch (IllegalArgumentException e) {
                                return recordTimestamp;
                            }
                        });
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof WeightsRecord)) {
            return false;
        }
        WeightsRecord that = (WeightsRecord) other;
        return Objects.equals(version, that.version) && click == that.click
                && cart == that.cart && purchase == that.purchase
                && appliesFromMs == that.appliesFromMs;
    }

    @Override
    public int hashCode() {
        return Objects.hash(version, click, cart, purchase, appliesFromMs);
    }

    @Override
    public String toString() {
        return version + " {click=" + click + ", cart=" + cart + ", purchase=" + purchase
                + "} from " + appliesFromMs;
    }
}
