package dev.trendtracker.format;

import java.util.List;

import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;

/** The columns the {@code trend-event} format can produce, matched by name. */
final class TrendEventColumns {

    static final int PAYLOAD = 0;
    static final int REASON = 1;
    static final int PRODUCT_ID = 2;
    static final int CATEGORY = 3;
    static final int TS = 4;
    static final int ARRIVAL_TS = 5;
    static final int EVENT_ID = 6;
    static final int USER_ID = 7;

    private static final String[] NAMES = {
        "payload", "reason", "product_id", "category", "ts", "arrival_ts", "event_id",
        "user_id"
    };
    private static final LogicalTypeRoot[] TYPES = {
        LogicalTypeRoot.VARCHAR, LogicalTypeRoot.VARCHAR, LogicalTypeRoot.VARCHAR,
        LogicalTypeRoot.VARCHAR, LogicalTypeRoot.BIGINT, LogicalTypeRoot.BIGINT,
        LogicalTypeRoot.VARCHAR, LogicalTypeRoot.VARCHAR
    };

    private TrendEventColumns() {}

    /**
     * For each field of the row type, which column it is; throws a ValidationException for a
     * name the format does not produce or a column of the wrong type.
     */
    static int[] resolve(DataType rowType) {
        List<String> names = DataType.getFieldNames(rowType);
        List<DataType> types = DataType.getFieldDataTypes(rowType);
        int[] columns = new int[names.size()];
        for (int i = 0; i < columns.length; i++) {
            String name = names.get(i);
            int column = indexOf(name);
            if (column < 0) {
                throw new ValidationException(String.format(
                        "Format '%s' produces no column '%s'. Its columns are payload STRING, "
                                + "reason STRING, product_id STRING, category STRING, "
                                + "ts BIGINT, arrival_ts BIGINT, event_id STRING and "
                                + "user_id STRING (any of them, in any order); declare "
                                + "other columns as computed or METADATA columns.",
                        TrendEventFormatFactory.IDENTIFIER, name));
            }
            LogicalType type = types.get(i).getLogicalType();
            if (!type.is(TYPES[column])) {
                throw new ValidationException(String.format(
                        "Column '%s' of format '%s' must be %s, not %s.", name,
                        TrendEventFormatFactory.IDENTIFIER,
                        TYPES[column] == LogicalTypeRoot.BIGINT ? "BIGINT" : "STRING",
                        type.asSummaryString()));
            }
            columns[i] = column;
        }
        return columns;
    }

    private static int indexOf(String name) {
        for (int i = 0; i < NAMES.length; i++) {
            if (NAMES[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }
}
