package dev.trendtracker.window;

import java.util.List;

import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;

/**
 * Runs {@link ProductWindows} as Flink runs any keyed broadcast function, and also hands it
 * the watermark of its events input, against which it decides lateness (the operator's own
 * watermark, which fires the windows, is also held by the weights input).
 *
 * <p>The events input never counts as idle here. Flink leaves an idle input out of an
 * operator's watermark; were the events input left out while every events partition is quiet,
 * the weights input alone would carry the windows past the events' watermark, and events
 * coming back behind it would update windows that operators downstream had already dropped.
 * So while the events are idle the windows wait, as they would without a weights input.
 */
public class ProductWindowsOperator
        extends CoBroadcastWithKeyedOperator<String, TrendEvent, String, ProductWindow> {
    private static final long serialVersionUID = 1L;

    public ProductWindowsOperator(ProductWindows windows) {
        super(windows, List.of(ProductWindows.WEIGHTS));
    }

    @Override
    protected void processWatermarkStatus(WatermarkStatus status, int index) throws Exception {
        if (index == 0 && status.isIdle()) {
            return;
        }
        super.processWatermarkStatus(status, index);
    }

    @Override
    public void processWatermark1(Watermark mark) throws Exception {
        ((ProductWindows) userFunction).advanceEventWatermark(mark.getTimestamp());
        super.processWatermark1(mark);
    }
}
