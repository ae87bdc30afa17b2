package dev.trendtracker.window;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The second phase of the top-N, keyed by window end: every subtask's candidates of a window
 * ({@link LocalTopN}) merged into its rankings ({@link WindowRanker}).
 *
 * <p>Per window it keeps the newest entry of every candidate product and each category's
 * summed counts, and ranks the window when the watermark passes its end, then again at each
 * watermark after an update came in, until the window is final; then it drops the window. A
 * window's rankings go out whole ({@link RankedWindow}), without previous ranks
 * ({@link PreviousRanks} adds them). Windows spread over the subtasks by their end; each holds
 * at most parallelism x candidates per window.
 */
public class WindowMerge extends KeyedProcessFunction<Long, ProductWindow, RankedWindow> {
    private static final long serialVersionUID = 1L;

    private final WindowSpec spec;

    private transient MapState<String, ProductWindow> products;
    private transient MapState<String, long[]> categoryTotals;
    private transient ValueState<Boolean> changed;
    private transient Counter windowsRanked;

    public WindowMerge(WindowSpec spec) {
        this.spec = spec;
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        products = getRuntimeContext().getMapState(new MapStateDescriptor<>("products",
                Types.STRING, TypeInformation.of(ProductWindow.class)));
        categoryTotals = getRuntimeContext().getMapState(new MapStateDescriptor<>(
                "category-totals", Types.STRING,
                PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO));
        changed = getRuntimeContext().getState(new ValueStateDescriptor<>("changed",
                Types.BOOLEAN));
        windowsRanked = getRuntimeContext().getMetricGroup().addGroup("trend")
                .counter("windows_ranked");
    }

    @Override
    public void processElement(ProductWindow entry, Context ctx, Collector<RankedWindow> out)
            throws Exception {
        if (entry.total) {
            long[] counts = categoryTotals.get(entry.category);
            if (counts == null) {
                counts = new long[3];
            }
            counts[0] += entry.clicks;
            counts[1] += entry.carts;
            counts[2] += entry.purchases;
            if (counts[0] == 0 && counts[1] == 0 && counts[2] == 0) {
                categoryTotals.remove(entry.category);
            } else {
                categoryTotals.put(entry.category, counts);
            }
        } else {
            products.put(entry.productId, entry);
        }
        changed.update(true);
        long end = ctx.getCurrentKey();
        ctx.timerService().registerEventTimeTimer(spec.fireTime(end));
        ctx.timerService().registerEventTimeTimer(spec.finalTime(end));
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<RankedWindow> out)
            throws Exception {
        long end = ctx.getCurrentKey();
        if (Boolean.TRUE.equals(changed.value())) {
            List<ProductWindow> candidates = new ArrayList<>();
            for (ProductWindow product : products.values()) {
                candidates.add(product);
            }
            Map<String, long[]> totals = new HashMap<>();
            for (Map.Entry<String, long[]> total : categoryTotals.entries()) {
                totals.put(total.getKey(), total.getValue());
            }
            RankedWindow ranked = WindowRanker.rank(end, spec, candidates, totals);
            if (ranked != null) {
                windowsRanked.inc();
                out.collect(ranked);
            }
            changed.clear();
        }
        if (spec.isFinal(end, ctx.timerService().currentWatermark())) {
            products.clear();
            categoryTotals.clear();
            changed.clear();
        }
    }
}
