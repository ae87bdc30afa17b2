package dev.trendtracker.window;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * The first phase of the top-N: each subtask's candidates per window, chained to
 * {@link ProductWindows} (same subtask, no network), so only candidates cross to
 * {@link WindowMerge}.
 *
 * <p>It collects the {@link ProductWindow}s a watermark fires, and before passing the
 * watermark on sends, per window fired: the subtask's top-N overall and in every category, by
 * score and by momentum ({@link TopLists}); every product it sent the merge before that
 * changed since (so every product the merge holds is current); and the change of each
 * category's summed counts (so the merge knows every category's window score). The global
 * top-N of every scope is then inside what the merge holds.
 *
 * <p>A window's products are kept until the window is final, because an update of one
 * product can change which others are in the subtask's top-N (a product that moves to another
 * category, or whose momentum falls, frees a place). Kept in union operator state: after a
 * restore each subtask keeps the products whose key is now its own (the key groups of
 * {@link ProductWindows}, which runs in the same task and so has the same parallelism and
 * maximum parallelism).
 */
public class LocalTopN extends AbstractStreamOperator<ProductWindow>
        implements OneInputStreamOperator<ProductWindow, ProductWindow> {
    private static final long serialVersionUID = 1L;

    private final WindowSpec spec;

    /** Window end -> product_id -> the product's entry; windows not yet final. */
    private transient TreeMap<Long, Map<String, Entry>> windows;
    /** Windows with products that changed since their candidates were last sent. */
    private transient TreeSet<Long> pending;
    private transient ListState<Entry> checkpointed;

    public LocalTopN(WindowSpec spec) {
        this.spec = spec;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        windows = new TreeMap<>();
        pending = new TreeSet<>();
        checkpointed = context.getOperatorStateStore().getUnionListState(
                new ListStateDescriptor<>("local-windows", TypeInformation.of(Entry.class)));
        if (!context.isRestored()) {
            return;
        }
        int maxParallelism = getRuntimeContext().getTaskInfo().getMaxNumberOfParallelSubtasks();
        int parallelism = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
        int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
        for (Entry entry : checkpointed.get()) {
            String productId = entry.product.productId;
            if (KeyGroupRangeAssignment.assignKeyToParallelOperator(productId, maxParallelism,
                    parallelism) != subtask) {
                continue;
            }
            long end = entry.product.windowEnd;
            windows.computeIfAbsent(end, e -> new HashMap<>()).put(productId, entry);
            if (entry.changed) {
                pending.add(end);
            }
        }
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        List<Entry> entries = new ArrayList<>();
        for (Map<String, Entry> window : windows.values()) {
            entries.addAll(window.values());
        }
        checkpointed.update(entries);
    }

    @Override
    public void processElement(StreamRecord<ProductWindow> element) throws Exception {
        ProductWindow product = element.getValue();
        Map<String, Entry> window = windows.computeIfAbsent(product.windowEnd,
                e -> new HashMap<>());
        Entry entry = window.get(product.productId);
        if (entry == null) {
            entry = new Entry();
            window.put(product.productId, entry);
        }
        entry.product = product;
        entry.changed = true;
        pending.add(product.windowEnd);
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        long watermark = mark.getTimestamp();
        while (!pending.isEmpty() && spec.fireTime(pending.first()) <= watermark) {
            send(pending.pollFirst());
        }
        while (!windows.isEmpty() && spec.isFinal(windows.firstKey(), watermark)
                && !pending.contains(windows.firstKey())) {
            windows.pollFirstEntry();
        }
        super.processWatermark(mark);
    }

    /** Sends the window's candidates and category changes (see the class comment). */
    private void send(long end) {
        Map<String, Entry> window = windows.get(end);
        List<ProductWindow> products = new ArrayList<>(window.size());
        TreeMap<String, long[]> changes = new TreeMap<>(TextOrder::compare);
        TreeMap<String, ProductWindow> candidates = new TreeMap<>(TextOrder::compare);
        for (Entry entry : window.values()) {
            ProductWindow product = entry.product;
            products.add(product);
            if (!entry.changed) {
                continue;
            }
            if (entry.reportedCategory != null) {
                add(changes, entry.reportedCategory, -entry.reportedClicks,
                        -entry.reportedCarts, -entry.reportedPurchases);
            }
            add(changes, product.category, product.clicks, product.carts, product.purchases);
            entry.reportedCategory = product.category;
            entry.reportedClicks = product.clicks;
            entry.reportedCarts = product.carts;
            entry.reportedPurchases = product.purchases;
            if (entry.sent) {
                candidates.put(product.productId, product);
            }
        }
        List<ProductWindow> best = new ArrayList<>();
        TopLists.popular(products, spec.topN).addAllTo(best);
        TopLists.rising(products, spec).addAllTo(best);
        for (ProductWindow product : best) {
            candidates.put(product.productId, product);
        }
        long timestamp = spec.fireTime(end);
        for (ProductWindow candidate : candidates.values()) {
            window.get(candidate.productId).sent = true;
            output.collect(new StreamRecord<>(candidate, timestamp));
        }
        ProductWindow scoredBy = products.get(0);
        for (Map.Entry<String, long[]> change : changes.entrySet()) {
            long[] counts = change.getValue();
            if (counts[0] != 0 || counts[1] != 0 || counts[2] != 0) {
                output.collect(new StreamRecord<>(ProductWindow.categoryTotal(scoredBy,
                        change.getKey(), counts[0], counts[1], counts[2]), timestamp));
            }
        }
        for (Entry entry : window.values()) {
            entry.changed = false;
        }
    }

    private static void add(Map<String, long[]> changes, String category, long clicks,
                            long carts, long purchases) {
        long[] counts = changes.computeIfAbsent(category, c -> new long[3]);
        counts[0] += clicks;
        counts[1] += carts;
        counts[2] += purchases;
    }

    /** A product of a window on this subtask: its newest entry, and what the merge has of it. */
    public static final class Entry {
        public ProductWindow product;
        /** Whether the merge holds the product (it was a candidate once). */
        public boolean sent;
        /** Whether it changed since the window's candidates were last sent. */
        public boolean changed;
        /** The category and counts last added to the merge's category sums (null: none). */
        public String reportedCategory;
        public long reportedClicks;
        public long reportedCarts;
        public long reportedPurchases;

        public Entry() {}
    }
}
