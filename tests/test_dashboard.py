"""The dashboard in a real browser: the data API app (api/app.py, dashboard mounted) served by uvicorn on
a free loopback port over the graph built once by the `built` fixture, opened in headless Chromium
(Debian's `chromium`); the DOM after the page's JS ran is checked against the marts in the database.

Chromium runs with virtual time (--virtual-time-budget): timers run without waiting in real time and
virtual time stands still while a fetch is pending, so a page read after 20 virtual seconds has done
exactly its first refresh and one read after 65 has done the second (REFRESH_MS = 60 s).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from decimal import Decimal
from html.parser import HTMLParser

import psycopg
import pytest
import requests

from mirante import config
from mirante.api import dashboard, keys
from mirante.api.app import UFS, create_app

pytestmark = pytest.mark.integration

SALES_CHARTS = ("receita-mes", "receita-uf", "receita-modalidade", "negocios-dia", "mrr")
SALES_KPIS = (
    "leads",
    "negocios_ganhos",
    "negocios_perdidos",
    "taxa_conversao",
    "valor_medio_negocio",
    "ticket_medio",
    "ciclo_vendas_dias",
    "receita",
)


# ------------------------------------------------------------------------------------------ DOM


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.texts: list[str] = []

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Descendants (and self) with that tag and those attributes (`class_` matches one class)."""
        found = []
        for node in self.iter():
            if tag and node.tag != tag:
                continue
            ok = True
            for key, value in attrs.items():
                if key == "class_":
                    ok = ok and value in node.attrs.get("class", "").split()
                else:
                    ok = ok and node.attrs.get(key.replace("_", "-")) == value
            if ok:
                found.append(node)
        return found

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]

    @property
    def text(self) -> str:
        return " ".join(" ".join(t for n in self.iter() for t in n.texts).split())


class _TreeBuilder(HTMLParser):
    VOID = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in self.VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.texts.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def chart(dom: Node, name: str) -> Node:
    return dom.one(data_chart=name)


def kpi(dom: Node, name: str) -> Node:
    return dom.one(data_kpi=name)


def values(node: Node, shape: str) -> list[float]:
    return [float(n.attrs["data-value"]) for n in node.all(shape) if "data-value" in n.attrs]


# ------------------------------------------------------------------------------------------ fixtures


def _install_chromium() -> str | None:
    """Debian's chromium, installed with apt-get when we may (root); None when it cannot be."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
    ):
        if subprocess.run(cmd, env=env, capture_output=True, timeout=900).returncode != 0:
            return None
    return dashboard.chromium()


@pytest.fixture(scope="module")
def browser() -> str:
    exe = dashboard.chromium() or _install_chromium()
    if exe is None:
        reason = (
            "headless Chromium not found and not installable here (Debian package `chromium`, "
            "installed by `make test` as root; or set MIRANTE_CHROMIUM)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return exe


@pytest.fixture(scope="module")
def site(built, built_dagster_home):
    """Base URL of the real API app (dashboard mounted), as mirante_api, and the dashboard's key
    (dashboard.key: created as `mirante dashboard` does); /v1/operacao reads the built graph's
    Dagster instance."""
    global KEY
    from mirante.orchestration.operacao import provider

    app = create_app(built.url("api"), operations=provider(built_dagster_home))
    KEY = dashboard.key(built)
    with dashboard.serving(app) as base:
        yield base


#: the API key the pages are opened with (set by the `site` fixture)
KEY = ""


@pytest.fixture(scope="module")
def db(built):
    with psycopg.connect(built.admin(), autocommit=True) as conn:
        yield conn


def open_page(
    base: str, query: str = "", budget_ms: int = 20_000, key: str | None = None, path: str = "/dashboard"
) -> Node:
    """The page after its scripts ran, opened with `key` (default: the dashboard's) in the fragment."""
    key = KEY if key is None else key
    fragment = f"#chave={key}" if key else ""
    dom = parse(dashboard.render(f"{base}{path}{query}{fragment}", dump_dom=True, budget_ms=budget_ms))
    body = dom.one("body")
    assert body.attrs.get("data-state") == "ready", "the page must finish its refresh"
    return dom


def sales_built(conn: psycopg.Connection) -> bool:
    return conn.execute("select to_regclass('marts.vendas_ano_mes')").fetchone()[0] is not None


def close(a: float, b, places: int = 2) -> bool:
    return math.isclose(a, float(b), abs_tol=10**-places / 2 + 1e-9)


# ------------------------------------------------------------------------------------------ tests


def test_page_and_assets_are_served(site):
    page = requests.get(f"{site}/dashboard", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/dashboard/static/app.js" in page.text and "/dashboard/static/style.css" in page.text
    js = requests.get(f"{site}/dashboard/static/app.js", timeout=10)
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert re.search(r"const REFRESH_MS = 60000;", js.text) and "setInterval(refresh, REFRESH_MS)" in js.text
    css = requests.get(f"{site}/dashboard/static/style.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert requests.get(f"{site}/dashboard/static/nope.js", timeout=10).status_code == 404
    # no asset from another origin: the page must work offline
    assert not re.search(r"(src|href)=\"https?://", page.text)
    code = js.text.replace('"http://www.w3.org/2000/svg"', "")  # the SVG namespace is a name, not a URL
    assert "http://" not in code and "https://" not in code
    # the page is not an API route
    assert "/dashboard" not in requests.get(f"{site}/openapi.json", timeout=10).json()["paths"]


def test_sanitation_renders_with_data(browser, site, db):
    dom = open_page(site)
    ano = db.execute("select max(ano) from marts.agg_saneamento_brasil_ano").fetchone()[0]
    anos = [
        str(r[0]) for r in db.execute("select distinct ano from marts.agg_saneamento_brasil_ano order by 1")
    ]
    ufs = {
        uf: (agua, esgoto, perdas)
        for uf, agua, esgoto, perdas in db.execute(
            """select sigla_uf, indice_atendimento_total_agua, indice_atendimento_total_esgoto,
                  indice_perda_distribuicao_agua from marts.agg_saneamento_uf_ano where ano = %s""",
            (ano,),
        )
    }
    brasil = db.execute(
        """select indice_atendimento_total_agua, indice_atendimento_total_esgoto,
                                  indice_perda_distribuicao_agua, quantidade_prestadores
                           from marts.agg_saneamento_brasil_ano where ano = %s""",
        (ano,),
    ).fetchone()
    prestadores = db.execute(
        "select count(*) from marts.fct_saneamento_prestador_ano where ano = %s", (ano,)
    ).fetchone()[0]
    assert len(ufs) == 27 and prestadores > 0

    # filters: the 27 UFs + Brasil, the years of the data, the latest year chosen by default
    uf_options = dom.one("select", id="filtro-uf").all("option")
    assert len(uf_options) == 28 and (uf_options[0].attrs["value"], uf_options[0].text) == ("", "Brasil")
    assert sorted(o.attrs["value"] for o in uf_options[1:]) == sorted(UFS)
    assert [o.attrs["value"] for o in dom.one("select", id="filtro-ano-saneamento").all("option")] == anos
    for select in ("filtro-ano", "filtro-mes"):  # the sales period (options from vendas_ano_mes)
        assert dom.one("select", id=select).attrs["data-param"] in ("ano", "mes")
    assert dom.one("form", id="filtros").attrs["data-ano-saneamento"] == str(ano)
    assert dom.one("form", id="filtros").attrs["data-uf"] == "BR"

    # bars: water and sewage coverage of every UF with a value, each bar the mart's value
    bars = chart(dom, "atendimento-uf")
    expected = {("Água", uf): v[0] for uf, v in ufs.items() if v[0] is not None}
    expected |= {("Esgoto", uf): v[1] for uf, v in ufs.items() if v[1] is not None}
    assert bars.attrs["data-state"] == "ok" and bars.attrs["data-series-count"] == "2"
    assert int(bars.attrs["data-points"]) == len(expected) > 27
    drawn = {
        (g.attrs["data-series"], r.attrs["data-category"]): float(r.attrs["data-value"])
        for g in bars.all("g", class_="serie")
        for r in g.all("rect", class_="barra")
    }
    assert drawn.keys() == expected.keys()
    assert all(close(drawn[k], v) for k, v in expected.items())
    assert all(r.all("title") and "%" in r.text for r in bars.all("rect", class_="barra"))

    # table of the 27 UFs, national KPI cards equal to agg_saneamento_brasil_ano
    assert dom.one(data_table="saneamento-uf").attrs["data-rows"] == "27"
    assert len(dom.one(data_table="saneamento-uf").all("tbody")[0].all("tr")) == 27
    for name, value in zip(
        (
            "indice_atendimento_total_agua",
            "indice_atendimento_total_esgoto",
            "indice_perda_distribuicao_agua",
            "quantidade_prestadores",
        ),
        brasil,
        strict=False,
    ):
        card = kpi(dom, name)
        assert card.attrs["data-state"] == "ok" and close(float(card.attrs["data-value"]), value), name
        assert re.search(r"\d", card.one(class_="valor").text)
    assert dom.one(data_table="prestadores").attrs["data-rows"] == str(min(20, prestadores))


def test_sales_render_with_data(browser, site, db):
    """With the sales marts built, every sales chart and KPI card shows their numbers; without
    them, each sales panel says "sem dados" and the rest of the page still renders."""
    dom = open_page(site)
    if not sales_built(db):
        for name in SALES_CHARTS:
            node = chart(dom, name)
            assert node.attrs["data-state"] == "empty" and node.attrs["data-points"] == "0", name
            assert "Sem dados" in node.text, name
        assert all(kpi(dom, k).attrs["data-state"] == "empty" for k in SALES_KPIS)
        assert chart(dom, "atendimento-uf").attrs["data-state"] == "ok"
        pytest.skip("marts.vendas_ano_mes not built in this database: checked the 'sem dados' panels only")

    ano, mes = db.execute("""select ano, max(mes) from marts.vendas_ano_mes
                             where ano = (select max(ano) from marts.vendas_ano_mes) group by ano""").fetchone()
    filtros = dom.one("form", id="filtros").attrs
    assert (filtros["data-ano"], filtros["data-mes"]) == (str(ano), str(mes)), "latest month by default"

    # revenue per month of the year (Brasil): one point per month, the mart's values
    meses = db.execute(
        "select mes, receita, pedidos from marts.vendas_ano_mes where ano = %s order by mes", (ano,)
    ).fetchall()
    linha = chart(dom, "receita-mes")
    assert linha.attrs["data-state"] == "ok" and linha.attrs["data-series-count"] == "1"
    assert int(linha.attrs["data-points"]) == len(meses) > 0
    assert all(close(a, b) for a, b in zip(values(linha, "circle"), [r[1] for r in meses], strict=False))

    # revenue per UF and per modality of the month: one bar per UF / modality with sales
    por_uf = dict(
        db.execute(
            "select sigla_uf, sum(receita) from marts.vendas_uf where ano = %s and mes = %s group by 1",
            (ano, mes),
        ).fetchall()
    )
    barras = chart(dom, "receita-uf")
    assert barras.attrs["data-state"] == "ok" and int(barras.attrs["data-points"]) == len(por_uf) > 0
    drawn = {
        r.attrs["data-category"]: float(r.attrs["data-value"]) for r in barras.all("rect", class_="barra")
    }
    assert drawn.keys() == por_uf.keys() and all(close(drawn[u], v) for u, v in por_uf.items())
    modalidades = dict(
        db.execute(
            "select modalidade, sum(receita) from marts.vendas_modalidade "
            "where ano = %s and mes = %s group by 1",
            (ano, mes),
        ).fetchall()
    )
    mod = chart(dom, "receita-modalidade")
    assert mod.attrs["data-state"] == "ok" and int(mod.attrs["data-points"]) == len(modalidades) > 0
    assert {r.attrs["data-category"] for r in mod.all("rect", class_="barra")} == set(modalidades)
    assert dom.one(data_table="modalidade").attrs["data-rows"] == str(len(modalidades))

    # KPI cards of the month, recomputed from the daily mart
    dias = db.execute(
        """select count(*), sum(leads), sum(negocios_ganhos), sum(negocios_perdidos), sum(receita)
                         from marts.kpi_comercial_diario
                         where extract(year from data) = %s and extract(month from data) = %s""",
        (ano, mes),
    ).fetchone()
    n_dias, leads, ganhos, perdidos, receita = dias
    assert n_dias > 0
    for name, value in (
        ("leads", leads),
        ("negocios_ganhos", ganhos),
        ("negocios_perdidos", perdidos),
        ("receita", receita),
    ):
        card = kpi(dom, name)
        assert card.attrs["data-state"] == "ok" and close(float(card.attrs["data-value"]), value), name
    if ganhos + perdidos:
        taxa = Decimal(100) * ganhos / (ganhos + perdidos)
        assert close(float(kpi(dom, "taxa_conversao").attrs["data-value"]), taxa)
    receita_mes, pedidos_mes = next((r[1], r[2]) for r in meses if r[0] == mes)
    assert close(float(kpi(dom, "ticket_medio").attrs["data-value"]), receita_mes / pedidos_mes)
    for name in SALES_KPIS:  # every card shows a number
        card = kpi(dom, name)
        assert card.attrs.get("data-state") == "ok", name
        assert re.search(r"\d", card.one(class_="valor").text), name

    # daily leads / won / lost of the month: three series, one point per day each
    diario = chart(dom, "negocios-dia")
    assert diario.attrs["data-series-count"] == "3" and int(diario.attrs["data-points"]) == 3 * n_dias

    # MRR: one point per month of the mart
    mrr = db.execute("select count(mrr) from marts.receita_recorrente_mensal").fetchone()[0]
    linha_mrr = chart(dom, "mrr")
    assert linha_mrr.attrs["data-state"] == "ok" and int(linha_mrr.attrs["data-points"]) == mrr > 0


def test_uf_filter_drives_the_queries(browser, site, db):
    dom = open_page(site, "?uf=SP")
    assert dom.one("form", id="filtros").attrs["data-uf"] == "SP"
    ano = int(dom.one("form", id="filtros").attrs["data-ano-saneamento"])
    agua = db.execute(
        "select indice_atendimento_total_agua from marts.agg_saneamento_uf_ano "
        "where sigla_uf = 'SP' and ano = %s",
        (ano,),
    ).fetchone()[0]
    assert close(float(kpi(dom, "indice_atendimento_total_agua").attrs["data-value"]), agua)
    destaque = dom.one(data_table="saneamento-uf").all("tr", class_="destaque")
    assert len(destaque) == 1 and destaque[0].all("td")[0].text == "SP"
    assert [t.text for t in chart(dom, "atendimento-uf").all("text", class_="destaque")] == ["SP"]
    sedes = [tr.all("td")[1].text for tr in dom.one(data_table="prestadores").all("tbody")[0].all("tr")]
    assert sedes and all(s.endswith("(SP)") for s in sedes)
    assert "São Paulo (SP)" in sedes  # head-office names come from dim_municipio
    if sales_built(db):
        ano_v = int(dom.one("form", id="filtros").attrs["data-ano"])
        receitas = [
            r[0]
            for r in db.execute(
                "select receita from marts.vendas_uf where sigla_uf = 'SP' and ano = %s order by mes",
                (ano_v,),
            )
        ]
        linha = chart(dom, "receita-mes")
        assert int(linha.attrs["data-points"]) == len(receitas) > 0
        assert all(close(a, b) for a, b in zip(values(linha, "circle"), receitas, strict=False))
        assert [t.text for t in chart(dom, "receita-uf").all("text", class_="destaque")] == ["SP"]


def test_refreshes_every_minute(browser, site):
    """Virtual time: nothing refreshes again before 60 s, the second refresh comes after 60 s."""
    first = open_page(site, budget_ms=20_000)
    body = first.one("body")
    assert body.attrs["data-refresh-ms"] == "60000"
    assert body.attrs["data-refresh-count"] == "1"
    when = first.one("time", id="ultima-atualizacao")
    assert re.fullmatch(r"\d{2}:\d{2}:\d{2}", when.text) and when.attrs.get("datetime")
    assert "60 s" in first.one(id="intervalo-atualizacao").text
    later = open_page(site, budget_ms=65_000)
    assert later.one("body").attrs["data-refresh-count"] == "2"


def test_missing_marts_show_sem_dados(browser, site, built):
    """With a key whose scopes are only the sanitation aggregates, the API lists no sales mart and
    no provider fact: those panels say "sem dados", the rest renders and nothing breaks."""
    chave, token = keys.create(
        built.admin(), "dashboard restrito", ["agg_saneamento_uf_ano", "agg_saneamento_brasil_ano"]
    )
    try:
        listed = requests.get(f"{site}/v1/marts", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert {m["name"] for m in listed.json()["data"]} == {
            "agg_saneamento_uf_ano",
            "agg_saneamento_brasil_ano",
        }
        dom = open_page(site, key=token)
    finally:
        keys.revoke(built.admin(), chave.id)
    for name_ in SALES_CHARTS:
        node = chart(dom, name_)
        assert node.attrs["data-state"] == "empty" and "Sem dados" in node.text, name_
        assert "não está disponível" in node.text
    assert all(kpi(dom, k).attrs["data-state"] == "empty" for k in SALES_KPIS)
    prest = dom.one(data_table="prestadores")
    assert prest.attrs["data-state"] == "empty" and "fct_saneamento_prestador_ano" in prest.text
    assert chart(dom, "atendimento-uf").attrs["data-state"] == "ok"
    assert int(chart(dom, "atendimento-uf").attrs["data-points"]) > 27
    assert "hidden" in dom.one(id="erro-geral").attrs


def test_without_a_key_the_page_says_so(browser, site):
    """No key in the address (and none in the tab): the page reads nothing and says how to get in;
    a revoked or wrong key: the API's refusal is shown."""
    dom = open_page(site, key="")
    erro = dom.one(id="erro-geral")
    assert "hidden" not in erro.attrs and "sem chave de API" in erro.text and "#chave=" in erro.text
    assert chart(dom, "atendimento-uf").attrs.get("data-state") != "ok"
    dom = open_page(site, key="mrt_000000000000_" + "A" * 43)
    erro = dom.one(id="erro-geral")
    assert "hidden" not in erro.attrs and "chave de API recusada" in erro.text and "wrong secret" in erro.text


def test_dashboard_key_is_created_once_and_kept(built, site):
    """`mirante dashboard` reuses its key while it is valid, and replaces a revoked one."""
    assert dashboard.key(built) == KEY
    chave = keys.get(built.admin(), KEY)
    assert chave.escopos == dashboard.DASHBOARD_SCOPES and chave.municipios is None
    keys.revoke(built.admin(), chave.id)
    try:
        fresh = dashboard.key(built)
        assert fresh != KEY and keys.get(built.admin(), fresh).revogada_em is None
        assert config.dashboard_api_key() == fresh
    finally:
        keys.revoke(built.admin(), fresh)


# ------------------------------------------------------------------------------------- Operação


def test_operacao_route_needs_a_key_with_its_scope(site, built):
    url = f"{site}/v1/operacao"
    assert requests.get(url, timeout=10).status_code == 401
    chave, token = keys.create(built.admin(), "sem operacao", ["dim_municipio"])
    try:
        refused = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    finally:
        keys.revoke(built.admin(), chave.id)
    assert refused.status_code == 403 and "'operacao'" in refused.json()["detail"]
    # the dashboard's key (a new one if an earlier test revoked it) has the scope
    auth = {"Authorization": f"Bearer {dashboard.key(built)}"}
    assert requests.get(url, params={"x": "1"}, headers=auth, timeout=10).status_code == 400
    ok = requests.get(url, headers=auth, timeout=60)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["erros"] == []
    from mirante.orchestration import sla

    # every process of orchestration/slas.yml, with its limit
    assert {(r["processo"], r["alvo_s"]) for r in body["slas"]} == {
        (s.processo, s.limite_s) for s in sla.load()
    }
    assert {"execucoes", "frescor", "municipios", "limites", "gerado_em"} <= body.keys()
    assert "/v1/operacao" in requests.get(f"{site}/openapi.json", timeout=10).json()["paths"]


def instance_steps(home, record) -> list:
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        return instance.get_run_step_stats(record.dagster_run.run_id)


def _late_municipalities(db) -> dict[str, int | None]:
    """Days late of every enabled municipality, read here: the latest day with a record in any
    raw_esus table with a day (co_dim_tempo) and a municipality."""
    from datetime import date

    from mirante.loaders.esus import registry

    tables = [
        r[0]
        for r in db.execute(
            """select table_name from information_schema.columns where table_schema = 'raw_esus'
               and column_name in ('co_dim_tempo', 'id_municipio')
               group by table_name having count(*) = 2"""
        )
    ]
    assert tables
    union = " union all ".join(f"select id_municipio, co_dim_tempo from raw_esus.{t}" for t in tables)
    latest = dict(
        db.execute(f"select id_municipio, max(co_dim_tempo) from ({union}) u group by 1").fetchall()
    )
    out = {}
    for m in registry.load(enabled_only=True):
        d = latest.get(m.id_municipio)
        out[m.id_municipio] = (date.today() - date(d // 10000, d // 100 % 100, d % 100)).days if d else None
    return out


def test_operacao_page_renders_runs_freshness_and_municipalities(
    browser, site, db, built, built_dagster_home, tmp_path, monkeypatch
):
    """The Operação page against the built instance and warehouse, read independently here. The
    registry gains an enabled municipality never pulled (Manaus): no record, so late and highlighted."""
    import datetime as dt

    from dagster import DagsterInstance

    from mirante.loaders.esus import registry
    from mirante.orchestration import metrics

    jobs = set(metrics.catalogue().jobs)  # the Definitions are read before the registry changes
    with_manaus = tmp_path / "municipios.toml"
    with_manaus.write_text(
        registry.registry_file().read_text()
        + '\n[[municipio]]\nid_municipio = "1302603"\nnome = "Manaus"\nsigla_uf = "AM"\n'
        + 'conexao = "postgresql://pec_leitura@${MIRANTE_PG_HOST}:${MIRANTE_PG_PORT}/pec_1302603"\n'
    )
    monkeypatch.setenv("MIRANTE_ESUS_REGISTRY", str(with_manaus))
    dom = open_page(site, path="/dashboard/operacao", key=dashboard.key(built))
    assert "hidden" in dom.one(id="erro-geral").attrs
    assert dom.one("a", href="/dashboard").text == "Painel"

    # runs: the latest run of every job, as the instance records it
    with DagsterInstance.from_config(str(built_dagster_home)) as instance:
        records = instance.get_run_records()
        stored = {k.to_user_string() for k in instance.get_asset_keys()}
    assert records
    latest: dict[str, object] = {}
    for r in records:
        job = r.dagster_run.job_name
        if job not in latest or r.create_timestamp > latest[job].create_timestamp:
            latest[job] = r
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=24)
    failures = sum(
        1 for r in records if r.dagster_run.status.value == "FAILURE" and r.create_timestamp > since
    )
    runs = dom.one(data_table="execucoes")
    drawn = {tr.attrs["data-job"]: tr for tr in runs.all("tr") if "data-job" in tr.attrs}
    assert drawn.keys() == jobs | latest.keys() and {"mirante_all", "esus_pull"} <= latest.keys()
    for job, tr in drawn.items():
        expected = latest[job].dagster_run.status.value if job in latest else ""
        assert tr.attrs["data-status"] == expected, job
    assert "sucesso" in drawn["mirante_all"].text
    assert kpi(dom, "falhas_24h").attrs["data-value"] == str(failures)

    # freshness: every raw source and mart the instance has materialized, none stale right after the build
    fresh = dom.one(data_table="frescor")
    rows = {tr.attrs["data-asset"]: tr for tr in fresh.all("tr") if "data-asset" in tr.attrs}
    watched = {a for a in stored if a.startswith("raw_") or a.startswith("marts/")}
    assert rows.keys() == watched and len(watched) > 20
    assert {tr.attrs["data-camada"] for tr in rows.values()} == {"raw", "marts"}
    assert all(tr.attrs["data-stale"] == "false" for tr in rows.values())
    assert kpi(dom, "desatualizados").attrs["data-value"] == "0"

    # SLAs: every process of orchestration/slas.yml, the built graph within each (the CRM load's
    # observed figure is its step's duration in the instance)
    from mirante.orchestration import sla

    slas = dom.one(data_table="slas")
    drawn_slas = {tr.attrs["data-processo"]: tr for tr in slas.all("tr") if "data-processo" in tr.attrs}
    assert drawn_slas.keys() == {s.processo for s in sla.load()}
    assert {tr.attrs["data-estado"] for tr in drawn_slas.values()} == {"ok"}
    assert kpi(dom, "slas_violados").attrs["data-value"] == "0"
    assert "até 09:00" in drawn_slas["coleta_esus"].text and "30 min" in drawn_slas["ingestao_crm"].text
    crm_run = next(
        r for r in records if any(s.step_key == "raw_crm" for s in instance_steps(built_dagster_home, r))
    )
    (crm_step,) = [s for s in instance_steps(built_dagster_home, crm_run) if s.step_key == "raw_crm"]
    assert f"{round(crm_step.end_time - crm_step.start_time)} s" in drawn_slas["ingestao_crm"].text

    # municipalities: every enabled one, the late ones (>= 2 days or no record) highlighted, by name
    days = _late_municipalities(db)
    late = {i for i, d in days.items() if d is None or d >= 2}
    assert "1302603" in late and days["1302603"] is None
    table_ = dom.one(data_table="municipios")
    shown = {tr.attrs["data-id-municipio"]: tr for tr in table_.all("tr") if "data-id-municipio" in tr.attrs}
    assert shown.keys() == days.keys()
    assert {i for i, tr in shown.items() if tr.attrs["data-late"] == "true"} == late
    assert kpi(dom, "municipios_atrasados").attrs["data-value"] == str(len(late))
    names = {m.id_municipio: m.nome for m in registry.load()}
    for ident, tr in shown.items():
        cells = [td.text for td in tr.all("td")]
        assert cells[0] == names[ident] and cells[1] == ident
        assert cells[3] == ("—" if days[ident] is None else str(days[ident]))
    assert "Manaus" in dom.one(id="municipios-nota").text
