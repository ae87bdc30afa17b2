package dev.trendtracker.scoring;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.flink.types.Row;

/** The rows of a ranking result (a row of aligned arrays) as lists, for exact comparisons. */
final class Rankings {
    private Rankings() {}

    /** Row {@code i} of a result row of arrays: one value of each array field in order. */
    static List<List<Object>> rows(Row result, int arrays) {
        List<List<Object>> rows = new ArrayList<>();
        int size = ((Object[]) result.getField(0)).length;
        for (int i = 0; i < size; i++) {
            List<Object> row = new ArrayList<>();
            for (int field = 0; field < arrays; field++) {
                row.add(((Object[]) result.getField(field))[i]);
            }
            rows.add(row);
        }
        return rows;
    }

    /** A row of values (null allowed), as {@link #rows} gives them. */
    static List<Object> row(Object... values) {
        return Arrays.asList(values);
    }

    /** The given columns of each row. */
    static List<List<Object>> columns(List<List<Object>> rows, int... columns) {
        List<List<Object>> picked = new ArrayList<>();
        for (List<Object> row : rows) {
            List<Object> values = new ArrayList<>();
            for (int column : columns) {
                values.add(row.get(column));
            }
            picked.add(values);
        }
        return picked;
    }

    /** WindowCounts from {product_id, category, clicks, carts, purchases} rows. */
    static WindowCounts counts(Object[]... rows) {
        WindowCounts counts = new WindowCounts();
        for (Object[] row : rows) {
            for (int code = 0; code < WindowCounts.EVENT_TYPES; code++) {
                for (int n = 0; n < (int) row[2 + code]; n++) {
                    counts.add((String) row[0], (String) row[1], code);
                }
            }
        }
        return counts;
    }

    static Object[] product(String productId, String category, int clicks, int carts,
                            int purchases) {
        return new Object[] {productId, category, clicks, carts, purchases};
    }
}
