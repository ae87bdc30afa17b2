package dev.trendtracker.window;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReadOnlyBroadcastState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

import dev.trendtracker.format.EventDecoder;

/**
 * The job's core, keyed by product_id: counts each product's events per slice, and emits the
 * product's scored counts for a window when the watermark passes its end.
 *
 * <p>Per product it keeps {@link ProductSlices} (a counter array and the category per slice)
 * and one event-time timer per window end. When a window fires, the product's counts in it,
 * its category there, and its score, momentum and rising test (its recent span against the
 * window before it, {@link WindowSpec}) go out as a {@link ProductWindow}, scored with the
 * weights in force at the window's end: the newest weights record of the broadcast input whose
 * {@code appliesFromMs} is at or before the end (before any: the weights the job first started
 * with, {@code initialWeights} or, after a restore, those kept in the checkpoint, so a window
 * replayed after a restore is scored as before whatever the registry holds then). A slice
 * is dropped once every window that holds it or whose rising base holds it is final; a
 * product whose slices are all dropped has no state left, so the state grows with the
 * products active within about a window size and the recent span, not with every product
 * ever seen.
 *
 * <p>Lateness is decided here, against the watermark of the events input (the events'
 * watermark, restored after a failure): an event whose every window is final (watermark at or
 * past {@code end - 1 + allowedLateness}) goes to the {@link #LATE} side output; any other
 * counts in its windows that are not final, and only in those (see {@link ProductSlices}). A
 * window that fired and is counted in again fires again at the next watermark: an update,
 * with the whole corrected counts. The same holds for the windows a recent span later, whose
 * base the event changes. So every event is counted or late, exactly one of the two, and
 * what a window holds depends on the events and their watermark only, not on when the
 * weights input let the window fire.
 *
 * <p>Windows fire on the operator's watermark, the lesser of the events' and the weights'
 * (the weights input is stamped so that its watermark passes a time only once every record
 * applying from it has arrived, see {@link WeightsRecord#watermarkStrategy}): a window is
 * scored with the weights of its end however the two inputs interleave, in a replay too.
 *
 * <p>Duplicates are decided here too, after lateness: an event that is not late and whose
 * {@code event_id} this product counted before with the same event type, at a ts less than
 * {@code dedupHorizon} away, goes to the {@link #DUPLICATE} side output and counts nowhere.
 * Every copy of an event has its product (it is the same record, sent again), so it reaches
 * this key, and the product's subtask sees the copies in the order of their partition. The
 * ids are keyed state per product ({@code event-ids}: event type and id to the ts of each
 * counted copy), dropped by event-time timers once no copy within the horizon can be on
 * time ({@link WindowSpec#dedupExpiry}): a copy that finds its id dropped would have been
 * late, so the verdict is the same live, after a restore and in a backfill.
 *
 * <p>The per-user cap ({@link WindowSpec#maxEventsPerUser}) is applied when a window fires,
 * to it and to the window it compares with: each user's events of a type count at most the
 * cap in each window, exactly, whatever the order they came in. Every event is counted in
 * the product's slices as before; per user and type the product also keeps the user's
 * events per slice ({@code user-events}, see {@link UserCounts}), and the users whose
 * events in the slices kept exceed the cap ({@code capped-users}), the only ones a window
 * fire looks at. Both are dropped with the slices, at most once per slide. A capped event
 * is valid and read (it is no dead letter): the cap is part of the scoring rule.
 *
 * <p>Weights records are validated where they are read: an invalid one is logged, counted
 * ({@code weights_records_invalid}) and skipped. Run by {@link ProductWindowsOperator}, which
 * hands it the events' watermark.
 */
public class ProductWindows extends KeyedBroadcastProcessFunction<String, TrendEvent, String,
        ProductWindow> implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(ProductWindows.class);

    /** Valid events behind the allowed lateness of every window they belong to. */
    public static final OutputTag<TrendEvent> LATE =
            new OutputTag<>("late", TypeInformation.of(TrendEvent.class));

    /** Valid, on-time copies of an event counted before within the dedup horizon. */
    public static final OutputTag<TrendEvent> DUPLICATE =
            new OutputTag<>("duplicate", TypeInformation.of(TrendEvent.class));

    /** The weights records, by the time they apply from. */
    public static final MapStateDescriptor<Long, WeightsRecord> WEIGHTS =
            new MapStateDescriptor<>("weights", Types.LONG,
                    TypeInformation.of(WeightsRecord.class));

    private final WindowSpec spec;
    private final WeightsRecord initialWeights;

    private transient ValueState<ProductSlices> slicesState;
    /** Event type and event_id of each event counted -> the ts of its counted copies. */
    private transient MapState<String, long[]> eventIds;
    /** Event type and user_id -> the user's events per slice ({@link UserCounts}). */
    private transient MapState<String, long[]> userEvents;
    /** The keys of {@link #userEvents} whose events kept exceed the cap. */
    private transient MapState<String, Boolean> cappedUsers;
    private transient ListState<Long> eventWatermarkState;
    private transient ListState<WeightsRecord> startWeightsState;
    /** The weights before any record: those of the job's first start (kept in state). */
    private transient WeightsRecord startWeights;
    /** The events input's watermark (restored: the greatest of the subtasks'). */
    private transient long eventWatermark;
    private transient Counter[] eventsValid;
    private transient Counter eventsLate;
    private transient Counter eventsDuplicate;
    private transient Counter weightsInvalid;
    private transient Counter aggregatesScored;
    private transient MetricGroup trend;
    private transient Set<String> versionGauges;
    private transient volatile String lastVersion;
    private transient WeightsSwitches switches;
    /** The weights of the last window end scored, until the weights change. */
    private transient long cachedEnd;
    private transient WeightsRecord cachedWeights;

    public ProductWindows(WindowSpec spec, WeightsRecord initialWeights) {
        this.spec = spec;
        this.initialWeights = initialWeights;
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        // Union state: after a restore every subtask sees every subtask's watermark, at any
        // parallelism, and takes the greatest: no window that any subtask treated as final
        // (and whose state it, or an operator after it, may have dropped) is counted in again.
        eventWatermarkState = context.getOperatorStateStore().getUnionListState(
                new ListStateDescriptor<>("events-watermark", Types.LONG));
        eventWatermark = Long.MIN_VALUE;
        startWeightsState = context.getOperatorStateStore().getUnionListState(
                new ListStateDescriptor<>("start-weights",
                        TypeInformation.of(WeightsRecord.class)));
        startWeights = initialWeights;
        if (context.isRestored()) {
            for (Long watermark : eventWatermarkState.get()) {
                eventWatermark = Math.max(eventWatermark, watermark);
            }
            for (WeightsRecord weights : startWeightsState.get()) {
                startWeights = weights;
            }
        }
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        eventWatermarkState.update(Collections.singletonList(eventWatermark));
        startWeightsState.update(Collections.singletonList(startWeights));
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        slicesState = getRuntimeContext().getState(
                new ValueStateDescriptor<>("slices", TypeInformation.of(ProductSlices.class)));
        eventIds = getRuntimeContext().getMapState(new MapStateDescriptor<>("event-ids",
                Types.STRING, PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO));
        userEvents = getRuntimeContext().getMapState(new MapStateDescriptor<>("user-events",
                Types.STRING, PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO));
        cappedUsers = getRuntimeContext().getMapState(new MapStateDescriptor<>("capped-users",
                Types.STRING, Types.BOOLEAN));
        trend = getRuntimeContext().getMetricGroup().addGroup("trend");
        eventsValid = new Counter[EventDecoder.EVENT_TYPES.length];
        for (int code = 0; code < eventsValid.length; code++) {
            eventsValid[code] = trend.addGroup("event_type", EventDecoder.EVENT_TYPES[code])
                    .counter("events_valid");
        }
        eventsLate = trend.counter("events_late");
        eventsDuplicate = trend.counter("events_duplicate");
        weightsInvalid = trend.counter("weights_records_invalid");
        aggregatesScored = trend.counter("aggregates_scored");
        versionGauges = new HashSet<>();
        switches = new WeightsSwitches();
        cachedWeights = null;
    }

    /** How many weights records were invalid and skipped (the metric's count). */
    long invalidWeightsRecords() {
        return weightsInvalid.getCount();
    }

    /** The events input's watermark moved on ({@link ProductWindowsOperator}). */
    void advanceEventWatermark(long watermark) {
        eventWatermark = Math.max(eventWatermark, watermark);
    }

    @Override
    public void processElement(TrendEvent event, ReadOnlyContext ctx,
                               Collector<ProductWindow> out) throws Exception {
        long sliceEnd = spec.sliceEnd(event.ts);
        long lastEnd = spec.lastWindowEnd(sliceEnd);
        if (spec.isFinal(lastEnd, eventWatermark)) {
            eventsLate.inc();
            ctx.output(LATE, event);
            return;
        }
        TimerService timers = ctx.timerService();
        // (Every event from the topics has both ids; one built without them is never a copy
        // and never capped.)
        if (spec.dedups() && event.eventId != null && isDuplicate(event, timers)) {
            eventsDuplicate.inc();
            ctx.output(DUPLICATE, event);
            return;
        }
        long firstEnd = spec.firstOpenWindowEnd(sliceEnd, eventWatermark);
        ProductSlices slices = slicesState.value();
        if (slices == null) {
            slices = new ProductSlices();
        }
        boolean newSlice = slices.add(sliceEnd, firstEnd, event.eventType, event.category,
                event.ts);
        slicesState.update(slices);
        // Its windows fire at their end, or again at the next watermark if they have fired.
        for (long end = firstEnd; end <= lastEnd; end += spec.slideMs) {
            timers.registerEventTimeTimer(spec.fireTime(end));
        }
        if (newSlice) {
            timers.registerEventTimeTimer(spec.sliceExpiry(sliceEnd));
        }
        if (spec.caps() && event.userId != null) {
            countUserEvent(event, sliceEnd, firstEnd, timers);
        }
        // The windows a recent span later compare with these (their base): those that may have
        // fired (possible when the allowed lateness exceeds the recent span) and hold the
        // product fire again.
        long span = spec.risingSpanMs();
        for (long end = firstEnd + span; end <= lastEnd + span; end += spec.slideMs) {
            if (spec.fireTime(end) <= eventWatermark
                    && !slices.window(end, spec.sizeMs).isEmpty()) {
                timers.registerEventTimeTimer(spec.fireTime(end));
            }
        }
        eventsValid[event.eventType].inc();
    }

    /**
     * Whether {@code event} is a copy of one counted before (its type and id, a ts less than
     * the horizon away); if not, records it as counted.
     */
    private boolean isDuplicate(TrendEvent event, TimerService timers) throws Exception {
        String id = event.eventType + event.eventId;
        long[] counted = eventIds.get(id);
        if (counted == null) {
            counted = new long[0];
        }
        for (long ts : counted) {
            if (Math.abs(event.ts - ts) < spec.dedupHorizonMs) {
                return true;
            }
        }
        long[] grown = Arrays.copyOf(counted, counted.length + 1);
        grown[counted.length] = event.ts;
        eventIds.put(id, grown);
        timers.registerEventTimeTimer(spec.dropTime(spec.dedupExpiry(event.ts)));
        return false;
    }

    /** Counts {@code event} for its user, type and slice (the per-user cap). */
    private void countUserEvent(TrendEvent event, long sliceEnd, long firstEnd,
                                TimerService timers) throws Exception {
        String user = event.eventType + event.userId;
        long[] parts = userEvents.get(user);
        if (parts == null) {
            parts = new long[0];
        }
        boolean newSlice = !UserCounts.hasSlice(parts, sliceEnd);
        parts = UserCounts.add(parts, sliceEnd, firstEnd);
        userEvents.put(user, parts);
        if (UserCounts.total(parts) > spec.maxEventsPerUser) {
            cappedUsers.put(user, Boolean.TRUE);
        }
        if (newSlice) {
            timers.registerEventTimeTimer(spec.dropTime(spec.sliceExpiry(sliceEnd)));
        }
    }

    /**
     * The product's counts in the slices ending in {@code (from, to]} as the window ending at
     * {@code windowEnd} counts them, each user's capped there.
     */
    private ProductSlices.ProductCounts capped(ProductSlices slices, long from, long to,
                                               long windowEnd) throws Exception {
        ProductSlices.ProductCounts counts = slices.counts(from, to, windowEnd);
        if (!spec.caps()) {
            return counts;
        }
        for (String user : cappedUsers.keys()) {
            long excess = UserCounts.inSpan(userEvents.get(user), from, to, windowEnd)
                    - spec.maxEventsPerUser;
            if (excess > 0) {
                switch (user.charAt(0) - '0') {
                    case TrendEvent.CLICK -> counts.clicks -= excess;
                    case TrendEvent.CART -> counts.carts -= excess;
                    default -> counts.purchases -= excess;
                }
            }
        }
        return counts;
    }

    /** Drops the per-user counts of the slices no window needs at {@code timestamp}. */
    private void dropExpiredUserEvents(long timestamp) throws Exception {
        long through = timestamp - spec.sliceExpiry(0);
        List<String> gone = new ArrayList<>();
        List<Map.Entry<String, long[]>> shrunk = new ArrayList<>();
        for (Map.Entry<String, long[]> entry : userEvents.entries()) {
            long[] parts = UserCounts.dropThrough(entry.getValue(), through);
            if (parts.length == 0) {
                gone.add(entry.getKey());
            } else if (parts != entry.getValue()) {
                shrunk.add(Map.entry(entry.getKey(), parts));
            }
        }
        for (String user : gone) {
            userEvents.remove(user);
            cappedUsers.remove(user);
        }
        for (Map.Entry<String, long[]> entry : shrunk) {
            userEvents.put(entry.getKey(), entry.getValue());
            if (UserCounts.total(entry.getValue()) <= spec.maxEventsPerUser) {
                cappedUsers.remove(entry.getKey());
            }
        }
    }

    /** Drops the ids of events no copy of which can be on time at {@code timestamp}. */
    private void dropExpiredIds(long timestamp) throws Exception {
        List<String> expired = new ArrayList<>();
        List<Map.Entry<String, long[]>> shrunk = new ArrayList<>();
        for (Map.Entry<String, long[]> entry : eventIds.entries()) {
            long[] counted = entry.getValue();
            int keep = 0;
            for (long ts : counted) {
                if (spec.dedupExpiry(ts) > timestamp) {
                    keep++;
                }
            }
            if (keep == 0) {
                expired.add(entry.getKey());
            } else if (keep < counted.length) {
                long[] kept = new long[keep];
                int at = 0;
                for (long ts : counted) {
                    if (spec.dedupExpiry(ts) > timestamp) {
                        kept[at++] = ts;
                    }
                }
                shrunk.add(Map.entry(entry.getKey(), kept));
            }
        }
        for (String id : expired) {
            eventIds.remove(id);
        }
        for (Map.Entry<String, long[]> entry : shrunk) {
            eventIds.put(entry.getKey(), entry.getValue());
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<ProductWindow> out)
            throws Exception {
        if (Math.floorMod(timestamp, spec.slideMs) == 0) {
            if (spec.dedups()) {
                dropExpiredIds(timestamp);
            }
            if (spec.caps()) {
                dropExpiredUserEvents(timestamp);
            }
        }
        ProductSlices slices = slicesState.value();
        if (slices == null) {
            return;
        }
        long end = timestamp + 1;
        if (spec.isWindowEnd(end)) {
            ProductSlices.ProductCounts counts = capped(slices, end - spec.sizeMs, end, end);
            if (!counts.isEmpty()) {
                // The recent span: the window less its older part, each capped as a window
                // is, so a user at the cap in the older part adds nothing recent.
                long span = spec.risingSpanMs();
                ProductSlices.ProductCounts recent = span == spec.sizeMs ? counts
                        : counts.minus(capped(slices, end - spec.sizeMs, end - span, end));
                ProductSlices.ProductCounts base =
                        capped(slices, end - span - spec.sizeMs, end - span, end - span);
                WeightsRecord weights = weightsAt(end, ctx);
                track(weights, end);
                aggregatesScored.inc();
                out.collect(ProductWindow.scored(end, ctx.getCurrentKey(), counts.category,
                        counts.clicks, counts.carts, counts.purchases, recent, base, weights,
                        spec));
            }
        }
        // Slices no window needs any more: those that expire at this timer or before. (Not
        // by the watermark: one watermark may fire many timers, in time order, and the later
        // windows still need the slices.)
        slices.dropThrough(timestamp - spec.sliceExpiry(0));
        if (slices.isEmpty()) {
            slicesState.clear();
        } else {
            slicesState.update(slices);
        }
    }

    /**
     * Metrics of the weights in use: {@code weights_in_use{weights_version}} is 1 for the
     * version the last window was scored with here, 0 for those before. A switch of weights
     * is logged once per subtask, at the first window it scores (not once per product), with
     * {@code weights_version} and {@code window_end} in the log context (MDC).
     */
    private void track(WeightsRecord weights, long end) {
        lastVersion = weights.version;
        if (versionGauges.add(weights.version)) {
            String version = weights.version;
            trend.addGroup("weights_version", version).gauge("weights_in_use",
                    (Gauge<Integer>) () -> version.equals(lastVersion) ? 1 : 0);
        }
        WeightsSwitches.Switch change = switches.scored(weights.version, end);
        if (change == null) {
            return;
        }
        try (MDC.MDCCloseable version = MDC.putCloseable("weights_version", change.to());
                MDC.MDCCloseable windowEnd = MDC.putCloseable("window_end",
                        Long.toString(end))) {
            if (change.from() == null) {
                LOG.info("scoring windows with weights {} from the window ending at {}: {}",
                        change.to(), end, weights);
            } else {
                LOG.info("weights switch from {} to {}: the window ending at {} is the first "
                        + "scored with it: {}", change.from(), change.to(), end, weights);
            }
        }
    }

    /** The weights in force at {@code end}: the newest record applying from it or before. */
    private WeightsRecord weightsAt(long end, ReadOnlyContext ctx) throws Exception {
        if (cachedWeights != null && cachedEnd == end) {
            return cachedWeights;
        }
        ReadOnlyBroadcastState<Long, WeightsRecord> records = ctx.getBroadcastState(WEIGHTS);
        WeightsRecord newest = inForce(records.immutableEntries(), end);
        cachedEnd = end;
        cachedWeights = newest != null ? newest : startWeights;
        return cachedWeights;
    }

    @Override
    public void processBroadcastElement(String value, Context ctx, Collector<ProductWindow> out)
            throws Exception {
        WeightsRecord record;
        try {
            record = WeightsRecord.parse(value);
        } catch (IllegalArgumentException e) {
            weightsInvalid.inc();
            LOG.warn("skipping an invalid weights record: {}", e.getMessage());
            return;
        }
        BroadcastState<Long, WeightsRecord> records = ctx.getBroadcastState(WEIGHTS);
        long watermark = ctx.currentWatermark();
        if (watermark != Long.MIN_VALUE && record.appliesFromMs <= watermark) {
            LOG.warn("weights {} arrived after windows it applies to fired; it applies to the "
                    + "windows that fire from now on", record);
        }
        long firstEnd = firstWindowEnd(record.appliesFromMs, watermark);
        WeightsRecord before = inForce(records.immutableEntries(), firstEnd);
        records.put(record.appliesFromMs, record);
        prune(records, watermark);
        cachedWeights = null;
        WeightsRecord after = inForce(records.immutableEntries(), firstEnd);
        if (after == record) {
            LOG.info("weights {} replaces {} from the window ending at {}: {}", record.version,
                    (before != null ? before : startWeights).version, firstEnd, record);
        } else {
            LOG.info("weights {} applies to no window: {} is in force from {}", record,
                    after != null ? after.version : startWeights.version, firstEnd);
        }
    }

    /**
     * The end of the first window that a record applying from {@code appliesFromMs} scores:
     * the first window end at or after it that has not fired at {@code watermark}.
     */
    long firstWindowEnd(long appliesFromMs, long watermark) {
        long end = Math.floorDiv(appliesFromMs, spec.slideMs) * spec.slideMs;
        if (end < appliesFromMs) {
            end += spec.slideMs;
        }
        if (watermark != Long.MIN_VALUE && spec.fireTime(end) <= watermark
                && watermark < Long.MAX_VALUE - 2 * spec.slideMs) {
            // The least window end e with fireTime(e) = e - 1 > watermark.
            end = Math.floorDiv(watermark + 1, spec.slideMs) * spec.slideMs + spec.slideMs;
        }
        return end;
    }

    /** The newest of {@code records} applying at or before {@code end}, null if none. */
    private static WeightsRecord inForce(Iterable<Map.Entry<Long, WeightsRecord>> records,
                                         long end) {
        WeightsRecord newest = null;
        for (Map.Entry<Long, WeightsRecord> record : records) {
            long from = record.getKey();
            if (from <= end && (newest == null || from > newest.appliesFromMs)) {
                newest = record.getValue();
            }
        }
        return newest;
    }

    /**
     * Drops the records no window will be scored with any more: those older than the newest
     * record in force two window sizes (plus the allowed lateness) behind the watermark. The
     * margin covers subtasks whose watermarks differ when a checkpoint is taken.
     */
    private void prune(BroadcastState<Long, WeightsRecord> records, long watermark)
            throws Exception {
        if (watermark == Long.MIN_VALUE) {
            return;
        }
        long horizon = watermark - spec.allowedLatenessMs - 2 * spec.sizeMs;
        List<Long> times = new ArrayList<>();
        for (Map.Entry<Long, WeightsRecord> record : records.immutableEntries()) {
            times.add(record.getKey());
        }
        Long inForce = null;
        for (Long from : times) {
            if (from <= horizon && (inForce == null || from > inForce)) {
                inForce = from;
            }
        }
        if (inForce == null) {
            return;
        }
        List<Long> older = new ArrayList<>();
        for (Long from : times) {
            if (from < inForce) {
                older.add(from);
            }
        }
        for (Long from : older) {
            records.remove(from);
        }
    }
}
