package dev.trendtracker.scoring;

import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * One weights version: {@code score = click*clicks + cart*carts + purchase*purchases}.
 *
 * <p>Parsed from a weights record of the weights topic (the registry's publisher writes them):
 * {@code {"weights_version": "v3", "click": 1.0, "cart": 3.0, "purchase": 5.0, ...}}. Weights
 * are data: a record that is not such an object, or whose weights are not numbers from 0 to
 * {@link #MAX_WEIGHT}, or all zero, is rejected (the same rules as
 * {@code registry.weights.validate_weights}).
 *
 * <p>The constructor checks the same bounds, so every {@code Weights} object is valid and every
 * score is finite: counts are longs (at most 2^63 - 1), so a score is at most
 * {@code 3 * MAX_WEIGHT * 2^63}, about 2.8e25, far below {@link Double#MAX_VALUE}.
 */
public final class Weights implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The largest weight of an event type ({@code registry.weights.MAX_WEIGHT}). */
    public static final double MAX_WEIGHT = 1e6;

    public final String version;
    public final double click;
    public final double cart;
    public final double purchase;

    /** Throws IllegalArgumentException when a weight is out of bounds or all are zero. */
    public Weights(String version, double click, double cart, double purchase) {
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
    public static Weights parse(byte[] value) {
        if (value == null) {
            throw new IllegalArgumentException("empty weights record");
        }
        JsonNode node;
        try {
            node = JSON.readTree(value);
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
        return new Weights(version.asText(), weight(node, "click"), weight(node, "cart"),
                weight(node, "purchase"));
    }

    /** The {@code window_end} of an activation record. */
    public static long windowEnd(byte[] value) {
        try {
            JsonNode node = JSON.readTree(value);
            JsonNode end = node == null ? null : node.get("window_end");
            if (end == null || !end.canConvertToLong()) {
                throw new IllegalArgumentException("record has no integer window_end");
            }
            return end.asLong();
        } catch (IOException e) {
            throw new IllegalArgumentException("record is not JSON: " + e.getMessage());
        }
    }

    public static Weights parse(String value) {
        return parse(value.getBytes(StandardCharsets.UTF_8));
    }

    private static double weight(JsonNode node, String name) {
        JsonNode value = node.get(name);
        if (value == null || !value.isNumber()) {
            throw new IllegalArgumentException("weight " + name + " is not a number");
        }
        return checked(name, value.asDouble());
    }

    /** This weights record, with the window it is active from (an activation). */
    public byte[] toRecord(long windowEndMs) {
        java.util.LinkedHashMap<String, Object> record = new java.util.LinkedHashMap<>();
        record.put("weights_version", version);
        record.put("click", click);
        record.put("cart", cart);
        record.put("purchase", purchase);
        record.put("window_end", windowEndMs);
        try {
            return JSON.writeValueAsBytes(record);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public boolean sameAs(Weights other) {
        return other != null && version.equals(other.version) && click == other.click
                && cart == other.cart && purchase == other.purchase;
    }

    @Override
    public String toString() {
        return version + " {click=" + click + ", cart=" + cart + ", purchase=" + purchase + "}";
    }
}
