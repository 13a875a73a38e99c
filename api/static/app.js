// Mirante dashboard, Painel page: reads the sales and sanitation marts through the data API (/v1/...)
// and draws small SVG charts with the shared helpers of comum.js (loaded first). No framework and no
// network beyond the page's own origin: the machine may be offline.
//
// Charts, tables and KPI cards carry the data attributes comum.js describes; <body> gets data-state
// ("loading", "ready") and data-refresh-ms (REFRESH_MS).
"use strict";

const REFRESH_MS = 60000;       // the page refreshes its data every minute

const UFS = [
  ["AC", "Acre"], ["AL", "Alagoas"], ["AP", "Amapá"], ["AM", "Amazonas"], ["BA", "Bahia"],
  ["CE", "Ceará"], ["DF", "Distrito Federal"], ["ES", "Espírito Santo"], ["GO", "Goiás"],
  ["MA", "Maranhão"], ["MT", "Mato Grosso"], ["MS", "Mato Grosso do Sul"], ["MG", "Minas Gerais"],
  ["PA", "Pará"], ["PB", "Paraíba"], ["PR", "Paraná"], ["PE", "Pernambuco"], ["PI", "Piauí"],
  ["RJ", "Rio de Janeiro"], ["RN", "Rio Grande do Norte"], ["RS", "Rio Grande do Sul"],
  ["RO", "Rondônia"], ["RR", "Roraima"], ["SC", "Santa Catarina"], ["SP", "São Paulo"],
  ["SE", "Sergipe"], ["TO", "Tocantins"],
];

const state = {
  generation: 0,      // bumps on every refresh; stale results are dropped
  refreshes: 0,
};


// Columns [{key, label, format}] of mart rows: the shared table(), numeric cells formatted, rows for
// which `highlight(row)` holds marked.
function martTable(box, columns, rows, highlight = () => false) {
  table(box, columns.map((c) => ({
    label: c.label,
    num: !!c.format,
    cell: (r) => (c.format ? c.format(num(r[c.key])) : (r[c.key] ?? "—")),
  })), rows, (r, tr) => { if (highlight(r)) tr.className = "destaque"; });
}

// ---------------------------------------------------------------- filters

// Options of a select, keeping the wanted (or current) value when it is still offered, else the last
// option (the latest period) on the first fill.
function fillSelect(select, options, wanted) {
  const current = wanted ?? (select.options.length ? select.value : null);
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
  const values = options.map(([value]) => String(value));
  select.value = values.includes(String(current)) ? String(current) : (values[values.length - 1] ?? "");
  select.disabled = options.length === 0;
}

function filters() {
  return {
    uf: $("filtro-uf").value,
    ano: $("filtro-ano").value,
    mes: $("filtro-mes").value,
    anoSaneamento: $("filtro-ano-saneamento").value,
  };
}

// The filters live in the address too (?uf=SP&ano=2025&mes=6&ano_saneamento=2021): links and reloads
// keep them.
function saveFiltersToUrl() {
  const f = filters();
  const params = new URLSearchParams();
  if (f.uf) params.set("uf", f.uf);
  if (f.ano) params.set("ano", f.ano);
  if (f.mes) params.set("mes", f.mes);
  if (f.anoSaneamento) params.set("ano_saneamento", f.anoSaneamento);
  // the effective filters, readable in a DOM dump (a select's value is not an attribute)
  Object.assign($("filtros").dataset, { uf: f.uf || "BR", ano: f.ano, mes: f.mes, anoSaneamento: f.anoSaneamento });
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

function initialFilters() {
  const q = new URLSearchParams(location.search);
  const uf = (q.get("uf") || "").toUpperCase();
  fillSelect($("filtro-uf"), [["", "Brasil"], ...UFS.map(([s, n]) => [s, `${s} — ${n}`])],
    UFS.some(([s]) => s === uf) ? uf : "");
  $("filtro-ano").dataset.wanted = q.get("ano") || "";
  $("filtro-mes").dataset.wanted = q.get("mes") || "";
  $("filtro-ano-saneamento").dataset.wanted = q.get("ano_saneamento") || "";
}

// Year and month options come from the data (the months present in vendas_ano_mes, the years in
// agg_saneamento_brasil_ano); the latest period is the default.
async function refreshOptions() {
  const anoSel = $("filtro-ano"), mesSel = $("filtro-mes"), sanSel = $("filtro-ano-saneamento");
  let periodos = [];
  try { periodos = await fetchMart("vendas_ano_mes"); } catch (err) { periodos = []; }
  const anos = [...new Set(periodos.map((r) => num(r.ano)))].sort((a, b) => a - b);
  fillSelect(anoSel, anos.map((a) => [String(a), String(a)]), anoSel.dataset.wanted || null);
  anoSel.dataset.wanted = "";
  const ano = num(anoSel.value);
  const meses = periodos.filter((r) => num(r.ano) === ano).map((r) => num(r.mes)).sort((a, b) => a - b);
  fillSelect(mesSel, [["", "Ano todo"], ...meses.map((m) => [String(m), `${pad2(m)} — ${MESES[m - 1]}`])],
    mesSel.dataset.wanted || null);
  mesSel.dataset.wanted = "";

  let anosSan = [];
  try {
    anosSan = (await fetchMart("agg_saneamento_brasil_ano")).map((r) => num(r.ano));
  } catch (err) {
    anosSan = [];
  }
  anosSan = [...new Set(anosSan)].sort((a, b) => a - b);
  fillSelect(sanSel, anosSan.map((a) => [String(a), String(a)]), sanSel.dataset.wanted || null);
  sanSel.dataset.wanted = "";
}

// ---------------------------------------------------------------- Vendas

function sumBy(rows, key, fields) {
  const out = new Map();
  for (const r of rows) {
    const k = r[key];
    const acc = out.get(k) || Object.fromEntries(fields.map((f) => [f, 0]));
    for (const f of fields) acc[f] += num(r[f]) || 0;
    out.set(k, acc);
  }
  return out;
}

function monthRange(ano, mes) {
  if (!ano) return {};
  if (!mes) return { data_inicio: `${ano}-01-01`, data_fim: `${ano}-12-31` };
  const last = new Date(Date.UTC(Number(ano), Number(mes), 0)).getUTCDate();
  return { data_inicio: `${ano}-${pad2(mes)}-01`, data_fim: `${ano}-${pad2(mes)}-${pad2(last)}` };
}

async function vendasReceitaMes(f) {
  const box = $("grafico-receita-mes");
  const rows = f.uf
    ? await fetchMart("vendas_uf", { sigla_uf: f.uf, ano: f.ano })
    : await fetchMart("vendas_ano_mes", { ano: f.ano });
  rows.sort((a, b) => num(a.ano) - num(b.ano) || num(a.mes) - num(b.mes));
  $("titulo-receita-mes").textContent = `Receita por mês — ${f.uf || "Brasil"}, ${f.ano || "todos os anos"}`;
  lineChart(box, {
    labels: rows.map((r) => mesLabel(num(r.ano), num(r.mes))),
    series: [{ name: "Receita", values: rows.map((r) => num(r.receita)) }],
    yFormat: fmt.brlCompact, tipFormat: fmt.brl,
  });
  return rows;
}

async function vendasReceitaUf(f) {
  const rows = await fetchMart("vendas_uf", { ano: f.ano, mes: f.mes });
  const porUf = sumBy(rows, "sigla_uf", ["receita", "pedidos"]);
  const ordem = [...porUf.entries()].sort((a, b) => b[1].receita - a[1].receita);
  $("titulo-receita-uf").textContent = `Receita por UF — ${periodoLabel(f)}`;
  barChart($("grafico-receita-uf"), {
    categories: ordem.map(([uf]) => uf),
    series: [{ name: "Receita", values: ordem.map(([, v]) => v.receita) }],
    yFormat: fmt.brlCompact, tipFormat: fmt.brl, highlight: f.uf || null,
  });
}

async function vendasModalidade(f) {
  const rows = await fetchMart("vendas_modalidade", { ano: f.ano, mes: f.mes });
  const porMod = sumBy(rows, "modalidade", ["receita", "pedidos", "itens"]);
  const ordem = [...porMod.entries()].sort((a, b) => b[1].receita - a[1].receita);
  $("titulo-modalidade").textContent = `Receita por modalidade (Brasil) — ${periodoLabel(f)}`;
  barChart($("grafico-modalidade"), {
    categories: ordem.map(([m]) => m),
    series: [{ name: "Receita", values: ordem.map(([, v]) => v.receita) }],
    yFormat: fmt.brlCompact, tipFormat: fmt.brl,
  });
  martTable($("tabela-modalidade"), [
    { key: "modalidade", label: "Modalidade" },
    { key: "receita", label: "Receita", format: fmt.brl },
    { key: "pedidos", label: "Pedidos", format: fmt.int },
    { key: "itens", label: "Itens", format: fmt.int },
    { key: "ticket_medio", label: "Ticket médio", format: fmt.brl },
  ], ordem.map(([modalidade, v]) => ({ modalidade, ...v, ticket_medio: v.pedidos ? v.receita / v.pedidos : null })));
}

// KPI cards of the chosen period from the daily mart: counts and revenue are summed; the rates are
// recomputed from the sums (conversion = won / (won + lost)), and the averages weighted by deals won.
async function vendasKpis(f, receitaMes) {
  const rows = await fetchMart("kpi_comercial_diario", monthRange(f.ano, f.mes));
  rows.sort((a, b) => String(a.data).localeCompare(String(b.data)));
  const soma = (k) => rows.reduce((n, r) => n + (num(r[k]) || 0), 0);
  const ponderada = (k) => {
    let peso = 0, total = 0;
    for (const r of rows) {
      const v = num(r[k]), w = num(r.negocios_ganhos) || 0;
      if (isNum(v) && w > 0) { total += v * w; peso += w; }
    }
    return peso ? total / peso : null;
  };
  const has = rows.length > 0;
  const ganhos = soma("negocios_ganhos"), perdidos = soma("negocios_perdidos");
  setKpi("leads", has ? soma("leads") : null, fmt.int);
  setKpi("negocios_ganhos", has ? ganhos : null, fmt.int);
  setKpi("negocios_perdidos", has ? perdidos : null, fmt.int);
  setKpi("taxa_conversao", has && ganhos + perdidos > 0 ? (100 * ganhos) / (ganhos + perdidos) : null, fmt.pct);
  setKpi("valor_medio_negocio", has ? ponderada("valor_medio_negocio") : null, fmt.brl0);
  setKpi("ciclo_vendas_dias", has ? ponderada("ciclo_vendas_dias") : null, fmt.dias);
  setKpi("receita", has ? soma("receita") : null, fmt.brl0);
  // average ticket of the orders of the period, for the chosen UF when there is one
  const doPeriodo = receitaMes.filter((r) => !f.mes || num(r.mes) === num(f.mes));
  const receita = doPeriodo.reduce((n, r) => n + (num(r.receita) || 0), 0);
  const pedidos = doPeriodo.reduce((n, r) => n + (num(r.pedidos) || 0), 0);
  setKpi("ticket_medio", pedidos ? receita / pedidos : null, fmt.brl);
  $("kpis-nota").textContent = has
    ? `${periodoLabel(f)}: ${rows.length} dias (${rows[0].data} a ${rows[rows.length - 1].data}). `
      + "Leads, negócios, conversão, ciclo e receita faturada: Brasil (o mart diário não tem UF); "
      + `ticket médio dos pedidos: ${f.uf || "Brasil"}.`
    : "Sem dados de KPIs comerciais para o período escolhido.";

  // one point per day for a month; per month for a longer period
  const porMes = rows.length > 62;
  const grupos = porMes ? [...sumBy(rows.map((r) => ({ ...r, chave: String(r.data).slice(0, 7) })), "chave",
    ["leads", "negocios_ganhos", "negocios_perdidos"]).entries()] : rows.map((r) => [r.data, r]);
  lineChart($("grafico-negocios-dia"), {
    labels: grupos.map(([chave]) => (porMes
      ? mesLabel(Number(chave.slice(0, 4)), Number(chave.slice(5, 7)))
      : String(chave).slice(5).split("-").reverse().join("/"))),
    series: [
      { name: "Leads", values: grupos.map(([, r]) => num(r.leads)) },
      { name: "Ganhos", values: grupos.map(([, r]) => num(r.negocios_ganhos)) },
      { name: "Perdidos", values: grupos.map(([, r]) => num(r.negocios_perdidos)) },
    ],
    yFormat: fmt.int,
  });
  $("grafico-negocios-dia").dataset.grain = porMes ? "mes" : "dia";
  $("titulo-negocios-dia").textContent =
    `Leads e negócios por ${porMes ? "mês" : "dia"} (Brasil) — ${periodoLabel(f)}`;
}

async function vendasMrr() {
  const rows = await fetchMart("receita_recorrente_mensal");
  rows.sort((a, b) => num(a.ano) - num(b.ano) || num(a.mes) - num(b.mes));
  lineChart($("grafico-mrr"), {
    labels: rows.map((r) => mesLabel(num(r.ano), num(r.mes))),
    series: [{ name: "MRR", values: rows.map((r) => num(r.mrr)) }],
    yFormat: fmt.brlCompact, tipFormat: fmt.brl,
  });
  // contracts as a tooltip on each point
  const pontos = $("grafico-mrr").querySelectorAll("circle.ponto");
  pontos.forEach((c, i) => {
    const r = rows.filter((row) => isNum(num(row.mrr)))[i];
    if (r) c.querySelector("title").textContent += ` · ${fmt.int(num(r.contratos_ativos))} contratos ativos`
      + ` (+${fmt.int(num(r.contratos_novos))} / −${fmt.int(num(r.contratos_cancelados))})`;
  });
}

function periodoLabel(f) {
  if (!f.ano) return "todo o período";
  return f.mes ? `${MESES[Number(f.mes) - 1]}/${f.ano}` : `ano ${f.ano}`;
}

async function refreshVendas(f) {
  $("vendas-escopo").textContent = `${f.uf || "Brasil"} · ${periodoLabel(f)}`;
  const tasks = [
    vendasReceitaMes(f).then(
      (rows) => vendasKpis(f, rows).catch((err) => kpiFailure(err)),
      (err) => { showFailure($("grafico-receita-mes"), err); return vendasKpis(f, []).catch(kpiFailure); }),
    vendasReceitaUf(f).catch((err) => showFailure($("grafico-receita-uf"), err)),
    vendasModalidade(f).catch((err) => {
      showFailure($("grafico-modalidade"), err);
      showFailure($("tabela-modalidade"), err, true);  // the chart above says why
    }),
    vendasMrr().catch((err) => showFailure($("grafico-mrr"), err)),
  ];
  await Promise.all(tasks);
}

function kpiFailure(err) {
  for (const card of document.querySelectorAll('[data-kpi-group="comercial"] .kpi')) {
    setKpi(card.dataset.kpi, null, fmt.int);
  }
  $("kpis-nota").textContent = "Sem dados: " + (err.message || String(err));
  showFailure($("grafico-negocios-dia"), err);
}

// ---------------------------------------------------------------- Saneamento

async function refreshSaneamento(f) {
  const ano = f.anoSaneamento;
  $("saneamento-escopo").textContent = `${f.uf || "Brasil"} · ${ano || "sem ano"}`;
  const [porUf, brasil] = await Promise.all([
    fetchMart("agg_saneamento_uf_ano", { ano }).catch((err) => err),
    fetchMart("agg_saneamento_brasil_ano", { ano }).catch((err) => err),
  ]);

  if (porUf instanceof Error) {
    showFailure($("grafico-atendimento-uf"), porUf);
    showFailure($("tabela-saneamento-uf"), porUf);
  } else {
    const rows = [...porUf].sort((a, b) => String(a.sigla_uf).localeCompare(String(b.sigla_uf)));
    barChart($("grafico-atendimento-uf"), {
      categories: rows.map((r) => r.sigla_uf),
      series: [
        { name: "Água", values: rows.map((r) => num(r.indice_atendimento_total_agua)), color: "#1f6feb" },
        { name: "Esgoto", values: rows.map((r) => num(r.indice_atendimento_total_esgoto)), color: "#a0522d" },
      ],
      yFormat: (v) => fmtInt.format(v) + "%", tipFormat: fmt.pct, highlight: f.uf || null, maxY: 100,
    });
    $("titulo-atendimento-uf").textContent =
      `Índice de atendimento total de água e esgoto por UF (%) — ${ano || ""}`;
    martTable($("tabela-saneamento-uf"), [
      { key: "sigla_uf", label: "UF" },
      { key: "quantidade_prestadores", label: "Prestadores", format: fmt.int },
      { key: "populacao_atendida_agua", label: "Pop. atendida água", format: fmt.int },
      { key: "indice_atendimento_total_agua", label: "Água (%)", format: fmt.pct },
      { key: "indice_atendimento_total_esgoto", label: "Esgoto (%)", format: fmt.pct },
      { key: "indice_perda_distribuicao_agua", label: "Perdas (%)", format: fmt.pct },
    ], rows, (r) => r.sigla_uf === f.uf);
  }

  const escolhida = f.uf && !(porUf instanceof Error) ? porUf.find((r) => r.sigla_uf === f.uf) : null;
  const ref = f.uf ? escolhida : (brasil instanceof Error ? null : brasil[0]);
  setKpi("indice_atendimento_total_agua", ref ? num(ref.indice_atendimento_total_agua) : null, fmt.pct);
  setKpi("indice_atendimento_total_esgoto", ref ? num(ref.indice_atendimento_total_esgoto) : null, fmt.pct);
  setKpi("indice_perda_distribuicao_agua", ref ? num(ref.indice_perda_distribuicao_agua) : null, fmt.pct);
  setKpi("quantidade_prestadores", ref ? num(ref.quantidade_prestadores) : null, fmt.int);

  await saneamentoPrestadores(f).catch((err) => showFailure($("tabela-prestadores"), err));
}

// Municipality names (id_municipio -> nome) of a UF, or of the whole country, read once per page
// load (they do not change); empty when dim_municipio is not available: the codes stay.
const nomesMunicipios = new Map();
async function municipios(uf) {
  const chave = uf || "BR";
  if (!nomesMunicipios.has(chave)) {
    try {
      const rows = await fetchMart("dim_municipio", uf ? { sigla_uf: uf } : {});
      nomesMunicipios.set(chave, new Map(rows.map((m) => [m.id_municipio, m.nome])));
    } catch (err) {
      return new Map();
    }
  }
  return nomesMunicipios.get(chave);
}

// The providers with head office in the chosen UF (or the whole country), largest served population
// first, with the name of the head-office municipality.
async function saneamentoPrestadores(f) {
  const box = $("tabela-prestadores");
  const rows = await fetchMart("fct_saneamento_prestador_ano", { ano: f.anoSaneamento, sigla_uf: f.uf });
  const pop = (r) => Math.max(num(r.populacao_atendida_agua) || 0, num(r.populacao_atendida_esgoto) || 0);
  rows.sort((a, b) => pop(b) - pop(a));
  const top = rows.slice(0, 20);
  const nomes = await municipios(f.uf);
  $("titulo-prestadores").textContent =
    `Maiores prestadores — ${f.uf || "Brasil"} (${fmt.int(rows.length)} no total, 20 maiores)`;
  martTable(box, [
    { key: "sigla_prestador", label: "Prestador" },
    { key: "municipio", label: "Sede" },
    { key: "abrangencia", label: "Abrangência" },
    { key: "populacao_atendida_agua", label: "Pop. água", format: fmt.int },
    { key: "indice_atendimento_total_agua", label: "Água (%)", format: fmt.pct },
    { key: "indice_atendimento_total_esgoto", label: "Esgoto (%)", format: fmt.pct },
  ], top.map((r) => ({
    ...r,
    sigla_prestador: r.sigla_prestador || r.nome_prestador,
    municipio: nomes.get(r.id_municipio) ? `${nomes.get(r.id_municipio)} (${r.sigla_uf})` : `${r.id_municipio} (${r.sigla_uf})`,
  })));
}

// ---------------------------------------------------------------- refresh loop

async function refresh() {
  const generation = ++state.generation;
  document.body.dataset.state = "loading";
  const erro = $("erro-geral");
  try {
    catalogo.marts = await listMarts();
    await refreshOptions();
    if (generation !== state.generation) return;
    saveFiltersToUrl();
    const f = filters();
    await Promise.all([refreshVendas(f), refreshSaneamento(f)]);
    erro.hidden = true;
  } catch (err) {
    erro.hidden = false;
    erro.textContent = "Falha ao atualizar: " + (err.message || String(err));
  }
  if (generation !== state.generation) return;
  const agora = new Date();
  const quando = $("ultima-atualizacao");
  quando.textContent = agora.toLocaleTimeString("pt-BR");
  quando.dateTime = agora.toISOString();
  // full height of the page, for a screenshot of all of it
  document.body.dataset.pageHeight = String(Math.ceil(document.documentElement.scrollHeight));
  state.refreshes += 1;
  document.body.dataset.refreshCount = String(state.refreshes);
  document.body.dataset.state = "ready";
}

function start() {
  document.body.dataset.refreshMs = String(REFRESH_MS);
  $("intervalo-atualizacao").textContent = `atualiza a cada ${REFRESH_MS / 1000} s`;
  initialFilters();
  $("filtros").addEventListener("change", () => refresh());
  refresh();
  setInterval(refresh, REFRESH_MS);
}

window.MIRANTE_DASHBOARD = { REFRESH_MS, refresh };
start();
