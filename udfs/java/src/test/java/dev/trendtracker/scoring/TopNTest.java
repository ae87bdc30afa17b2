package dev.trendtracker.scoring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.junit.jupiter.api.Test;

class TopNTest {

    static TopN.Entry entry(String productId, double score, double momentum) {
        TopN.Entry entry = new TopN.Entry((BinaryStringData) StringData.fromString(productId),
                (BinaryStringData) StringData.fromString("c"), 0, 0, 0, score);
        entry.momentum = momentum;
        return entry;
    }

    static List<String> ids(List<TopN.Entry> entries) {
        List<String> ids = new ArrayList<>();
        for (TopN.Entry entry : entries) {
            ids.add(entry.productId.toString());
        }
        return ids;
    }

    @Test
    void theBestNByScoreThenProductId() {
        TopN top = new TopN(2);
        top.offer(entry("p-b", 5, 0));
        top.offer(entry("p-c", 7, 0));
        top.offer(entry("p-a", 5, 0));
        assertEquals(List.of("p-c", "p-a"), ids(top.ranked()));
    }

    @Test
    void byMomentumTheScoreDoesNotCount() {
        TopN top = new TopN(2, true);
        top.offer(entry("p-a", 100, 1.0));
        top.offer(entry("p-b", 1, 3.0));
        top.offer(entry("p-c", 2, 3.0));
        assertEquals(List.of("p-b", "p-c"), ids(top.ranked()));
    }

    @Test
    void aCutKeepsTheBestNAndDropsWhatIsNotBetterThanTheWorstKept() {
        TopN top = new TopN(2);
        top.offer(entry("p-1", 1, 0));
        top.offer(entry("p-2", 2, 0));
        top.offer(entry("p-3", 3, 0));
        top.offer(entry("p-4", 4, 0)); // 2n entries: cut to p-4, p-3
        assertEquals(List.of("p-4", "p-3"), ids(top.entries));
        assertSame(top.entries.get(1), top.worstKept);
        top.offer(entry("p-5", 3, 0)); // equal score, later id: not better than p-3
        top.offer(entry("p-0", 1, 0)); // worse
        assertEquals(2, top.entries.size());
        top.offer(entry("p-2", 3, 0)); // equal score, earlier id: better than p-3
        assertEquals(List.of("p-4", "p-2"), ids(top.ranked()));
    }
}
