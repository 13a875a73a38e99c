// Mirante, Operação page: reads GET /v1/operacao (runs, freshness, SLAs, e-SUS municipalities) with the
// API key of the address fragment and draws four tables with the shared helpers of comum.js (loaded
// first). No framework, nothing from another origin.
//
// Data attributes a headless test reads after the JS ran: tables get data-rows and data-state;
// rows carry data-job / data-status, data-asset / data-stale, data-processo / data-estado,
// data-id-municipio / data-late; KPI cards get data-value. <body> gets data-state ("loading",
// "ready"), data-refresh-ms, data-refresh-count and data-page-height.
"use strict";

const REFRESH_MS = 60000;

const STATUS = {
  SUCCESS: "sucesso", FAILURE: "falha", CANCELED: "cancelada", STARTED: "em execução",
  QUEUED: "na fila", NOT_STARTED: "não iniciada", STARTING: "iniciando", CANCELING: "cancelando",
};

function quando(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString("pt-BR", { dateStyle: "short", timeStyle: "medium" });
}

function duracao(s) {
  if (!isNum(s)) return "—";
  if (s < 60) return `${fmtDec1.format(s)} s`;
  if (s < 3600) return `${fmtDec1.format(s / 60)} min`;
  if (s < 172800) return `${fmtDec1.format(s / 3600)} h`;
  return `${fmtDec1.format(s / 86400)} dias`;
}

function drawRuns(data) {
  const box = document.querySelector('[data-table="execucoes"]');
  table(box, [
    { label: "Job", cell: (r) => r.job },
    { label: "Última execução", cell: (r) => (r.ultima ? STATUS[r.ultima.status] || r.ultima.status : "nenhuma") },
    { label: "Início", cell: (r) => quando(r.ultima && (r.ultima.inicio || r.ultima.criada_em)) },
    { label: "Duração", cell: (r) => duracao(r.ultima && r.ultima.duracao_s), num: true },
    { label: "Falhas (24 h)", cell: (r) => fmtInt.format(r.falhas_24h), num: true },
    { label: "Execuções (sucesso / falha)", num: true,
      cell: (r) => `${fmtInt.format(r.por_status.SUCCESS || 0)} / ${fmtInt.format(r.por_status.FAILURE || 0)}` },
  ], data.execucoes, (r, tr) => {
    tr.dataset.job = r.job;
    tr.dataset.status = r.ultima ? r.ultima.status : "";
    tr.dataset.falhas24h = String(r.falhas_24h);
    if (r.ultima && r.ultima.status === "FAILURE") tr.className = "falha";
    else if (r.falhas_24h > 0) tr.className = "destaque";
  }, "Nenhum job no armazenamento do Dagster.");
  setKpi("falhas_24h", data.execucoes.reduce((n, r) => n + r.falhas_24h, 0), fmt.int,
    data.execucoes.some((r) => r.falhas_24h > 0));
}

function drawFreshness(data) {
  const box = document.querySelector('[data-table="frescor"]');
  const rows = [...data.frescor].sort((a, b) => (b.desatualizado - a.desatualizado)
    || a.camada.localeCompare(b.camada) || a.ativo.localeCompare(b.ativo));
  table(box, [
    { label: "Ativo", cell: (r) => r.ativo },
    { label: "Camada", cell: (r) => (r.camada === "raw" ? "fonte bruta" : "mart") },
    { label: "Última materialização", cell: (r) => quando(r.materializado_em) },
    { label: "Há", cell: (r) => (r.idade_s === null ? "nunca" : duracao(r.idade_s)), num: true },
    { label: "Limite", cell: (r) => duracao(r.limite_s), num: true },
    { label: "Estado", cell: (r) => (r.desatualizado ? "desatualizado" : "em dia") },
  ], rows, (r, tr) => {
    tr.dataset.asset = r.ativo;
    tr.dataset.camada = r.camada;
    tr.dataset.stale = String(r.desatualizado);
    if (r.desatualizado) tr.className = "falha";
  }, "Nenhuma fonte bruta ou mart nas definições.");
  const stale = data.frescor.filter((r) => r.desatualizado).length;
  setKpi("desatualizados", data.frescor.length ? stale : null, fmt.int, stale > 0);
}

function drawSlas(data) {
  const box = document.querySelector('[data-table="slas"]');
  table(box, [
    { label: "Processo", cell: (r) => r.processo },
    { label: "Estado", cell: (r) => (r.estado === "ok" ? "dentro do SLA" : "violado") },
    { label: "Meta", cell: (r) => r.meta ?? duracao(r.alvo_s), num: true },
    { label: "Observado", cell: (r) => r.observado ?? duracao(r.observado_s), num: true },
    { label: "Detalhe", cell: (r) => r.detalhe ?? "" },
  ], data.slas, (r, tr) => {
    tr.dataset.processo = r.processo;
    tr.dataset.estado = r.estado;
    if (r.estado !== "ok") tr.className = "falha";
  }, "Nenhum SLA avaliado.");
  const violados = data.slas.filter((r) => r.estado !== "ok").length;
  setKpi("slas_violados", data.slas.length ? violados : null, fmt.int, violados > 0);
}

function drawMunicipalities(data) {
  const box = document.querySelector('[data-table="municipios"]');
  const limite = data.limites.atraso_dias;
  table(box, [
    { label: "Município", cell: (r) => r.nome },
    { label: "Código IBGE", cell: (r) => r.id_municipio },
    { label: "Último dia com registros", cell: (r) => (r.ultimo_dia ? r.ultimo_dia.split("-").reverse().join("/") : "nenhum") },
    { label: "Dias de atraso", cell: (r) => (r.dias_de_atraso === null ? "—" : fmtInt.format(r.dias_de_atraso)), num: true },
    { label: "Atendimentos no último dia", cell: (r) => fmtInt.format(r.registros_ultimo_dia), num: true },
    { label: "Média dos 7 dias anteriores", cell: (r) => (isNum(r.media_7_dias) ? fmtDec1.format(r.media_7_dias) : "—"), num: true },
  ], data.municipios, (r, tr) => {
    tr.dataset.idMunicipio = r.id_municipio;
    tr.dataset.late = String(r.atrasado);
    if (r.atrasado) tr.className = "falha";
  }, "Nenhum município habilitado no registro do e-SUS.");
  const late = data.municipios.filter((r) => r.atrasado);
  $("municipios-nota").textContent = data.municipios.length
    ? `${late.length} de ${data.municipios.length} com ${limite} ou mais dias de atraso`
      + (late.length ? `: ${late.map((r) => r.nome).join(", ")}` : "")
    : "";
  setKpi("municipios_atrasados", data.municipios.length ? late.length : null, fmt.int, late.length > 0);
}

let refreshes = 0;

async function refresh() {
  document.body.dataset.state = "loading";
  const erro = $("erro-geral");
  try {
    const data = await fetchJson("/v1/operacao");
    drawRuns(data);
    drawFreshness(data);
    drawSlas(data);
    drawMunicipalities(data);
    const parciais = $("erros-parciais");
    parciais.hidden = !data.erros.length;
    parciais.textContent = data.erros.length ? "Partes indisponíveis: " + data.erros.join("; ") : "";
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
refresh();
setInterval(refresh, REFRESH_MS);
