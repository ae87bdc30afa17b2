package dev.trendtracker.window;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/**
 * A subtask's candidates: its top-N of every scope by score and by momentum, the products
 * the merge holds that changed, and the changes of the category sums; kept across a snapshot
 * and a restore, at another parallelism too. Top 1, least rising score 2.
 */
class LocalTopNTest {
    static final WindowSpec SPEC = new WindowSpec(20_000, 10_000, 5_000, 1, 10, 2.0, 2.0);
    static final WeightsRecord W = new WeightsRecord("v0", 1, 3, 5, 0);

    static OneInputStreamOperatorTestHarness<ProductWindow, ProductWindow> harness(
            int parallelism, int subtask) throws Exception {
        return new OneInputStreamOperatorTestHarness<>(new LocalTopN(SPEC), 128, parallelism,
                subtask);
    }

    /** A product of the window ending at 10 s with {@code clicks} and a given momentum. */
    static ProductWindow product(String productId, String category, long clicks,
                                 double momentum) {
        return ProductWindowsTest.row(10_000, productId, category, clicks, 0, 0, clicks,
                momentum, W);
    }

    static ProductWindow total(String category, long clicks) {
        return ProductWindow.categoryTotal(product("x", category, 0, 0), category, clicks, 0, 0);
    }

    static List<ProductWindow> fire(
            OneInputStreamOperatorTestHarness<ProductWindow, ProductWindow> h, long watermark)
            throws Exception {
        h.processWatermark(watermark);
        List<ProductWindow> sent = new ArrayList<>(h.extractOutputValues());
        h.getOutput().clear();
        return sent;
    }

    static final ProductWindow A = product("a", "x", 5, 1.0);
    static final ProductWindow B = product("b", "x", 3, 2.0);
    static final ProductWindow C = product("c", "y", 4, 0.5);
    // Too small a score for the rising ranking, whatever its momentum.
    static final ProductWindow D = product("d", "y", 1, 9.0);

    @Test
    void aSubtaskSendsItsTopNOfEveryScopeAndTheCategorySums() throws Exception {
        try (var h = harness(1, 0)) {
            h.open();
            for (ProductWindow product : List.of(A, B, C, D)) {
                h.processElement(product, 9_999);
            }
            // Popular: a overall and in x, c in y. Rising: b overall and in x, c in y.
            // Candidates by product_id, then the category sums by category.
            assertEquals(List.of(A, B, C, total("x", 8), total("y", 5)), fire(h, 9_999));
        }
    }

    @Test
    void anUpdateAtTheNextWatermarkSendsTheChangesAndTheNewLeaders() throws Exception {
        try (var h = harness(1, 0)) {
            h.open();
            for (ProductWindow product : List.of(A, B, C, D)) {
                h.processElement(product, 9_999);
            }
            fire(h, 9_999);
            ProductWindow d2 = product("d", "x", 6, 1.5);
            ProductWindow c2 = product("c", "x", 4, 0.5);
            h.processElement(d2, 9_999);
            h.processElement(c2, 9_999);
            // Popular: d overall and in x. Rising: b overall and in x (d: 1.5 < 2). c was
            // sent before and changed: sent again. Sums: y loses c and d, x gains them.
            assertEquals(List.of(B, c2, d2, total("x", 10), total("y", -5)), fire(h, 12_000));
            // Final at 14.999 s: nothing kept.
            assertEquals(List.of(), fire(h, 15_000));
            h.processElement(product("e", "x", 1, 1.0), 19_999);
            assertEquals(List.of(ProductWindowsTest.row(10_000, "e", "x", 1, 0, 0, 1, 1.0, W),
                    total("x", 1)), fire(h, 19_999));
        }
    }

    @Test
    void theProductsKeptForUpdatesFollowTheirKeysAcrossARestore() throws Exception {
        List<ProductWindow> all = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            all.add(product("p-" + i, i % 2 == 0 ? "x" : "y", 10 + i, 1.0));
        }
        OperatorSubtaskState[] snapshots = new OperatorSubtaskState[2];
        for (int subtask = 0; subtask < 2; subtask++) {
            try (var h = harness(2, subtask)) {
                h.open();
                for (ProductWindow product : all) {
                    if (owner(product.productId, 2) == subtask) {
                        h.processElement(product, 9_999);
                    }
                }
                fire(h, 9_999);
                snapshots[subtask] = h.snapshot(1, 1);
            }
        }
        OperatorSubtaskState both = AbstractStreamOperatorTestHarness.repackageState(snapshots);
        // One subtask now: an update of p-0 makes it send its own top-1s again, from all 12.
        try (var h = harness(1, 0)) {
            h.initializeState(both);
            h.open();
            ProductWindow p0 = product("p-0", "x", 100, 1.0);
            h.processElement(p0, 9_999);
            // Popular: p-0 overall and in x, p-11 in y. Rising (all at momentum 1): p-0
            // overall and in x, p-1 in y. p-0 was sent before: once.
            List<ProductWindow> sent = fire(h, 10_000);
            assertEquals(List.of(p0, all.get(1), all.get(11), total("x", 90)), sent);
        }
        // Three subtasks: each keeps only its own keys.
        for (int subtask = 0; subtask < 3; subtask++) {
            try (var h = harness(3, subtask)) {
                h.initializeState(AbstractStreamOperatorTestHarness.repackageState(snapshots));
                h.open();
                ProductWindow probe = null;
                for (ProductWindow product : all) {
                    if (owner(product.productId, 3) == subtask) {
                        probe = product(product.productId, product.category,
                                product.clicks + 1, 1.0);
                    }
                }
                if (probe == null) {
                    continue;
                }
                h.processElement(probe, 9_999);
                for (ProductWindow candidate : fire(h, 10_000)) {
                    if (!candidate.total) {
                        assertEquals(subtask, owner(candidate.productId, 3), candidate.toString());
                    }
                }
            }
        }
    }

    static int owner(String productId, int parallelism) {
        return KeyGroupRangeAssignment.assignKeyToParallelOperator(productId, 128, parallelism);
    }
}
