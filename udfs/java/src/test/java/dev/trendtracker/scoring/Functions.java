package dev.trendtracker.scoring;

import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.testutils.MetricListener;
import org.apache.flink.table.functions.FunctionContext;

/** A function's context whose metrics a test reads back. */
final class Functions {
    private Functions() {}

    static FunctionContext context(MetricListener metrics) {
        return new FunctionContext(null) {
            @Override
            public MetricGroup getMetricGroup() {
                return metrics.getMetricGroup();
            }
        };
    }

    static long count(MetricListener metrics, String... identifier) {
        return metrics.getCounter(identifier).orElseThrow(
                () -> new AssertionError("no counter " + String.join(".", identifier)))
                .getCount();
    }
}
