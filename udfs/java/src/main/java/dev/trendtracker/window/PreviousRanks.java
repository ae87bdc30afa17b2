package dev.trendtracker.window;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Adds {@code previous_rank} to each ranked window: the product's rank in the same ranking of
 * the window one slide earlier, or null.
 *
 * <p>Keyed by window end, with the ranked windows as both inputs: the first keyed by their own
 * end (the window), the second by their end plus one slide (the window as the previous one of
 * the next). So each key holds its window and the one before it, both whole, and nothing else.
 * A window goes out when the watermark passes its end (both have arrived by then: the one
 * before fired at the same watermark or an earlier one), and again whenever its rankings, or
 * the previous window's ranks of its products, changed (an update), until it is final.
 */
public class PreviousRanks
        extends KeyedCoProcessFunction<Long, RankedWindow, RankedWindow, RankedWindow> {
    private static final long serialVersionUID = 1L;

    private final WindowSpec spec;

    private transient ValueState<RankedWindow> current;
    private transient ValueState<RankedWindow> previous;
    private transient ValueState<RankedWindow> emitted;
    private transient ValueState<Boolean> currentChanged;

    public PreviousRanks(WindowSpec spec) {
        this.spec = spec;
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        TypeInformation<RankedWindow> type = TypeInformation.of(RankedWindow.class);
        current = getRuntimeContext().getState(new ValueStateDescriptor<>("current", type));
        previous = getRuntimeContext().getState(new ValueStateDescriptor<>("previous", type));
        emitted = getRuntimeContext().getState(new ValueStateDescriptor<>("emitted", type));
        currentChanged = getRuntimeContext().getState(new ValueStateDescriptor<>(
                "current-changed", Types.BOOLEAN));
    }

    /** The window itself. */
    @Override
    public void processElement1(RankedWindow window, Context ctx, Collector<RankedWindow> out)
            throws Exception {
        current.update(window);
        currentChanged.update(true);
        schedule(ctx);
    }

    /** The window one slide earlier. */
    @Override
    public void processElement2(RankedWindow window, Context ctx, Collector<RankedWindow> out)
            throws Exception {
        previous.update(window);
        schedule(ctx);
    }

    private void schedule(Context ctx) {
        long end = ctx.getCurrentKey();
        ctx.timerService().registerEventTimeTimer(spec.fireTime(end));
        ctx.timerService().registerEventTimeTimer(spec.finalTime(end));
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<RankedWindow> out)
            throws Exception {
        long end = ctx.getCurrentKey();
        RankedWindow window = current.value();
        if (window != null) {
            Integer[] ranks = previousRanks(window, previous.value());
            RankedWindow last = emitted.value();
            if (Boolean.TRUE.equals(currentChanged.value()) || last == null
                    || !Arrays.equals(last.previousRank, ranks)) {
                RankedWindow ranked = window.withPreviousRanks(ranks,
                        last == null ? 1 : last.revision + 1);
                emitted.update(ranked);
                out.collect(ranked);
            }
            currentChanged.clear();
        }
        if (spec.isFinal(end, ctx.timerService().currentWatermark())) {
            current.clear();
            previous.clear();
            emitted.clear();
            currentChanged.clear();
        }
    }

    /** Each row's rank in the same ranking of {@code before} (null: none). */
    static Integer[] previousRanks(RankedWindow window, RankedWindow before) {
        Integer[] ranks = new Integer[window.size()];
        if (before == null) {
            return ranks;
        }
        Map<String, Integer> rankOf = new HashMap<>();
        for (int i = 0; i < before.size(); i++) {
            rankOf.put(key(before.ranking[i], before.category[i], before.productId[i]),
                    before.rank[i]);
        }
        for (int i = 0; i < window.size(); i++) {
            ranks[i] = rankOf.get(key(window.ranking[i], window.category[i],
                    window.productId[i]));
        }
        return ranks;
    }

    private static String key(String ranking, String category, String productId) {
        // Ids and categories hold no NUL; the overall ranking has no category.
        return ranking + '\0' + (category == null ? "" : "c" + category) + '\0' + productId;
    }
}
