// The live trends page: polls the API and renders the top-k table with sparklines.
// Plain JS against the JSON API; no framework and no build step.
//
// The view (category, ranking, k) lives in the address's query, e.g.
// /?category=shoes&ranking=rising&k=20, so a view can be bookmarked and shared: read on load,
// written back whenever it changes.
"use strict";

const REFRESH_MS = 5000;
const SPARK_WINDOWS = 30;
// Sparkline coordinates; the SVG stretches them to the column's width.
const SPARK_W = 120;
const SPARK_H = 24;
const SVG_NS = "http://www.w3.org/2000/svg";
// What the page shows when the address does not say (or says something invalid).
const DEFAULT_VIEW = Object.freeze({ category: "", ranking: "popular", k: "10" });
// The view's parameters, in the address's order.
const VIEW_PARAMS = ["category", "ranking", "k"];
const EXPLAIN = {
  popular: "Popular: by score, the weighted clicks, carts and purchases of the window.",
  rising: "Rising: by momentum, the newest slides against the window just before them " +
          "(×2: twice as fast), only products whose growth is beyond their usual noise.",
};

const $ = (id) => document.getElementById(id);
let timer = null;
let generation = 0; // ignores answers to requests made before the last change

async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = (body && body.error) || {};
    const failure = new Error(`${error.code || response.status}: ${error.message || "request failed"}`);
    failure.code = error.code;
    throw failure;
  }
  return body;
}

function isoMinute(ms) {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

// ---- The view and the address -------------------------------------------------------

const rankingInputs = () => [...document.querySelectorAll("#ranking input[name=ranking]")];

// The values a view parameter may take: what its control offers.
function allowedValues(name) {
  if (name === "ranking") return rankingInputs().map((input) => input.value);
  return [...$(name).options].map((o) => o.value);
}

// The view the address asks for, each value checked against what the controls offer:
// an unknown category, ranking or k falls back to its default, silently.
function viewFromAddress() {
  const query = new URLSearchParams(location.search);
  const view = {};
  for (const name of VIEW_PARAMS) {
    const value = query.get(name);
    view[name] = value !== null && allowedValues(name).includes(value) ? value : DEFAULT_VIEW[name];
  }
  return view;
}

function currentView() {
  const ranking = rankingInputs().find((input) => input.checked);
  return { category: $("category").value, ranking: ranking ? ranking.value : DEFAULT_VIEW.ranking,
           k: $("k").value };
}

function showView(view) {
  $("category").value = view.category;
  for (const input of rankingInputs()) input.checked = input.value === view.ranking;
  $("k").value = view.k;
}

// The columns and the explanation of the kind of ranking shown (momentum: rising only).
function showRankingKind(ranking) {
  $("trending").dataset.ranking = ranking;
  $("explain").textContent = EXPLAIN[ranking];
}

// The address of a view: only the values that differ from the defaults.
function addressOf(view) {
  const query = new URLSearchParams();
  for (const name of VIEW_PARAMS) {
    if (view[name] !== DEFAULT_VIEW[name]) query.set(name, view[name]);
  }
  const search = query.toString();
  return location.pathname + (search ? `?${search}` : "") + location.hash;
}

// push: a change the user made (Back returns to the previous view); otherwise the
// address is only corrected (an invalid value in it was replaced by its default).
function writeAddress(push) {
  const address = addressOf(currentView());
  if (address === location.pathname + location.search + location.hash) return;
  if (push) history.pushState(null, "", address);
  else history.replaceState(null, "", address);
}

// ---- Rendering ----------------------------------------------------------------------

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

// A vertical marker at the first window scored with new weights; its tooltip names them.
function weightsChange(x, window, previousVersion) {
  const group = svgElement("g", { class: "weights-change" });
  group.dataset.weightsVersion = window.weights_version;
  group.dataset.windowEnd = window.window_end;
  const title = svgElement("title", {});
  title.textContent = `weights ${window.weights_version} from the window ending ` +
    `${isoMinute(window.window_end)} (before: ${previousVersion})`;
  const ends = { x1: x.toFixed(1), y1: "0", x2: x.toFixed(1), y2: String(SPARK_H) };
  group.append(title, svgElement("line", ends), svgElement("line", { ...ends, class: "hit" }));
  return group;
}

function sparkline(windows) {
  const svg = svgElement("svg", {
    class: "spark", viewBox: `0 0 ${SPARK_W} ${SPARK_H}`, preserveAspectRatio: "none" });
  if (!windows.length) return svg;
  const scores = windows.map((w) => w.score);
  const min = Math.min(...scores);
  const span = Math.max(...scores) - min || 1;
  // x follows window_end, so windows where the product left the top-N show as a gap in time.
  const first = windows[0].window_end;
  const duration = windows[windows.length - 1].window_end - first || 1;
  const points = windows.map((w, i) => [
    2 + ((w.window_end - first) / duration) * (SPARK_W - 4),
    SPARK_H - 2 - ((scores[i] - min) / span) * (SPARK_H - 4)]);
  for (let i = 1; i < windows.length; i++) {
    if (windows[i].weights_version !== windows[i - 1].weights_version) {
      svg.appendChild(weightsChange(points[i][0], windows[i], windows[i - 1].weights_version));
    }
  }
  svg.appendChild(svgElement("polyline", {
    points: points.map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" ") }));
  const [x, y] = points[points.length - 1].map((v) => v.toFixed(1));
  svg.appendChild(svgElement("line", { class: "last", x1: x, y1: y, x2: x, y2: y }));
  svg.dataset.points = String(windows.length);
  return svg;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

// How the product moved since the previous window of the same ranking: up or down by
// some places, the same place, or new (not in the previous window's top-N).
function rankChange(item) {
  const td = cell("", "change");
  const mark = document.createElement("span");
  if (item.previous_rank === null || item.previous_rank === undefined) {
    mark.className = "badge new";
    mark.dataset.move = "new";
    mark.textContent = "new";
    mark.title = "Not in the previous window's ranking";
  } else {
    const places = item.previous_rank - item.rank;
    const move = places > 0 ? "up" : places < 0 ? "down" : "same";
    const count = Math.abs(places);
    mark.className = `move ${move}`;
    mark.dataset.move = move;
    mark.dataset.places = String(count);
    mark.textContent = move === "up" ? `▲ ${count}` : move === "down" ? `▼ ${count}` : "=";
    mark.title = move === "same"
      ? `Same place as in the previous window (#${item.previous_rank})`
      : `${move} ${count} place${count === 1 ? "" : "s"} since the previous window ` +
        `(was #${item.previous_rank})`;
  }
  td.appendChild(mark);
  return td;
}

// The product's id, and room for a mark beside it.
function productCell(productId) {
  const td = cell("", "product");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = productId;
  td.appendChild(name);
  return td;
}

function renderRows(items) {
  const tbody = $("trending").querySelector("tbody");
  const rows = items.map((item) => {
    const tr = document.createElement("tr");
    tr.dataset.productId = item.product_id;
    tr.append(cell(item.rank, "rank"), rankChange(item), productCell(item.product_id),
              cell(`×${item.momentum.toFixed(2)}`, "momentum"),
              cell(item.score.toFixed(2), "score"), cell(item.clicks, "count"),
              cell(item.carts, "count"), cell(item.purchases, "count"), cell("", "spark"));
    return tr;
  });
  tbody.replaceChildren(...rows);
  return rows;
}

// Each product's history in the ranking shown: popular or rising, overall or the selected
// category's.
async function fillSparklines(rows, category, ranking, current) {
  await Promise.all(rows.map(async (tr) => {
    const params = new URLSearchParams({ windows: SPARK_WINDOWS, ranking });
    if (category) params.set("category", category);
    try {
      const trend = await getJSON(
        `products/${encodeURIComponent(tr.dataset.productId)}/trend?${params}`);
      if (current === generation) tr.querySelector("td.spark").replaceChildren(sparkline(trend.windows));
    } catch (e) {
      // No recent history (its entries expired, or Redis is briefly away): no line.
    }
  }));
}

// Popular rows whose product is also in the rising top-k of the same window get a mark
// with its momentum. No rising ranking for the view (yet): no marks.
async function markRising(rows, popular, current) {
  const params = new URLSearchParams({ k: String(rows.length || 1), ranking: "rising" });
  if (popular.category) params.set("category", popular.category);
  let rising;
  try {
    rising = await getJSON(`trending?${params}`);
  } catch (e) {
    return;
  }
  if (current !== generation || rising.window_end !== popular.window_end) return;
  const momentum = new Map(rising.items.map((item) => [item.product_id, item]));
  for (const tr of rows) {
    const item = momentum.get(tr.dataset.productId);
    if (!item) continue;
    const mark = document.createElement("span");
    mark.className = "badge rising";
    mark.textContent = "rising";
    mark.title = `Also #${item.rank} in Rising (×${item.momentum.toFixed(2)})`;
    tr.dataset.rising = String(item.rank);
    tr.querySelector("td.product").appendChild(mark);
  }
}

// ---- Loading ------------------------------------------------------------------------

// Fills the category choices; keeps the shown category if it is still offered.
async function loadCategories() {
  try {
    const { categories } = await getJSON("categories");
    const select = $("category");
    const chosen = select.value;
    select.replaceChildren(select.options[0]);
    for (const { category } of categories) {
      const option = document.createElement("option");
      option.value = option.textContent = category;
      select.appendChild(option);
    }
    select.value = categories.some((c) => c.category === chosen) ? chosen : "";
  } catch (e) {
    $("status").textContent = `categories: ${e.message}`;
  }
}

async function refresh() {
  const current = ++generation;
  const view = currentView();
  const params = new URLSearchParams({ k: view.k, ranking: view.ranking });
  if (view.category) params.set("category", view.category);
  try {
    const ranking = await getJSON(`trending?${params}`);
    if (current !== generation) return;
    $("window").textContent = `${isoMinute(ranking.window_start)} to ${isoMinute(ranking.window_end)}`;
    $("weights-version").textContent = ranking.weights_version;
    $("age").textContent = `window ended ${Math.max(0, Math.round(ranking.as_of.age_s))} s ago`;
    const status = $("status");
    status.textContent = ranking.as_of.stale ? "This ranking is stale: is the job running?" : "";
    status.className = ranking.as_of.stale ? "stale" : "";
    $("trending").dataset.category = ranking.category || "";
    showRankingKind(ranking.ranking);
    const rows = renderRows(ranking.items);
    await Promise.all([
      fillSparklines(rows, ranking.category, ranking.ranking, current),
      ranking.ranking === "popular" ? markRising(rows, ranking, current) : null]);
  } catch (e) {
    if (current !== generation) return;
    // A category ranked by score may have no rising ranking (yet), and Rising has nothing
    // to compare with until one window of history exists: say it plainly.
    const status = $("status");
    if (e.code === "building_history") {
      showRankingKind(view.ranking);
      status.textContent = "Rising is building history: it compares each product's newest " +
        "slides with the window before them, which has no ranking yet. Popular is ready.";
      status.className = "building";
    } else {
      status.textContent = e.code === "unknown_category" && view.category
        ? `No ${view.ranking} ranking for ${view.category} in the recent windows.` : e.message;
      status.className = "";
    }
    $("trending").querySelector("tbody").replaceChildren();
  }
}

function schedule() {
  clearInterval(timer);
  if ($("live").checked) {
    timer = setInterval(async () => {
      const before = $("category").value;
      await loadCategories();
      // The shown category is no longer ranked: the page falls back to all categories.
      if ($("category").value !== before) writeAddress(false);
      refresh();
    }, REFRESH_MS);
  }
}

// The address is read once the categories are known, so the category can be checked.
async function start() {
  await loadCategories();
  const view = viewFromAddress();
  showView(view);
  writeAddress(false);
  await refresh();
}

function userChanged() {
  writeAddress(true);
  refresh();
}

$("category").addEventListener("change", userChanged);
$("ranking").addEventListener("change", userChanged);
$("k").addEventListener("change", userChanged);
$("live").addEventListener("change", schedule);
// Back and Forward between views the user chose.
window.addEventListener("popstate", () => {
  showView(viewFromAddress());
  writeAddress(false); // a category no longer ranked falls back to all
  refresh();
});
start();
schedule();
