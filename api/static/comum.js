// Mirante dashboard, shared by its pages (Painel: app.js, Operação: operacao.js, Finanças:
// financas.js): the API key of the address fragment, reading the data API, number formats, the SVG
// line and bar charts, tables and KPI cards. Loaded before each page's own script (classic scripts:
// these names are globals of the page). No framework, nothing from another origin.
//
// What a headless test reads after the JS ran: charts get data-state ("ok" | "empty" | "error"),
// data-series-count and data-points; tables data-rows and data-state; KPI cards data-value (a plain
// number) or data-state="empty".
"use strict";

const PAGE_LIMIT = 1000;        // the API's maximum page size
const MAX_PAGES = 200;          // guard against a pagination loop
const MESES = ["jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"];

// ---------------------------------------------------------------- formatting

const fmtInt = new Intl.NumberFormat("pt-BR", { maximumFractionDigits: 0 });
const fmtDec1 = new Intl.NumberFormat("pt-BR", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const fmtBRL = new Intl.NumberFormat("pt-BR", { style: "currency", currency: "BRL" });
const fmtBRL0 = new Intl.NumberFormat("pt-BR", { style: "currency", currency: "BRL", maximumFractionDigits: 0 });
const fmtCompact = new Intl.NumberFormat("pt-BR", { notation: "compact", maximumFractionDigits: 1 });

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const num = (v) => (v === null || v === undefined || v === "" ? null : Number(v));
const fmt = {
  int: (v) => (isNum(v) ? fmtInt.format(v) : "—"),
  brl: (v) => (isNum(v) ? fmtBRL.format(v) : "—"),
  brl0: (v) => (isNum(v) ? fmtBRL0.format(v) : "—"),
  brlCompact: (v) => (isNum(v) ? "R$ " + fmtCompact.format(v) : "—"),
  compact: (v) => (isNum(v) ? fmtCompact.format(v) : "—"),
  pct: (v) => (isNum(v) ? fmtDec1.format(v) + "%" : "—"),
  dias: (v) => (isNum(v) ? fmtDec1.format(v) + " dias" : "—"),
};
const mesLabel = (ano, mes) => `${MESES[mes - 1]}/${String(ano).slice(2)}`;
const pad2 = (n) => String(n).padStart(2, "0");

// ---------------------------------------------------------------- API access

class MissingMart extends Error {
  constructor(mart) {
    super(`o mart ${mart} não está disponível na API`);
    this.mart = mart;
  }
}

// The marts /v1/marts listed for the key (a Set; null: listing unavailable, every mart is tried)
const catalogo = { marts: null };

// kept in this tab's sessionStorage and removed from the address bar; sent on every API request.
const API_KEY = (() => {
  let key = null;
  const found = /(?:^#|&)chave=([^&]+)/.exec(location.hash);
  if (found) key = decodeURIComponent(found[1]);
  try {
    if (key) sessionStorage.setItem("mirante.chave", key);
    else key = sessionStorage.getItem("mirante.chave");
  } catch (err) { /* storage unavailable: the key lives in this page only */ }
  if (found) history.replaceState(null, "", location.pathname + location.search);
  return key;
})();

function apiHeaders() {
  const headers = { Accept: "application/json" };
  if (API_KEY) headers.Authorization = `Bearer ${API_KEY}`;
  return headers;
}

class AuthError extends Error {}

async function listMarts() {
  if (!API_KEY) {
    throw new AuthError("sem chave de API: abra o endereço que `mirante dashboard` imprime (/dashboard#chave=...)");
  }
  let resp;
  try {
    resp = await fetch("/v1/marts", { cache: "no-store", headers: apiHeaders() });
  } catch (err) {
    return null;
  }
  if (resp.status === 401) {
    let detail = "";
    try { detail = (await resp.json()).detail; } catch (err) { /* not JSON */ }
    throw new AuthError(`chave de API recusada (${detail})`);
  }
  try {
    if (!resp.ok) return null;
    const body = await resp.json();
    return new Set((body.data || []).map((m) => m.name));
  } catch (err) {
    return null;
  }
}

function hasMart(name) {
  return catalogo.marts === null || catalogo.marts.has(name);
}

// Every row of a mart for the given filters: pages of PAGE_LIMIT rows, following pagination.next.
async function fetchMart(mart, params = {}) {
  if (!hasMart(mart)) throw new MissingMart(mart);
  let url = new URL(`/v1/${mart}`, location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  url.searchParams.set("limit", PAGE_LIMIT);
  const rows = [];
  for (let page = 0; url && page < MAX_PAGES; page++) {
    const resp = await fetch(url, { cache: "no-store", headers: apiHeaders() });
    if (resp.status === 404 || resp.status === 403) throw new MissingMart(mart);
    if (!resp.ok) {
      let detail = "";
      try { detail = JSON.stringify((await resp.json()).detail); } catch (err) { /* not JSON */ }
      throw new Error(`${mart}: HTTP ${resp.status} ${detail}`);
    }
    const body = await resp.json();
    rows.push(...(body.data || []));
    const next = body.pagination && body.pagination.next;
    // same origin whatever host the API wrote into `next` (127.0.0.1 vs localhost, a proxy...)
    url = next ? new URL(new URL(next, location.href).pathname + new URL(next, location.href).search,
      location.origin) : null;
  }
  return rows;
}


// One JSON document of the API (a route that is not a mart: /v1/operacao, /v1/relatorios), with the
// key; a refusal is an Error whose message says why.
async function fetchJson(path) {
  if (!API_KEY) {
    throw new AuthError("sem chave de API: abra o endereço que `mirante dashboard` imprime (/dashboard#chave=...)");
  }
  const resp = await fetch(path, { cache: "no-store", headers: apiHeaders() });
  if (!resp.ok) {
    let detail = "";
    try { detail = (await resp.json()).detail; } catch (err) { /* not JSON */ }
    if (resp.status === 401) throw new AuthError(`chave de API recusada (${detail})`);
    throw new Error(`HTTP ${resp.status}: ${detail}`);
  }
  return resp.json();
}

// ---------------------------------------------------------------- DOM helpers

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, parent) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function svgText(parent, x, y, text, attrs = {}) {
  const t = svgEl("text", { x, y, ...attrs }, parent);
  t.textContent = text;
  return t;
}

function tooltip(node, text) {
  svgEl("title", {}, node).textContent = text;
}

function markEmpty(box, message, isError = false, quiet = false) {
  box.replaceChildren();
  box.dataset.state = isError ? "error" : "empty";
  if ("table" in box.dataset) box.dataset.rows = "0";
  else {
    box.dataset.seriesCount = "0";
    box.dataset.points = "0";
  }
  if (quiet) return;
  const p = document.createElement("p");
  p.className = "sem-dados";
  p.textContent = (isError ? "Erro: " : "Sem dados: ") + message;
  box.appendChild(p);
}

// A failure in one panel shows in that panel and never breaks the rest of the page.
function showFailure(box, err, quiet = false) {
  if (err instanceof MissingMart) markEmpty(box, err.message, false, quiet);
  else markEmpty(box, err.message || String(err), true, quiet);
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(value)));
  // tops whose quarters (the 4 grid steps) are round numbers
  for (const m of [1, 1.2, 1.6, 2, 2.4, 3.2, 4, 6, 8, 10]) {
    if (m * exp >= value) return m * exp;
  }
  return 10 * exp;
}

// The drawing is as wide as its box (in CSS pixels), so text keeps its size; 640 when unknown.
function chartWidth(box) {
  return Math.max(360, Math.round(box.clientWidth || 640));
}

const PALETA = ["#1f6feb", "#e8590c", "#2f9e44", "#ae3ec9", "#c92a2a"];

// Axes and horizontal grid shared by every chart kind (y from minY, 0 by default, to maxY); returns
// the y scale.
function drawFrame(svg, geo, maxY, yFormat, minY = 0) {
  const { w, h, m } = geo;
  const y = (v) => m.top + (h - m.top - m.bottom) * (1 - (v - minY) / (maxY - minY));
  const ticks = 4;
  for (let i = 0; i <= ticks; i++) {
    const v = minY + ((maxY - minY) * i) / ticks;
    svgEl("line", { x1: m.left, x2: w - m.right, y1: y(v), y2: y(v), class: "grade-linha" }, svg);
    svgText(svg, m.left - 6, y(v) + 4, yFormat(v), { class: "eixo", "text-anchor": "end" });
  }
  const zero = y(Math.min(Math.max(0, minY), maxY));  // the zero line, or the bottom when 0 is not shown
  svgEl("line", { x1: m.left, x2: w - m.right, y1: zero, y2: zero, class: "eixo-linha" }, svg);
  return y;
}

// Line chart: labels on x, one or more series of numbers (null = no value) on a shared y axis.
function lineChart(box, { labels, series, yFormat = fmt.compact, tipFormat = yFormat }) {
  const points = series.reduce((n, s) => n + s.values.filter(isNum).length, 0);
  if (!labels.length || points === 0) return markEmpty(box, "nenhum valor para os filtros escolhidos");
  const geo = { w: chartWidth(box), h: 260, m: { top: 16, right: 16, bottom: 34, left: 70 } };
  const { w, h, m } = geo;
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", class: "svg-grafico" });
  const maxY = niceMax(Math.max(...series.flatMap((s) => s.values.filter(isNum))));
  const y = drawFrame(svg, geo, maxY, yFormat);
  const step = labels.length > 1 ? (w - m.left - m.right) / (labels.length - 1) : 0;
  const x = (i) => (labels.length > 1 ? m.left + i * step : (m.left + w - m.right) / 2);
  const every = Math.max(1, Math.ceil(labels.length / 12));
  labels.forEach((label, i) => {
    if (i % every === 0 || i === labels.length - 1) {
      svgText(svg, x(i), h - m.bottom + 16, label, { class: "eixo", "text-anchor": "middle" });
    }
  });
  series.forEach((s, si) => {
    const color = s.color || PALETA[si % PALETA.length];
    const g = svgEl("g", { class: "serie", "data-series": s.name, "data-points": s.values.filter(isNum).length }, svg);
    let d = "";
    s.values.forEach((v, i) => {
      if (!isNum(v)) return;
      d += (d && isNum(s.values[i - 1]) ? "L" : "M") + x(i).toFixed(1) + "," + y(v).toFixed(1);
    });
    svgEl("path", { d, fill: "none", stroke: color, "stroke-width": 2 }, g);
    s.values.forEach((v, i) => {
      if (!isNum(v)) return;
      const c = svgEl("circle", { cx: x(i), cy: y(v), r: labels.length > 40 ? 1.8 : 3.2, fill: color,
        class: "ponto", "data-value": v }, g);
      tooltip(c, `${s.name} — ${labels[i]}: ${tipFormat(v)}`);
    });
  });
  finishChart(box, svg, series, points);
}

// Grouped vertical bars: one group per category, one bar per series; `highlight` marks a category.
function barChart(box, { categories, series, yFormat = fmt.compact, tipFormat = yFormat, highlight = null,
  maxY = null }) {
  const points = series.reduce((n, s) => n + s.values.filter(isNum).length, 0);
  if (!categories.length || points === 0) return markEmpty(box, "nenhum valor para os filtros escolhidos");
  const geo = { w: chartWidth(box), h: 260, m: { top: 16, right: 12, bottom: 34, left: 70 } };
  const { w, h, m } = geo;
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", class: "svg-grafico" });
  const top = maxY || niceMax(Math.max(...series.flatMap((s) => s.values.filter(isNum))));
  const y = drawFrame(svg, geo, top, yFormat);
  const band = (w - m.left - m.right) / categories.length;
  const barW = Math.max(2, (band * 0.8) / series.length);
  categories.forEach((cat, ci) => {
    const gx = m.left + ci * band + band * 0.1;
    if (cat === highlight) {
      svgEl("rect", { x: m.left + ci * band, y: m.top, width: band, height: h - m.top - m.bottom,
        class: "destaque-fundo" }, svg);
    }
    svgText(svg, gx + (barW * series.length) / 2, h - m.bottom + 16, cat,
      { class: "eixo" + (cat === highlight ? " destaque" : ""), "text-anchor": "middle" });
  });
  series.forEach((s, si) => {
    const color = s.color || PALETA[si % PALETA.length];
    const g = svgEl("g", { class: "serie", "data-series": s.name, "data-points": s.values.filter(isNum).length }, svg);
    s.values.forEach((v, ci) => {
      if (!isNum(v)) return;
      const bx = m.left + ci * band + band * 0.1 + si * barW;
      const r = svgEl("rect", { x: bx.toFixed(1), y: y(Math.max(v, 0)).toFixed(1), width: barW.toFixed(1),
        height: Math.max(0, y(0) - y(Math.max(v, 0))).toFixed(1), fill: color, class: "barra",
        "data-category": categories[ci], "data-value": v }, g);
      tooltip(r, `${s.name} — ${categories[ci]}: ${tipFormat(v)}`);
    });
  });
  finishChart(box, svg, series, points);
}

function finishChart(box, svg, series, points) {
  box.replaceChildren(svg);
  if (series.length > 1) {
    const legend = document.createElement("div");
    legend.className = "legenda";
    series.forEach((s, si) => {
      const item = document.createElement("span");
      item.innerHTML = `<i style="background:${s.color || PALETA[si % PALETA.length]}"></i>`;
      item.appendChild(document.createTextNode(s.name));
      legend.appendChild(item);
    });
    box.appendChild(legend);
  }
  box.dataset.state = "ok";
  box.dataset.seriesCount = String(series.length);
  box.dataset.points = String(points);
}

// A table: columns [{label, cell(row) -> text, num}]; `mark(row, tr)` sets a row's classes and data;
// without rows, `empty` in a .sem-dados paragraph (data-state "empty"). A row marked "destaque" in a
// scrolling box is brought into view.
function table(box, columns, rows, mark = () => {}, empty = "Sem dados: nenhuma linha para os filtros escolhidos") {
  box.replaceChildren();
  box.dataset.rows = String(rows.length);
  if (!rows.length) {
    box.dataset.state = "empty";
    const p = document.createElement("p");
    p.className = "sem-dados";
    p.textContent = empty;
    box.appendChild(p);
    return;
  }
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const c of columns) {
    const th = document.createElement("th");
    th.textContent = c.label;
    if (c.num) th.className = "num";
    head.appendChild(th);
  }
  const body = t.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    mark(row, tr);
    for (const c of columns) {
      const td = tr.insertCell();
      td.textContent = c.cell(row);
      if (c.num) td.className = "num";
    }
  }
  box.appendChild(t);
  box.dataset.state = "ok";
  const marked = t.querySelector("tr.destaque");  // bring the highlighted row into the scroll view
  if (marked) box.scrollTop = Math.max(0, marked.offsetTop - box.clientHeight / 2);
}

// A KPI card: `format(value)` shown, the value (2 decimals) in data-value; `alerta` paints it red.
function setKpi(name, value, format, alerta = false) {
  const card = document.querySelector(`[data-kpi="${name}"]`);
  if (!card) return;
  const out = card.querySelector(".valor");
  if (isNum(value)) {
    card.dataset.state = "ok";
    card.dataset.value = String(Math.round(value * 100) / 100);
    out.textContent = format(value);
    out.title = String(Math.round(value * 100) / 100).replace(".", ",");
    card.classList.toggle("alerta", !!alerta);
  } else {
    card.dataset.state = "empty";
    delete card.dataset.value;
    out.textContent = "sem dados";
    out.removeAttribute("title");
    card.classList.remove("alerta");
  }
}
