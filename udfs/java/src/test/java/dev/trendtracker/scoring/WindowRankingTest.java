package dev.trendtracker.scoring;

import static dev.trendtracker.scoring.Rankings.columns;
import static dev.trendtracker.scoring.Rankings.row;
import static dev.trendtracker.scoring.Rankings.rows;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

/** One window's scoring and ranking: scores, ties, top-N cuts, the pinned weights. */
class WindowRankingTest {
    /** click 1, cart 3, purchase 5. */
    static final Weights V1 = new Weights("v1", 1.0, 3.0, 5.0);

    /** (category, rank, product_id, score, clicks, carts, purchases) rows. */
    static List<List<Object>> result(WindowRanking ranking) {
        return rows(ranking.result(), 7);
    }

    @Test
    void aWindowIsScoredWithItsWeightsAndRankedOverallAndPerCategory() {
        WindowRanking ranking = new WindowRanking(2);
        ranking.pin(V1);
        ranking.add("p-1", "toys", 2, 1, 0); // 2 + 3 = 5
        ranking.add("p-2", "toys", 0, 0, 1); // 5: ties with p-1, p-1 first
        ranking.add("p-3", "books", 7, 0, 0); // 7
        ranking.add("p-4", "books", 1, 0, 0); // 1
        ranking.add("p-5", "toys", 0, 0, 0); // 0: third in toys, cut
        Row result = ranking.result();
        assertEquals("v1", result.getField(7));
        assertEquals(List.of(
                row(null, 1, "p-3", 7.0, 7L, 0L, 0L), row(null, 2, "p-1", 5.0, 2L, 1L, 0L),
                row("books", 1, "p-3", 7.0, 7L, 0L, 0L), row("books", 2, "p-4", 1.0, 1L, 0L, 0L),
                row("toys", 1, "p-1", 5.0, 2L, 1L, 0L), row("toys", 2, "p-2", 5.0, 0L, 0L, 1L)),
                result(ranking));
    }

    @Test
    void theFirstWeightsPinnedStayForTheWholeWindow() {
        WindowRanking ranking = new WindowRanking(5);
        assertFalse(ranking.isPinned());
        ranking.pin(V1);
        assertTrue(ranking.isPinned());
        ranking.add("p-1", "toys", 1, 1, 1); // 1 + 3 + 5 = 9
        ranking.pin(new Weights("v2", 10, 0, 0)); // the champion changed: ignored here
        ranking.add("p-2", "toys", 2, 0, 0); // 2 with v1 (20 with v2)
        assertEquals("v1", ranking.result().getField(7));
        assertEquals(List.of(row(null, "p-1", 9.0), row(null, "p-2", 2.0),
                        row("toys", "p-1", 9.0), row("toys", "p-2", 2.0)),
                columns(result(ranking), 0, 2, 3));
    }

    @Test
    void topNKeepsTheBestThroughManyCutsWithTiesByProductId() {
        WindowRanking ranking = new WindowRanking(3);
        ranking.pin(new Weights("v1", 1, 0, 0));
        // 50 products p-00 .. p-49 with clicks = i % 10: the best score is 9, held by
        // p-09, p-19, p-29, p-39, p-49; the top 3 by product_id are p-09, p-19, p-29.
        for (int i = 0; i < 50; i++) {
            ranking.add(String.format("p-%02d", i), "c", i % 10, 0, 0);
        }
        assertEquals(List.of(
                row(null, 1, "p-09", 9.0), row(null, 2, "p-19", 9.0), row(null, 3, "p-29", 9.0),
                row("c", 1, "p-09", 9.0), row("c", 2, "p-19", 9.0), row("c", 3, "p-29", 9.0)),
                columns(result(ranking), 0, 1, 2, 3));
    }

    @Test
    void addingBeforeTheWeightsArePinnedIsRefused() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new WindowRanking(3).add("p-1", "c", 1, 0, 0));
        assertEquals("pin the window's weights first", e.getMessage());
    }

    @Test
    void anUnpinnedWindowHasNoRows() {
        Row result = new WindowRanking(3).result();
        assertEquals(List.of(), result(new WindowRanking(3)));
        assertEquals(null, result.getField(7));
    }

    @Test
    void atMostMaxCategoriesAreRankedChosenByTheCategorysWindowScore() {
        WindowRanking ranking = new WindowRanking(2, 2);
        ranking.pin(V1);
        // A category's window score is the score of its summed counts, every product of the
        // category included (not only its top-N).
        ranking.add("p-1", "toys", 2, 1, 0); // 5
        ranking.add("p-2", "toys", 0, 0, 1); // 5 -> toys 10
        for (String product : List.of("p-3", "p-4", "p-5", "p-6")) {
            ranking.add(product, "games", 2, 0, 0); // 2 each -> games 8 (its top-2 only 4)
        }
        ranking.add("p-7", "books", 7, 0, 0); // books 7: the best product, third category
        ranking.add("p-8", "art", 0, 1, 0); // art 3
        // The overall ranking still covers every product; categories in name order.
        assertEquals(List.of(
                row(null, 1, "p-7", 7.0, 7L, 0L, 0L), row(null, 2, "p-1", 5.0, 2L, 1L, 0L),
                row("games", 1, "p-3", 2.0, 2L, 0L, 0L), row("games", 2, "p-4", 2.0, 2L, 0L, 0L),
                row("toys", 1, "p-1", 5.0, 2L, 1L, 0L), row("toys", 2, "p-2", 5.0, 0L, 0L, 1L)),
                result(ranking));
    }

    @Test
    void categoriesWithEqualWindowScoresAreChosenByName() {
        WindowRanking ranking = new WindowRanking(1, 2);
        ranking.pin(V1);
        ranking.add("p-1", "c-b", 3, 0, 0); // 3
        ranking.add("p-2", "c-d", 0, 1, 0); // 3
        ranking.add("p-3", "c-a", 1, 0, 0); // 1 + 2 = 3
        ranking.add("p-4", "c-a", 2, 0, 0);
        ranking.add("p-5", "c-c", 2, 0, 0); // 2
        assertEquals(List.of(row(null, "p-1"), row("c-a", "p-4"), row("c-b", "p-1")),
                columns(result(ranking), 0, 2));
    }

    @Test
    void maxCategoriesMustBePositive() {
        assertEquals("maxCategories must be positive", assertThrows(
                IllegalArgumentException.class, () -> new WindowRanking(3, 0)).getMessage());
    }
}
