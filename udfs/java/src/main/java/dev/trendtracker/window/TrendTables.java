package dev.trendtracker.window;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.dag.Transformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import dev.trendtracker.format.EventDecoder;

/**
 * Puts the keyed core ({@link TrendTopology}) between the job's SQL sources and its SQL sinks.
 *
 * <p>{@link #attach} takes the table of every decoded record (valid or not) and the table of
 * weights records, and gives back two tables: one row per emission of a window, its rankings
 * as one array per output column (what the window sink writes), and the dead letters (every
 * invalid record with its reason, every late event with {@code lateReason} and every
 * duplicate with {@code duplicateReason}, each with its record's {@code traceparent}). Records
 * cross as Flink's internal {@link RowData}; the record's {@code et} is its event time, with
 * the sources' watermarks.
 */
public final class TrendTables {
    /** The decoded records' columns, in order. */
    public static final List<String> RECORD_COLUMNS = List.of(
            "payload", "topic", "partition", "offset", "event_type", "event_type_code",
            "reason", "product_id", "category", "event_id", "user_id", "et", "traceparent");

    static final int PAYLOAD = 0;
    static final int TOPIC = 1;
    static final int PARTITION = 2;
    static final int OFFSET = 3;
    static final int EVENT_TYPE = 4;
    static final int EVENT_TYPE_CODE = 5;
    static final int REASON = 6;
    static final int PRODUCT_ID = 7;
    static final int CATEGORY = 8;
    static final int EVENT_ID = 9;
    static final int USER_ID = 10;
    static final int ET = 11;
    static final int TRACEPARENT = 12;

    /** The uid of the step that splits valid records from invalid ones. */
    public static final String ROUTE = "route-records";
    public static final String WEIGHTS_RECORDS = "weights-records";
    /**
     * The uid of the weights table's source. It holds state (the topic's offsets) and runs
     * at parallelism 1, so without a uid its id, which Flink then derives from how it chains,
     * would change with the job's parallelism, and no savepoint would restore at another.
     */
    public static final String WEIGHTS_SOURCE = "weights-source";
    public static final String WINDOW_ROWS = "window-rows";
    public static final String LATE_DEAD_LETTERS = "late-dead-letters";
    public static final String DUPLICATE_DEAD_LETTERS = "duplicate-dead-letters";

    /** One row per window emission: times, one array per output column, the version. */
    public static final DataType WINDOW_RESULTS = DataTypes.ROW(
            DataTypes.FIELD("window_start", DataTypes.TIMESTAMP(3)),
            DataTypes.FIELD("window_end", DataTypes.TIMESTAMP(3)),
            DataTypes.FIELD("ranking_list", DataTypes.ARRAY(DataTypes.STRING())),
            DataTypes.FIELD("category_list", DataTypes.ARRAY(DataTypes.STRING())),
            DataTypes.FIELD("rank_list", DataTypes.ARRAY(DataTypes.INT())),
            DataTypes.FIELD("product_id_list", DataTypes.ARRAY(DataTypes.STRING())),
            DataTypes.FIELD("score_list", DataTypes.ARRAY(DataTypes.DOUBLE())),
            DataTypes.FIELD("clicks_list", DataTypes.ARRAY(DataTypes.BIGINT())),
            DataTypes.FIELD("carts_list", DataTypes.ARRAY(DataTypes.BIGINT())),
            DataTypes.FIELD("purchases_list", DataTypes.ARRAY(DataTypes.BIGINT())),
            DataTypes.FIELD("previous_rank_list", DataTypes.ARRAY(DataTypes.INT())),
            DataTypes.FIELD("momentum_list", DataTypes.ARRAY(DataTypes.DOUBLE())),
            DataTypes.FIELD("weights_version", DataTypes.STRING()));

    private TrendTables() {}

    /**
     * [window results, dead letters] of {@code records} (in {@link #RECORD_COLUMNS}) and
     * {@code weights} (a table whose first column is a weights record as JSON, with the
     * watermark of {@link WeightsRecord#watermarkStrategy}; null: none, so
     * {@code initialWeights} throughout). Copies of an event within {@code dedupHorizonMs}
     * count once (0: every copy counts), and a user's events of a type on a product count at
     * most {@code maxEventsPerUser} times per window (0: no cap), see {@link WindowSpec}.
     */
    public static Table[] attach(StreamTableEnvironment tEnv, Table records, Table weights,
                                 long sizeMs, long slideMs, long allowedLatenessMs, int topN,
                                 int maxCategories, double risingPrior, double risingMinScore,
                                 int risingRecentSlides, double risingMinZ,
                                 double risingDispersion, long dedupHorizonMs,
                                 int maxEventsPerUser, String initialWeights, String lateReason,
                                 String duplicateReason) {
        ResolvedSchema schema = records.getResolvedSchema();
        if (!schema.getColumnNames().equals(RECORD_COLUMNS)) {
            throw new IllegalArgumentException("the core takes the columns " + RECORD_COLUMNS
                    + ", not " + schema.getColumnNames());
        }
        WindowSpec spec = new WindowSpec(sizeMs, slideMs, allowedLatenessMs, topN,
                maxCategories, risingPrior, risingMinScore, risingRecentSlides, risingMinZ,
                risingDispersion, dedupHorizonMs, maxEventsPerUser);
        // Fail when the job is built, not in a worker.
        WeightsRecord initial = WeightsRecord.parse(initialWeights);

        DataType deadLetterType = DataTypes.ROW(
                DataTypes.FIELD("payload", type(schema, "payload")),
                DataTypes.FIELD("topic", type(schema, "topic")),
                DataTypes.FIELD("partition", type(schema, "partition")),
                DataTypes.FIELD("offset", type(schema, "offset")),
                DataTypes.FIELD("event_type", type(schema, "event_type")),
                DataTypes.FIELD("reason", DataTypes.STRING()),
                DataTypes.FIELD("traceparent", type(schema, "traceparent")));
        InternalTypeInfo<RowData> deadLetterInfo =
                InternalTypeInfo.of((RowType) deadLetterType.getLogicalType());
        OutputTag<RowData> invalid = new OutputTag<>("invalid", deadLetterInfo);

        DataStream<RowData> decoded = tEnv.toDataStream(records,
                schema.toPhysicalRowDataType().bridgedTo(RowData.class));
        SingleOutputStreamOperator<TrendEvent> valid = decoded
                .process(new RouteRecords(invalid), Types.POJO(TrendEvent.class))
                .uid(ROUTE)
                .name(ROUTE);

        // Without a weights table, the initial weights are the one record (a bounded source
        // whose watermark jumps to the end once it is read).
        DataStream<String> weightsRecords;
        if (weights == null) {
            weightsRecords = decoded.getExecutionEnvironment().fromData(Types.STRING,
                    initialWeights);
        } else {
            DataStream<Row> weightsRows = tEnv.toDataStream(weights);
            onlySource(weightsRows.getTransformation()).setUid(WEIGHTS_SOURCE);
            weightsRecords = weightsRows
                    .map(row -> String.valueOf(row.getField(0)), Types.STRING)
                    .uid(WEIGHTS_RECORDS)
                    .name(WEIGHTS_RECORDS);
        }
        TrendTopology topology = TrendTopology.build(valid, weightsRecords, spec, initial);

        InternalTypeInfo<RowData> windowInfo =
                InternalTypeInfo.of((RowType) WINDOW_RESULTS.getLogicalType());
        DataStream<RowData> windowRows = topology.windows()
                .map(TrendTables::windowRow, windowInfo)
                .uid(WINDOW_ROWS)
                .name(WINDOW_ROWS);
        DataStream<RowData> deadLetters = valid.getSideOutput(invalid).union(
                topology.late()
                        .map(new CoreDeadLetter(lateReason), deadLetterInfo)
                        .uid(LATE_DEAD_LETTERS)
                        .name(LATE_DEAD_LETTERS),
                topology.duplicates()
                        .map(new CoreDeadLetter(duplicateReason), deadLetterInfo)
                        .uid(DUPLICATE_DEAD_LETTERS)
                        .name(DUPLICATE_DEAD_LETTERS));

        Table windowTable = tEnv.fromDataStream(windowRows,
                Schema.newBuilder().fromRowDataType(WINDOW_RESULTS).build());
        Table deadLetterTable = tEnv.fromDataStream(deadLetters,
                Schema.newBuilder().fromRowDataType(deadLetterType).build());
        return new Table[] {windowTable, deadLetterTable};
    }

    /** The one source (a transformation without inputs) that {@code transformation} reads. */
    static Transformation<?> onlySource(Transformation<?> transformation) {
        List<Transformation<?>> sources = new ArrayList<>();
        Deque<Transformation<?>> todo = new ArrayDeque<>(List.of(transformation));
        while (!todo.isEmpty()) {
            Transformation<?> next = todo.pop();
            if (next.getInputs().isEmpty()) {
                if (!sources.contains(next)) {
                    sources.add(next);
                }
            } else {
                todo.addAll(next.getInputs());
            }
        }
        if (sources.size() != 1) {
            throw new IllegalArgumentException("expected one source, found " + sources);
        }
        return sources.get(0);
    }

    private static DataType type(ResolvedSchema schema, String name) {
        Column column = schema.getColumn(name).orElseThrow();
        return column.getDataType();
    }

    /** Valid records on as events; invalid ones to the dead letters, with their reason. */
    static final class RouteRecords extends ProcessFunction<RowData, TrendEvent> {
        private static final long serialVersionUID = 1L;
        private final OutputTag<RowData> invalid;

        RouteRecords(OutputTag<RowData> invalid) {
            this.invalid = invalid;
        }

        @Override
        public void processElement(RowData row, Context ctx, Collector<TrendEvent> out) {
            if (!row.isNullAt(REASON)) {
                ctx.output(invalid, GenericRowData.of(
                        row.isNullAt(PAYLOAD) ? null : row.getString(PAYLOAD),
                        row.getString(TOPIC), row.getInt(PARTITION), row.getLong(OFFSET),
                        row.getString(EVENT_TYPE), row.getString(REASON),
                        row.isNullAt(TRACEPARENT) ? null : row.getString(TRACEPARENT)));
                return;
            }
            TrendEvent event = new TrendEvent(row.getString(PRODUCT_ID).toString(),
                    row.getString(CATEGORY).toString(), row.getInt(EVENT_TYPE_CODE),
                    row.getTimestamp(ET, 3).getMillisecond(), row.getString(EVENT_ID).toString(),
                    row.getString(USER_ID).toString(),
                    row.isNullAt(PAYLOAD) ? null : row.getString(PAYLOAD).toString(),
                    row.getString(TOPIC).toString(), row.getInt(PARTITION), row.getLong(OFFSET));
            if (!row.isNullAt(TRACEPARENT)) {
                event.traceparent = row.getString(TRACEPARENT).toString();
            }
            out.collect(event);
        }
    }

    /** A late or duplicate event as a dead letter: its record, with the reason given. */
    static final class CoreDeadLetter implements MapFunction<TrendEvent, RowData> {
        private static final long serialVersionUID = 1L;
        private final String reason;

        CoreDeadLetter(String reason) {
            this.reason = reason;
        }

        @Override
        public RowData map(TrendEvent event) {
            return GenericRowData.of(StringData.fromString(event.payload),
                    StringData.fromString(event.topic), event.partition, event.offset,
                    StringData.fromString(EventDecoder.EVENT_TYPES[event.eventType]),
                    StringData.fromString(reason), StringData.fromString(event.traceparent));
        }
    }

    static RowData windowRow(RankedWindow window) {
        int size = window.size();
        Object[] rankings = new Object[size];
        Object[] categories = new Object[size];
        Object[] productIds = new Object[size];
        for (int i = 0; i < size; i++) {
            rankings[i] = StringData.fromString(window.ranking[i]);
            categories[i] = StringData.fromString(window.category[i]);
            productIds[i] = StringData.fromString(window.productId[i]);
        }
        Object[] previousRanks = window.previousRank == null ? new Object[size]
                : window.previousRank.clone();
        return GenericRowData.of(
                TimestampData.fromEpochMillis(window.windowStart),
                TimestampData.fromEpochMillis(window.windowEnd),
                new GenericArrayData(rankings), new GenericArrayData(categories),
                new GenericArrayData(window.rank), new GenericArrayData(productIds),
                new GenericArrayData(window.score), new GenericArrayData(window.clicks),
                new GenericArrayData(window.carts), new GenericArrayData(window.purchases),
                new GenericArrayData(previousRanks), new GenericArrayData(window.momentum),
                StringData.fromString(window.weightsVersion));
    }
}
