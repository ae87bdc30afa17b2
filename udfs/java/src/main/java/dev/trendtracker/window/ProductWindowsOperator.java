package dev.trendtracker.window;

import java.util.List;

import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.api.watermark.Watermark;

/**
 * Runs {@link ProductWindows} as Flink runs any keyed broadcast function, and also hands it
 * the watermark of its events input, against which it decides lateness (the operator's own
 * watermark, which fires the windows, is also held by the weights input).
 */
public class ProductWindowsOperator
        extends CoBroadcastWithKeyedOperator<String, TrendEvent, String, ProductWindow> {
    private static final long serialVersionUID = 1L;

    public ProductWindowsOperator(ProductWindows windows) {
        super(windows, List.of(ProductWindows.WEIGHTS));
    }

    @Override
    public void processWatermark1(Watermark mark) throws Exception {
        ((ProductWindows) userFunction).advanceEventWatermark(mark.getTimestamp());
        super.processWatermark1(mark);
    }
}
