// Mirante, Finanças page: the cash position (latest balance of every account), the balance forecast
// with its band, revenue per month nominal and deflated by the IPCA, and the monthly reports, read
// from the finance marts and GET /v1/relatorios with the shared helpers of comum.js (loaded first).
//
// Data attributes a headless test reads after the JS ran, besides comum.js's: position rows carry
// data-id-conta and data-saldo (the total row data-total); the forecast chart data-realizado,
// data-previsto and data-faixa (points of each) and data-metodo; report rows data-mes, their links
// data-tipo / data-formato. <body> gets data-state, data-refresh-ms, data-refresh-count and
// data-page-height like the other pages.
"use strict";

const REFRESH_MS = 60000;
// days of realized balance drawn before the forecast
const HISTORICO_DIAS = 90;
const NOMES_TIPO = { dre: "DRE", fluxo_caixa: "Fluxo de caixa" };

const dataBr = (iso) => String(iso).slice(0, 10).split("-").reverse().join("/");
const mesDe = (iso) => mesLabel(Number(String(iso).slice(0, 4)), Number(String(iso).slice(5, 7)));
const somaDias = (iso, dias) => {
  const d = new Date(`${String(iso).slice(0, 10)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + dias);
  return d.toISOString().slice(0, 10);
};

// ---------------------------------------------------------------- cash position

// The latest balance of every account (the mart's last day) and their total.
function drawPosition(fluxo) {
  const box = document.querySelector('[data-table="posicao-caixa"]');
  const ultimo = fluxo.reduce((m, r) => (String(r.data) > m ? String(r.data) : m), "");
  const contas = fluxo.filter((r) => String(r.data) === ultimo).sort((a, b) => num(a.id_conta) - num(b.id_conta));
  const total = contas.reduce((n, r) => n + num(r.saldo), 0);
  const linhas = contas.length ? [...contas, { total: true, saldo: total }] : [];
  table(box, [
    { label: "Banco", cell: (r) => (r.total ? "Total" : r.nome_banco) },
    { label: "Agência", cell: (r) => (r.total ? "" : r.agencia) },
    { label: "Conta", cell: (r) => (r.total ? "" : r.conta) },
    { label: "Entradas no dia", cell: (r) => (r.total ? "" : fmt.brl(num(r.entradas))), num: true },
    { label: "Saídas no dia", cell: (r) => (r.total ? "" : fmt.brl(num(r.saidas))), num: true },
    { label: "Saldo", cell: (r) => fmt.brl(num(r.saldo)), num: true },
  ], linhas, (r, tr) => {
    if (r.total) {
      tr.className = "total";
      tr.dataset.total = "true";
    } else {
      tr.dataset.idConta = String(r.id_conta);
    }
    tr.dataset.saldo = String(num(r.saldo));
  }, "Sem dados: o mart fct_fluxo_caixa_diario não tem linhas.");
  $("caixa-nota").textContent = ultimo ? `saldo de fechamento de cada conta em ${dataBr(ultimo)}` : "";
  setKpi("saldo_total", contas.length ? total : null, fmt.brl0);
  return ultimo;
}

// ---------------------------------------------------------------- forecast

// Realized total balance (line), forecast (dashed line) and its band (limite_inferior..superior) on
// one time axis.
function drawForecast(box, historico, previsao) {
  const labels = [...historico.map((r) => r.data), ...previsao.map((r) => String(r.data))];
  const pontos = historico.length + previsao.length;
  if (!pontos) return markEmpty(box, "sem saldo realizado nem previsão");
  const valores = [
    ...historico.map((r) => r.saldo),
    ...previsao.flatMap((r) => [num(r.saldo_previsto), num(r.limite_inferior), num(r.limite_superior)]),
  ].filter(isNum);
  const lo = Math.min(...valores), hi = Math.max(...valores);
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
  const minY = lo >= 0 && lo - pad < 0 ? 0 : lo - pad;
  const maxY = hi + pad;
  const geo = { w: chartWidth(box), h: 300, m: { top: 16, right: 16, bottom: 34, left: 84 } };
  const { w, h, m } = geo;
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", class: "svg-grafico" });
  const y = drawFrame(svg, geo, maxY, fmt.brlCompact, minY);
  const step = labels.length > 1 ? (w - m.left - m.right) / (labels.length - 1) : 0;
  const x = (i) => m.left + i * step;
  const every = Math.max(1, Math.ceil(labels.length / 10));
  labels.forEach((label, i) => {
    if (i % every === 0 || i === labels.length - 1) {
      svgText(svg, x(i), h - m.bottom + 16, dataBr(label).slice(0, 5), { class: "eixo", "text-anchor": "middle" });
    }
  });
  const p0 = historico.length;  // index of the first forecast day
  const faixa = previsao.filter((r) => isNum(num(r.limite_inferior)) && isNum(num(r.limite_superior)));
  if (faixa.length) {
    const idx = (r) => p0 + previsao.indexOf(r);
    const topo = faixa.map((r) => `${x(idx(r)).toFixed(1)},${y(num(r.limite_superior)).toFixed(1)}`);
    const base = faixa.slice().reverse().map((r) => `${x(idx(r)).toFixed(1)},${y(num(r.limite_inferior)).toFixed(1)}`);
    const band = svgEl("polygon", { points: [...topo, ...base].join(" "), class: "faixa", fill: "#1f6feb",
      "fill-opacity": 0.15, stroke: "none", "data-points": faixa.length }, svg);
    tooltip(band, "Faixa da previsão (limite inferior a superior)");
  }
  if (p0 && previsao.length) {  // where the forecast starts
    svgEl("line", { x1: x(p0 - 1), x2: x(p0 - 1), y1: m.top, y2: h - m.bottom, class: "grade-linha",
      "stroke-dasharray": "3 3", stroke: "#9aa5b1" }, svg);
  }
  const linha = (rows, offset, valor, attrs, nome) => {
    let d = "";
    rows.forEach((r, i) => {
      const v = valor(r);
      if (isNum(v)) d += (d ? "L" : "M") + x(offset + i).toFixed(1) + "," + y(v).toFixed(1);
    });
    const g = svgEl("g", { class: "serie", "data-series": nome, "data-points": rows.filter((r) => isNum(valor(r))).length }, svg);
    svgEl("path", { d, fill: "none", "stroke-width": 2, ...attrs }, g);
    rows.forEach((r, i) => {
      const v = valor(r);
      if (!isNum(v)) return;
      const c = svgEl("circle", { cx: x(offset + i), cy: y(v), r: 1.6, fill: attrs.stroke, class: "ponto", "data-value": v }, g);
      tooltip(c, `${nome} — ${dataBr(r.data)}: ${fmt.brl(v)}`);
    });
  };
  // the forecast line starts at the last realized day, so the two lines join
  const ponte = historico.length ? [{ data: historico[p0 - 1].data, saldo_previsto: historico[p0 - 1].saldo }] : [];
  linha(historico, 0, (r) => r.saldo, { stroke: "#16324f" }, "Saldo realizado");
  linha([...ponte, ...previsao], p0 - ponte.length, (r) => num(r.saldo_previsto),
    { stroke: "#1f6feb", "stroke-dasharray": "5 3" }, "Saldo previsto");
  box.replaceChildren(svg);
  const legenda = document.createElement("div");
  legenda.className = "legenda";
  legenda.innerHTML = '<span><i style="background:#16324f"></i>Saldo realizado</span>'
    + '<span><i style="background:#1f6feb"></i>Saldo previsto</span>'
    + '<span><i style="background:rgba(31,111,235,0.15)"></i>Faixa da previsão</span>';
  box.appendChild(legenda);
  box.dataset.state = "ok";
  box.dataset.seriesCount = "2";
  box.dataset.points = String(pontos);
  box.dataset.realizado = String(historico.length);
  box.dataset.previsto = String(previsao.filter((r) => isNum(num(r.saldo_previsto))).length);
  box.dataset.faixa = String(faixa.length);
}

async function refreshForecast(fluxo) {
  const box = $("grafico-previsao");
  const previsao = (await fetchMart("fct_previsao_fluxo_caixa"))
    .sort((a, b) => String(a.data).localeCompare(String(b.data)));
  // realized total balance per day, the last HISTORICO_DIAS days
  const porDia = new Map();
  for (const r of fluxo) porDia.set(String(r.data), (porDia.get(String(r.data)) || 0) + num(r.saldo));
  const historico = [...porDia.entries()].sort((a, b) => a[0].localeCompare(b[0]))
    .slice(-HISTORICO_DIAS).map(([data, saldo]) => ({ data, saldo }));
  drawForecast(box, historico, previsao);
  const ultimo = previsao[previsao.length - 1];
  setKpi("saldo_previsto", ultimo ? num(ultimo.saldo_previsto) : null, fmt.brl0);
  if (ultimo) {
    box.dataset.metodo = ultimo.metodo || "";
    const mape = num(ultimo.erro_backtest_mape);
    $("previsao-nota").textContent = `${previsao.length} dias a partir de ${dataBr(previsao[0].data)}`
      + ` · método ${ultimo.metodo}` + (isNum(mape) ? ` · erro no backtest (MAPE) ${fmt.pct(mape * 100)}` : "")
      + ` · previsto para ${dataBr(ultimo.data)}: ${fmt.brl(num(ultimo.saldo_previsto))}`
      + ` (${fmt.brl(num(ultimo.limite_inferior))} a ${fmt.brl(num(ultimo.limite_superior))})`;
  } else {
    $("previsao-nota").textContent = "";
  }
}

// ---------------------------------------------------------------- revenue, nominal and real

async function refreshRevenue() {
  const rows = (await fetchMart("agg_indicadores_financeiros_mes"))
    .sort((a, b) => String(a.mes).localeCompare(String(b.mes)));
  lineChart($("grafico-receita-real"), {
    labels: rows.map((r) => mesDe(r.mes)),
    series: [
      { name: "Receita nominal", values: rows.map((r) => num(r.receita)), color: "#e8590c" },
      { name: "Receita real (IPCA)", values: rows.map((r) => num(r.receita_real)), color: "#2f9e44" },
    ],
    yFormat: fmt.brlCompact, tipFormat: fmt.brl,
  });
  const ultimo = rows[rows.length - 1];
  $("receita-nota").textContent = ultimo
    ? `valores reais em reais de ${MESES[Number(String(ultimo.mes).slice(5, 7)) - 1]}/${String(ultimo.mes).slice(0, 4)}`
    : "";
  table(document.querySelector('[data-table="indicadores"]'), [
    { label: "Mês", cell: (r) => mesDe(r.mes) },
    { label: "Receita", cell: (r) => fmt.brl(num(r.receita)), num: true },
    { label: "Receita real", cell: (r) => fmt.brl(num(r.receita_real)), num: true },
    { label: "Índice IPCA", cell: (r) => (isNum(num(r.ipca_indice)) ? num(r.ipca_indice).toLocaleString("pt-BR", { maximumFractionDigits: 4 }) : "—"), num: true },
    { label: "Despesas", cell: (r) => fmt.brl(num(r.despesas)), num: true },
    { label: "Resultado", cell: (r) => fmt.brl(num(r.resultado)), num: true },
    { label: "Margem", cell: (r) => (isNum(num(r.margem)) ? fmt.pct(num(r.margem) * 100) : "—"), num: true },
    { label: "Inadimplência", cell: (r) => (isNum(num(r.taxa_inadimplencia)) ? fmt.pct(num(r.taxa_inadimplencia) * 100) : "—"), num: true },
  ], [...rows].reverse(), (r, tr) => { tr.dataset.mes = String(r.mes).slice(0, 7); });
  setKpi("receita_mes", ultimo ? num(ultimo.receita) : null, fmt.brl0);
  setKpi("receita_real_mes", ultimo ? num(ultimo.receita_real) : null, fmt.brl0);
  setKpi("resultado_mes", ultimo ? num(ultimo.resultado) : null, fmt.brl0, ultimo && num(ultimo.resultado) < 0);
}

// ---------------------------------------------------------------- monthly reports

// One row per month (latest first), a link per report and format. A link downloads the file with the
// API key (fetch + blob): a plain link would send no Authorization header.
function drawReports(lista) {
  const box = document.querySelector('[data-table="relatorios"]');
  const porMes = new Map();
  for (const r of lista) {
    if (!porMes.has(r.mes)) porMes.set(r.mes, []);
    porMes.get(r.mes).push(r);
  }
  const meses = [...porMes.keys()].sort().reverse();
  const link = (rel) => {
    const a = document.createElement("a");
    a.href = rel.url;
    a.className = "baixar";
    a.textContent = rel.formato.toUpperCase();
    a.dataset.tipo = rel.tipo;
    a.dataset.formato = rel.formato;
    a.dataset.arquivo = `${rel.tipo}_${rel.mes}.${rel.formato}`;
    a.title = `${NOMES_TIPO[rel.tipo] || rel.tipo} de ${rel.mes}, versão ${rel.versao}, sha256 ${rel.sha256}`;
    return a;
  };
  table(box, [
    { label: "Mês", cell: (mes) => mesDe(mes) },
    { label: "DRE", cell: () => "" },
    { label: "Fluxo de caixa", cell: () => "" },
    { label: "Gerado em", cell: (mes) => porMes.get(mes).map((r) => r.gerado_em).sort().reverse()[0]
      .replace("T", " ").slice(0, 16) + " UTC" },
  ], meses, (mes, tr) => { tr.dataset.mes = mes; },
  "Nenhum relatório gerado ainda: o Dagster gera os do mês anterior no dia 1º (ativo relatorios/financeiro_mensal).");
  for (const tr of box.querySelectorAll("tr[data-mes]")) {
    const rels = porMes.get(tr.dataset.mes);
    ["dre", "fluxo_caixa"].forEach((tipo, i) => {
      const cell = tr.cells[1 + i];
      rels.filter((r) => r.tipo === tipo).sort((a, b) => a.formato.localeCompare(b.formato))
        .forEach((r, j) => {
          if (j) cell.appendChild(document.createTextNode(" · "));
          cell.appendChild(link(r));
        });
    });
  }
}

async function baixar(a) {
  const erro = $("erro-download");
  try {
    const resp = await fetch(a.getAttribute("href"), { headers: { Authorization: `Bearer ${API_KEY}` } });
    if (!resp.ok) {
      let detail = "";
      try { detail = (await resp.json()).detail; } catch (err) { /* not JSON */ }
      throw new Error(`HTTP ${resp.status}: ${detail}`);
    }
    const url = URL.createObjectURL(await resp.blob());
    const tmp = document.createElement("a");
    tmp.href = url;
    tmp.download = a.dataset.arquivo;
    document.body.appendChild(tmp);
    tmp.click();
    tmp.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    erro.hidden = true;
  } catch (err) {
    erro.hidden = false;
    erro.textContent = `Falha ao baixar ${a.dataset.arquivo}: ${err.message || String(err)}`;
  }
}

// ---------------------------------------------------------------- refresh loop

let refreshes = 0;

async function refresh() {
  document.body.dataset.state = "loading";
  const erro = $("erro-geral");
  try {
    catalogo.marts = await listMarts();
    let fluxo = [];
    try {
      // the last days of every account: enough for the position and the realized balance
      const ultimo = (await fetchMart("fct_previsao_fluxo_caixa").catch(() => []))[0];
      fluxo = await fetchMart("fct_fluxo_caixa_diario",
        ultimo ? { data_inicio: somaDias(ultimo.gerado_em, -(HISTORICO_DIAS + 7)) } : {});
      drawPosition(fluxo);
    } catch (err) {
      showFailure(document.querySelector('[data-table="posicao-caixa"]'), err);
      setKpi("saldo_total", null, fmt.brl);
    }
    await Promise.all([
      refreshForecast(fluxo).catch((err) => {
        showFailure($("grafico-previsao"), err);
        setKpi("saldo_previsto", null, fmt.brl);
      }),
      refreshRevenue().catch((err) => {
        showFailure($("grafico-receita-real"), err);
        showFailure(document.querySelector('[data-table="indicadores"]'), err, true);
        for (const k of ["receita_mes", "receita_real_mes", "resultado_mes"]) setKpi(k, null, fmt.brl);
      }),
      fetchJson("/v1/relatorios").then((body) => drawReports(body.data || []))
        .catch((err) => showFailure(document.querySelector('[data-table="relatorios"]'), err)),
    ]);
    erro.hidden = true;
  } catch (err) {
    erro.hidden = false;
    erro.textContent = "Falha ao atualizar: " + (err.message || String(err));
  }
  const agora = new Date();
  const t = $("ultima-atualizacao");
  t.textContent = agora.toLocaleTimeString("pt-BR");
  t.dateTime = agora.toISOString();
  document.body.dataset.pageHeight = String(Math.ceil(document.documentElement.scrollHeight));
  refreshes += 1;
  document.body.dataset.refreshCount = String(refreshes);
  document.body.dataset.state = "ready";
}

document.body.dataset.refreshMs = String(REFRESH_MS);
$("intervalo-atualizacao").textContent = `atualiza a cada ${REFRESH_MS / 1000} s`;
document.querySelector('[data-table="relatorios"]').addEventListener("click", (ev) => {
  const a = ev.target.closest("a.baixar");
  if (!a) return;
  ev.preventDefault();
  baixar(a);
});
refresh();
setInterval(refresh, REFRESH_MS);
