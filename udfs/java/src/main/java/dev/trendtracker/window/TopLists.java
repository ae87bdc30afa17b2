package dev.trendtracker.window;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The best {@code n} products of a window, overall and in each category, in one order:
 * popular (score descending) or rising (momentum descending, only products whose score is at
 * least the least rising score and whose growth is significant); ties by product_id
 * ascending.
 *
 * <p>Plain logic: {@link LocalTopN} takes the union of a subtask's lists as its candidates,
 * {@link WindowRanker} ranks the window from the candidates of every subtask. The global
 * top-n of a scope is inside the union of the subtasks' top-n of that scope, since a product
 * that n products of its own subtask beat is beaten by those n everywhere.
 */
public final class TopLists {
    /** Best first: score descending, then product_id ascending. */
    public static final Comparator<ProductWindow> POPULAR = (a, b) -> {
        int byScore = Double.compare(b.score, a.score);
        return byScore != 0 ? byScore : TextOrder.compare(a.productId, b.productId);
    };

    /** Best first: momentum descending, then product_id ascending. */
    public static final Comparator<ProductWindow> RISING = (a, b) -> {
        int byMomentum = Double.compare(b.momentum, a.momentum);
        return byMomentum != 0 ? byMomentum : TextOrder.compare(a.productId, b.productId);
    };

    /** The best n overall, best first. */
    public final List<ProductWindow> overall = new ArrayList<>();
    /** The best n of each category, best first. */
    public final Map<String, List<ProductWindow>> byCategory = new HashMap<>();

    private TopLists() {}

    /** The popular lists of {@code products}. */
    public static TopLists popular(Collection<ProductWindow> products, int n) {
        return of(new ArrayList<>(products), POPULAR, n);
    }

    /** The rising lists of {@code products}: those rising enough for {@code spec}. */
    public static TopLists rising(Collection<ProductWindow> products, WindowSpec spec) {
        List<ProductWindow> rising = new ArrayList<>(products.size());
        for (ProductWindow product : products) {
            if (product.score >= spec.risingMinScore && product.significantGrowth) {
                rising.add(product);
            }
        }
        return of(rising, RISING, spec.topN);
    }

    private static TopLists of(List<ProductWindow> sorted, Comparator<ProductWindow> order,
                               int n) {
        sorted.sort(order);
        TopLists lists = new TopLists();
        for (ProductWindow product : sorted) {
            if (lists.overall.size() < n) {
                lists.overall.add(product);
            }
            List<ProductWindow> inCategory =
                    lists.byCategory.computeIfAbsent(product.category, c -> new ArrayList<>());
            if (inCategory.size() < n) {
                inCategory.add(product);
            }
        }
        return lists;
    }

    /** Every product in one of the lists. */
    public void addAllTo(Collection<ProductWindow> into) {
        into.addAll(overall);
        for (List<ProductWindow> list : byCategory.values()) {
            into.addAll(list);
        }
    }
}
