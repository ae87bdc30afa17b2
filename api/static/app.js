// The live trends page: polls the API and renders the top-k table with sparklines.
// Plain JS against the JSON API; no framework and no build step.
"use strict";

const REFRESH_MS = 5000;
const SPARK_WINDOWS = 30;
const SPARK_W = 120;
const SPARK_H = 24;

const $ = (id) => document.getElementById(id);
let timer = null;
let generation = 0; // ignores answers to requests made before the last change

async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new Error(`${error.code || response.status}: ${error.message || "request failed"}`);
  }
  return body;
}

function isoMinute(ms) {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function sparkline(windows) {
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", SPARK_W);
  svg.setAttribute("height", SPARK_H);
  svg.setAttribute("viewBox", `0 0 ${SPARK_W} ${SPARK_H}`);
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
  const line = document.createElementNS(svgNS, "polyline");
  line.setAttribute("points", points.map((p) => p.map((v) => v.toFixed(1)).join(",")).join(" "));
  svg.appendChild(line);
  const [x, y] = points[points.length - 1];
  const dot = document.createElementNS(svgNS, "circle");
  dot.setAttribute("cx", x.toFixed(1));
  dot.setAttribute("cy", y.toFixed(1));
  dot.setAttribute("r", "2");
  svg.appendChild(dot);
  svg.dataset.points = String(windows.length);
  return svg;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderRows(items) {
  const tbody = $("trending").querySelector("tbody");
  const rows = items.map((item) => {
    const tr = document.createElement("tr");
    tr.dataset.productId = item.product_id;
    tr.append(cell(item.rank, "rank"), cell(item.product_id, "product"),
              cell(item.score.toFixed(2), "score"), cell(item.clicks), cell(item.carts),
              cell(item.purchases));
    const spark = cell("", "spark");
    tr.appendChild(spark);
    return tr;
  });
  tbody.replaceChildren(...rows);
  return rows;
}

// Each product's history in the ranking shown: overall, or the selected category's.
async function fillSparklines(rows, category, current) {
  await Promise.all(rows.map(async (tr) => {
    const params = new URLSearchParams({ windows: SPARK_WINDOWS });
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
  const params = new URLSearchParams({ k: $("k").value });
  if ($("category").value) params.set("category", $("category").value);
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
    const rows = renderRows(ranking.items);
    await fillSparklines(rows, ranking.category, current);
  } catch (e) {
    if (current !== generation) return;
    $("status").textContent = e.message;
    $("status").className = "";
    $("trending").querySelector("tbody").replaceChildren();
  }
}

function schedule() {
  clearInterval(timer);
  if ($("live").checked) {
    timer = setInterval(() => { loadCategories(); refresh(); }, REFRESH_MS);
  }
}

$("category").addEventListener("change", refresh);
$("k").addEventListener("change", refresh);
$("live").addEventListener("change", schedule);
loadCategories().then(refresh);
schedule();
