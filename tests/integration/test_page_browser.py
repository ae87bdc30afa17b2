"""The live trends page in a real headless Chromium, over a real uvicorn and redis-server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from playwright.sync_api import sync_playwright

from localstack.servers import ApiServer, IngestServer, RedisServer
from trend_tracker.processes import free_port
from udfs.redis_sink import RankedItem, Ranking, RedisRankingWriter

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SLIDE_MS = 30_000
HISTORY = 6  # windows of history, so sparklines have a line to draw
#: The overall ranking's oldest windows were scored with older weights: v2, then v3.
OLD_WEIGHTS_WINDOWS = 2

pytestmark = pytest.mark.browser


def ranking(window_end, category, product_ids, weights_version="v3", previous=None,
            kind="popular", momenta=None) -> Ranking:
    """A ranking of ``product_ids`` in that order; ``previous`` is the previous window's
    order in the same ranking (None: there was none), which gives each its previous_rank."""
    before = {p: r for r, p in enumerate(previous or [], start=1)}
    items = tuple(RankedItem(rank=r, product_id=p, score=float(10 * (len(product_ids) - r) + 1),
                             clicks=r, carts=0, purchases=0, previous_rank=before.get(p),
                             momentum=momenta[r - 1] if momenta else 1.0)
                  for r, p in enumerate(product_ids, start=1))
    return Ranking(window_start=window_end - 600_000, window_end=window_end,
                   category=category, weights_version=weights_version, items=items,
                   ranking=kind)


OVERALL = [f"prod-{i:02d}" for i in range(1, 13)]
BOOKS = ["book-a", "book-b", "book-c"]
TOYS = ["toy-x", "toy-y"]
#: The overall rising ranking of the window before the newest, and of the newest.
RISING_BEFORE = ["prod-05", "prod-01", "prod-09", "prod-03"]
RISING_NOW = ["prod-09", "prod-01", "prod-07", "prod-05", "prod-11"]
RISING_MOMENTA = [4.0, 2.5, 2.25, 1.5, 1.2]
#: What the page shows for RISING_NOW, worked out by hand from the two orders above:
#: prod-09 was 3rd, prod-01 2nd (the same), prod-07 and prod-11 were not there, prod-05 1st.
RISING_CHANGES = [["up", "▲ 2"], ["same", "="], ["new", "new"], ["down", "▼ 3"],
                  ["new", "new"]]
#: The newest popular window is OVERALL in order; the one before was rotated by one
#: (prod-02 .. prod-12, prod-01): prod-01 climbed from 12th, every other one lost a place.
POPULAR_CHANGES = [["up", "▲ 11"]] + [["down", "▼ 1"]] * 9
#: Momentum shows as a factor: the multiplication sign, then two decimals.
TIMES = "\N{MULTIPLICATION SIGN}"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A redis-server with a few windows of rankings and the API serving them."""
    log = tmp_path_factory.mktemp("api") / "api.log"
    end = time.time_ns() // 1_000_000 // SLIDE_MS * SLIDE_MS
    with RedisServer() as redis_server:
        writer = RedisRankingWriter(redis.Redis.from_url(redis_server.url), ttl_s=3600)
        previous = None
        for w in range(HISTORY - 1, -1, -1):
            # Rotate the order so each product's score changes from window to window.
            order = OVERALL[w:] + OVERALL[:w]
            weights = "v2" if w >= HISTORY - OLD_WEIGHTS_WINDOWS else "v3"
            first = w == HISTORY - 1
            writer.write([
                ranking(end - w * SLIDE_MS, None, order, weights, previous=previous),
                ranking(end - w * SLIDE_MS, "books", BOOKS, previous=None if first else BOOKS),
                ranking(end - w * SLIDE_MS, "toys", TOYS, previous=None if first else TOYS)])
            previous = order
        # The window the newest rising ranking compares with (its size earlier) has a
        # ranking of its own, of a product shown nowhere else.
        writer.write([ranking(end - 600_000, None, ["prod-gone"], "v2")])
        writer.write([
            ranking(end - SLIDE_MS, None, RISING_BEFORE, kind="rising"),
            ranking(end, None, RISING_NOW, kind="rising", previous=RISING_BEFORE,
                    momenta=RISING_MOMENTA),
            ranking(end, "toys", TOYS[::-1], kind="rising", previous=TOYS,
                    momenta=[1.5, 0.5])])
        with ApiServer({"TREND_REDIS_URL": redis_server.url}, log_path=log) as api:
            yield api, writer, end


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def table_rows(page) -> list[list[str]]:
    """Rank, product, score and the three counts of each row."""
    return page.eval_on_selector_all(
        "#trending tbody tr",
        "rows => rows.map(r => [...r.querySelectorAll('td.rank, td.product .name, td.score, "
        "td.count')]"
        ".map(td => td.textContent))")


def rank_changes(page) -> list[list[str]]:
    """Each row's move (up, down, same, new) and what it shows."""
    return page.eval_on_selector_all(
        "#trending tbody td.change > span",
        "marks => marks.map(m => [m.dataset.move, m.textContent])")


def momentum_cells(page) -> list[list]:
    """Each row's momentum text and whether it is shown."""
    return page.eval_on_selector_all(
        "#trending tbody td.momentum",
        "tds => tds.map(td => [td.textContent, getComputedStyle(td).display !== 'none'])")


def expected_rows(api_url: str, query: str) -> list[list[str]]:
    items = httpx.get(f"{api_url}/trending?{query}").json()["items"]
    return [[str(i["rank"]), i["product_id"], f"{i['score']:.2f}", str(i["clicks"]),
             str(i["carts"]), str(i["purchases"])] for i in items]


def test_the_page_shows_the_api_rows_switches_category_and_refreshes(live, browser,
                                                                      artifacts_dir):
    api, writer, end = live
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    try:
        page.goto(api.url + "/")
        page.wait_for_selector("#trending tbody tr")
        assert table_rows(page) == expected_rows(api.url, "k=10")
        assert rank_changes(page) == POPULAR_CHANGES
        # Momentum is the rising ranking's: not shown in the popular one.
        assert [shown for _, shown in momentum_cells(page)] == [False] * 10
        assert page.text_content("#weights-version") == "v3"
        assert "UTC" in page.text_content("#window")
        # Every overall product has HISTORY windows of history: one sparkline each.
        page.wait_for_function(
            "document.querySelectorAll('#trending svg.spark polyline').length === 10")
        points = page.eval_on_selector_all("#trending svg.spark",
                                           "svgs => svgs.map(s => s.dataset.points)")
        assert points == [str(HISTORY)] * 10
        # Each line marks where the weights changed: at its third window (index 2 of 6,
        # evenly spaced over x 2..118), the first scored with v3, named in the tooltip.
        first_v3 = end - (HISTORY - 1 - OLD_WEIGHTS_WINDOWS) * SLIDE_MS
        at = datetime.fromtimestamp(first_v3 / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        markers = page.eval_on_selector_all(
            "#trending tbody tr",
            "rows => rows.map(r => [...r.querySelectorAll('svg.spark g.weights-change')]"
            ".map(g => [g.dataset.weightsVersion, g.querySelector('title').textContent, "
            "g.querySelector('line').getAttribute('x1')]))")
        x = f"{2 + OLD_WEIGHTS_WINDOWS / (HISTORY - 1) * 116:.1f}"
        assert x == "48.4"
        assert markers == [[["v3", f"weights v3 from the window ending {at} (before: v2)", x]]
                           ] * 10
        page.screenshot(path=str(artifacts_dir / "trends-page.png"), full_page=True)

        options = page.eval_on_selector_all("#category option", "os => os.map(o => o.value)")
        assert options == ["", "books", "toys"]
        page.select_option("#category", "books")
        page.wait_for_selector("#trending[data-category='books']")
        assert table_rows(page) == expected_rows(api.url, "k=10&category=books")
        assert rank_changes(page) == [["same", "="]] * 3  # the same order every window
        # The sparklines follow each book's history in the books ranking (no book is in
        # the overall ranking): HISTORY windows each, same score every window, so a flat
        # line at the bottom, x spread evenly over the 120 px width.
        page.wait_for_function(
            "document.querySelectorAll('#trending svg.spark polyline').length === 3")
        sparks = page.eval_on_selector_all(
            "#trending tbody tr",
            "rows => rows.map(r => [r.dataset.productId, "
            "r.querySelector('svg.spark').dataset.points, "
            "r.querySelector('svg.spark polyline').getAttribute('points')])")
        flat = "2.0,22.0 25.2,22.0 48.4,22.0 71.6,22.0 94.8,22.0 118.0,22.0"
        assert sparks == [[book, str(HISTORY), flat] for book in BOOKS]
        # Every books window had the same weights: no marker.
        assert page.locator("#trending g.weights-change").count() == 0
        page.screenshot(path=str(artifacts_dir / "trends-page-books.png"), full_page=True)

        # A newer window arrives: the page shows it without being reloaded.
        writer.write([ranking(end + SLIDE_MS, "books", ["book-z"], weights_version="v4")])
        page.wait_for_function(
            "document.getElementById('weights-version').textContent === 'v4'", timeout=15_000)
        assert table_rows(page) == [["1", "book-z", "1.00", "1", "0", "0"]]
        assert rank_changes(page) == [["new", "new"]]
        # book-z has one window in the books ranking: a one-point sparkline.
        page.wait_for_function(
            "document.querySelector('#trending tbody tr svg.spark')?.dataset.points === '1'",
            timeout=15_000)
    finally:
        page.close()


def address(page) -> str:
    """The page's address, from its path on."""
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def controls(page) -> dict[str, str]:
    return {"category": page.input_value("#category"),
            "ranking": page.eval_on_selector("#ranking input:checked", "i => i.value"),
            "k": page.input_value("#k")}


def test_the_view_lives_in_the_address(live, browser):
    """A shared address opens the same view; each change the user makes is a new history
    entry that Back returns from; invalid values fall back to the defaults quietly."""
    api, _, _ = live
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(api.url + "/?category=toys&ranking=rising&k=5")
        page.wait_for_selector("#trending[data-category='toys'][data-ranking='rising'] tbody tr")
        assert controls(page) == {"category": "toys", "ranking": "rising", "k": "5"}
        assert table_rows(page) == expected_rows(api.url, "k=5&category=toys&ranking=rising")
        assert [row[1] for row in table_rows(page)] == ["toy-y", "toy-x"]
        assert rank_changes(page) == [["up", "▲ 1"], ["down", "▼ 1"]]
        assert momentum_cells(page) == [[f"{TIMES}1.50", True], [f"{TIMES}0.50", True]]
        assert address(page) == "/?category=toys&ranking=rising&k=5"

        # The user picks another k, the popular ranking, then all categories: each is
        # pushed to the history; defaults are left out of the address.
        page.select_option("#k", "20")
        page.wait_for_function("location.search === '?category=toys&ranking=rising&k=20'")
        page.click("#ranking label:has(input[value=popular])")
        page.wait_for_selector("#trending[data-category='toys'][data-ranking='popular']")
        assert address(page) == "/?category=toys&k=20"
        assert table_rows(page) == expected_rows(api.url, "k=20&category=toys")
        page.select_option("#category", "")
        page.wait_for_selector("#trending[data-category=''] tbody tr")
        assert address(page) == "/?k=20"
        page.wait_for_function("document.querySelectorAll('#trending tbody tr').length === 12")
        assert table_rows(page) == expected_rows(api.url, "k=20")
        page.go_back()
        page.wait_for_selector("#trending[data-category='toys'][data-ranking='popular'] tbody tr")
        assert (address(page), controls(page)) == (
            "/?category=toys&k=20", {"category": "toys", "ranking": "popular", "k": "20"})
        page.go_back()
        page.wait_for_selector("#trending[data-category='toys'][data-ranking='rising'] tbody tr")
        assert (address(page), controls(page)) == (
            "/?category=toys&ranking=rising&k=20",
            {"category": "toys", "ranking": "rising", "k": "20"})

        # The same view however the address orders it: written back in one order.
        page.goto(f"{api.url}/?k=5&ranking=rising")
        page.wait_for_selector("#trending[data-ranking='rising'] tbody tr")
        assert address(page) == "/?ranking=rising&k=5"
        assert [row[1] for row in table_rows(page)] == RISING_NOW

        # Invalid values: an unknown category, a ranking or k the page does not offer, a
        # stray parameter. The defaults are shown, the address is corrected, nothing fails.
        for query in ["category=nope&k=7&x=1", "category=&k=abc&ranking=", "k=-1&category=TOYS",
                      "ranking=falling&k=10", "ranking=Rising&ranking=rising"]:
            page.goto(f"{api.url}/?{query}")
            page.wait_for_selector("#trending[data-category=''][data-ranking='popular'] tbody tr")
            assert controls(page) == {"category": "", "ranking": "popular", "k": "10"}, query
            assert address(page) == "/", query
            assert table_rows(page) == expected_rows(api.url, "k=10"), query
            assert page.text_content("#status") == "", query
        assert errors == []

        # Books have no rising ranking: the page says so and keeps the view (the browser
        # logs the 404 it got, once per refresh: the only error it logs).
        page.goto(f"{api.url}/?category=books&ranking=rising")
        page.wait_for_function("document.getElementById('status').textContent !== ''")
        assert page.text_content("#status") == "No rising ranking for books in the recent windows."
        assert page.locator("#trending tbody tr").count() == 0
        assert address(page) == "/?category=books&ranking=rising"
        assert httpx.get(f"{api.url}/trending?category=books&ranking=rising").json()["error"][
            "code"] == "unknown_category"
        assert set(errors) == {"Failed to load resource: the server responded with a status "
                               "of 404 (Not Found)"}
    finally:
        page.close()


def test_the_rising_view_shows_rank_changes_new_products_and_momentum(live, browser,
                                                                       artifacts_dir):
    api, _, _ = live
    page = browser.new_page(viewport={"width": 1280, "height": 520})
    try:
        page.goto(api.url + "/?ranking=rising")
        page.wait_for_selector("#trending[data-ranking='rising'] tbody tr")
        assert controls(page) == {"category": "", "ranking": "rising", "k": "10"}
        assert [row[1] for row in table_rows(page)] == RISING_NOW
        assert table_rows(page) == expected_rows(api.url, "ranking=rising")
        assert rank_changes(page) == RISING_CHANGES
        assert momentum_cells(page) == [[f"{TIMES}{m:.2f}", True] for m in RISING_MOMENTA]
        assert page.is_visible("#trending th.momentum")
        assert page.text_content("#explain").startswith("Rising: by momentum")
        titles = page.eval_on_selector_all("#trending td.change > span",
                                           "marks => marks.map(m => m.title)")
        assert titles == ["up 2 places since the previous window (was #3)",
                          "Same place as in the previous window (#2)",
                          "Not in the previous window's ranking",
                          "down 3 places since the previous window (was #1)",
                          "Not in the previous window's ranking"]
        # The sparklines are each product's history in the rising ranking, not the popular
        # one (where each has HISTORY windows): two windows for the products in both rising
        # windows, one for those new in the newest.
        page.wait_for_function(
            "document.querySelectorAll('#trending svg.spark').length === 5 && "
            "[...document.querySelectorAll('#trending svg.spark')].every("
            "s => s.dataset.points)")
        assert page.eval_on_selector_all(
            "#trending svg.spark", "svgs => svgs.map(s => s.dataset.points)") == [
                "2", "2", "1", "2", "1"]
        page.screenshot(path=str(artifacts_dir / "trends-page-rising.png"), full_page=True)

        # Back to popular: the switch, the address, the columns and the arrows follow.
        page.click("#ranking label:has(input[value=popular])")
        page.wait_for_selector("#trending[data-ranking='popular'] tbody tr")
        assert address(page) == "/"
        assert rank_changes(page) == POPULAR_CHANGES
        # The popular rows also in the rising top 10 of the same window are marked, with
        # their rising rank and momentum: prod-11 rises too, but is not in the popular top 10.
        page.wait_for_function(
            "document.querySelectorAll('#trending td.product .badge.rising').length === 4")
        assert page.eval_on_selector_all(
            "#trending tbody tr",
            "rows => rows.filter(r => r.querySelector('.badge.rising')).map(r => "
            "[r.dataset.productId, r.querySelector('.badge.rising').title])") == [
                ["prod-01", f"Also #2 in Rising ({TIMES}2.50)"],
                ["prod-05", f"Also #4 in Rising ({TIMES}1.50)"],
                ["prod-07", f"Also #3 in Rising ({TIMES}2.25)"],
                ["prod-09", f"Also #1 in Rising ({TIMES}4.00)"]]
        assert not page.is_visible("#trending th.momentum")
        assert [shown for _, shown in momentum_cells(page)] == [False] * 10
        assert page.text_content("#explain").startswith("Popular: by score")
    finally:
        page.close()


def test_rising_says_it_is_building_history_until_a_window_before_exists(browser):
    """The job's first window size: Rising has nothing to compare with, and says so instead
    of showing a copy of Popular; Popular shows its rows, none marked rising."""
    end = time.time_ns() // 1_000_000 // SLIDE_MS * SLIDE_MS
    with RedisServer() as redis_server:
        writer = RedisRankingWriter(redis.Redis.from_url(redis_server.url), ttl_s=3600)
        writer.write([ranking(end, None, OVERALL[:3]),
                      ranking(end, None, OVERALL[:3], kind="rising", momenta=[31.0, 21.0, 11.0])])
        with ApiServer({"TREND_REDIS_URL": redis_server.url}) as api:
            page = browser.new_page(viewport={"width": 1280, "height": 520})
            try:
                page.goto(api.url + "/?ranking=rising")
                page.wait_for_selector("#status.building")
                assert page.text_content("#status") == (
                    "Rising is building history: it compares each product's newest slides "
                    "with the window before them, which has no ranking yet. Popular is ready.")
                assert table_rows(page) == []
                assert page.text_content("#explain").startswith("Rising: by momentum")

                page.click("#ranking label:has(input[value=popular])")
                page.wait_for_selector("#trending[data-ranking='popular'] tbody tr")
                assert [row[1] for row in table_rows(page)] == OVERALL[:3]
                assert page.text_content("#status") == ""
                assert page.eval_on_selector_all("#trending .badge.rising", "b => b.length") == 0
            finally:
                page.close()


def test_the_page_uses_the_width_of_the_screen(live, browser, artifacts_dir):
    """Wide: the table spans the window and the sparklines take the room left. Narrow: no
    sideways scrolling, the event counts give way."""
    api, _, _ = live
    page = browser.new_page(viewport={"width": 1600, "height": 800})
    try:
        page.goto(api.url + "/")
        page.wait_for_function(
            "document.querySelectorAll('#trending svg.spark polyline').length === 10")
        table = page.eval_on_selector("#trending", "t => t.getBoundingClientRect().width")
        spark = page.eval_on_selector("#trending svg.spark",
                                      "s => s.getBoundingClientRect().width")
        assert table >= 1600 - 2 * 40 - 1  # at most 2.5rem (40 px) of padding each side
        assert spark >= 0.3 * 1600
        page.screenshot(path=str(artifacts_dir / "trends-page-wide.png"))

        page.set_viewport_size({"width": 375, "height": 700})
        page.wait_for_function("document.documentElement.scrollWidth <= 375")
        # The whole table fits: the sparklines narrow instead of scrolling out of sight.
        assert page.eval_on_selector(".table-scroll", "d => d.scrollWidth <= d.clientWidth")
        hidden = page.eval_on_selector_all(
            "#trending thead th", "ths => ths.map(th => getComputedStyle(th).display === 'none')")
        # rank, change, product, momentum (rising only), score, 3 counts, sparkline
        assert hidden == [False, False, False, True, False, True, True, True, False]
        page.screenshot(path=str(artifacts_dir / "trends-page-narrow.png"), full_page=True)
    finally:
        page.close()


def test_the_page_gets_its_icon_and_no_request_fails(live, browser):
    api, _, _ = live
    page = browser.new_page()
    failed: list[tuple[int, str]] = []
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    try:
        page.goto(api.url + "/")
        page.wait_for_selector("#trending tbody tr")
        icon = page.evaluate(
            "fetch(document.querySelector('link[rel=icon]').href)"
            ".then(r => [r.url, r.status, r.headers.get('content-type')])")
        assert icon == [api.url + "/favicon.ico", 200, "image/svg+xml"]
        assert failed == []
    finally:
        page.close()


#: The operations the OpenAPI pages list: every route of each service's schema.
OPERATIONS = {
    "api": ["/trending", "/products/{product_id}/trend", "/categories", "/health", "/ready",
            "/metrics"],
    "ingest": ["/events", "/health", "/ready", "/metrics"],
}
TITLES = {"api": "Trend Tracker API", "ingest": "Trend Tracker ingest"}


@pytest.fixture(scope="module")
def ingest(tmp_path_factory):
    """The ingest service; its broker is unreachable, which its OpenAPI pages never need."""
    log = tmp_path_factory.mktemp("ingest") / "ingest.log"
    with IngestServer({"TREND_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
                       "TREND_INGEST_API_KEYS": "pages:page-test-key-0123456789"},
                      log_path=log) as server:
        yield server


@pytest.mark.parametrize("service", ["api", "ingest"])
@pytest.mark.parametrize("docs_page", ["docs", "redoc"])
def test_the_openapi_pages_render_offline(service, docs_page, request, browser, artifacts_dir):
    """/docs (Swagger UI) and /redoc (ReDoc) of both services render every operation with
    no request leaving the service's host: as without internet access, any request
    elsewhere is refused (and recorded)."""
    base = request.getfixturevalue("live")[0].url if service == "api" else \
        request.getfixturevalue("ingest").url
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    off_host: list[str] = []

    def refuse_off_host(route) -> None:
        off_host.append(route.request.url)
        route.abort()

    page.route(lambda url: not url.startswith(base + "/"), refuse_off_host)
    try:
        page.goto(f"{base}/{docs_page}")
        if docs_page == "docs":
            page.wait_for_selector(".opblock-summary-path")
            paths = page.eval_on_selector_all(".opblock-summary-path",
                                              "els => els.map(e => e.dataset.path)")
            title = page.text_content(".info .title")
            scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
            assert scripts == [base + "/static/swagger/swagger-ui-bundle.js"]
            styles = page.eval_on_selector_all("link[href]", "els => els.map(e => e.href)")
            assert sorted(styles) == [base + "/favicon.ico",
                                      base + "/static/swagger/swagger-ui.css"]
        else:
            page.wait_for_selector("[data-section-id^='operation/']")
            paths = page.eval_on_selector_all(
                "[data-section-id^='operation/'] button span",
                "els => els.map(e => e.textContent).filter(t => t.startsWith('/'))")
            title = page.text_content("h1")
            scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
            assert scripts == [base + "/static/redoc/redoc.standalone.js"]
        assert paths == OPERATIONS[service]
        assert title.startswith(TITLES[service])
        page.screenshot(path=str(artifacts_dir / f"{service}-{docs_page}.png"), full_page=True)
        assert off_host == []
    finally:
        page.close()
