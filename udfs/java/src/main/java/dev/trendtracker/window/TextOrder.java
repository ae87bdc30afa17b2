package dev.trendtracker.window;

/**
 * Text in Unicode code point order (the order of UTF-8 bytes, and of Python's strings), in
 * which ranking ties, categories and the category rule are ordered.
 * {@link String#compareTo} orders UTF-16 units, which differs for characters outside the
 * Basic Multilingual Plane.
 */
final class TextOrder {
    private TextOrder() {}

    static int compare(String a, String b) {
        int length = Math.min(a.length(), b.length());
        for (int i = 0; i < length; i++) {
            char x = a.charAt(i);
            char y = b.charAt(i);
            if (x != y) {
                if (Character.isSurrogate(x) || Character.isSurrogate(y)) {
                    return Integer.compare(a.codePointAt(i), b.codePointAt(i));
                }
                return Character.compare(x, y);
            }
        }
        return Integer.compare(a.length(), b.length());
    }
}
