"""The monthly finance reports: the archive's versioning on its own (no server), then, over the graph the
`built` fixture materialized, a partition of the Dagster asset `relatorios/financeiro_mensal` writing the
four files of the latest month with the marts' figures, reruns that lose nothing, the data API serving
them with a key and refusing without one, the finance marts' routes and filters, and the Finanças page
in headless Chromium (Debian's chromium, as tests/test_dashboard.py drives it).

Every expected figure is read here from the marts with SQL of its own; the archive lives in a folder of
this module (MIRANTE_RELATORIOS_DIR).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests

from mirante import config
from mirante import relatorios as arquivo

TIPOS_FORMATOS = [(t, f) for t in arquivo.TIPOS for f in arquivo.FORMATOS]


def brl(v) -> str:
    """R$ 1.234,56 / -R$ 1.234,56, written independently of the code under test."""
    v = Decimal(v)
    inteiro, _, cents = f"{abs(v):.2f}".partition(".")
    grupos = []
    while inteiro:
        grupos.insert(0, inteiro[-3:])
        inteiro = inteiro[:-3]
    return ("-" if v < 0 else "") + "R$ " + ".".join(grupos) + "," + cents


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------- the archive, no server


def test_archive_keeps_every_version_and_never_overwrites_silently(tmp_path):
    first, new = arquivo.publish("2025-03", "dre", "csv", b"a;b\r\n1;2\r\n", base=tmp_path)
    assert new and first.versao == 1 and first.atual
    assert (tmp_path / "2025-03" / "dre_2025-03.csv").read_bytes() == b"a;b\r\n1;2\r\n"

    again, new = arquivo.publish("2025-03", "dre", "csv", b"a;b\r\n1;2\r\n", base=tmp_path)
    assert not new and again == first and len(arquivo.read_manifest(tmp_path)) == 1

    second, new = arquivo.publish("2025-03", "dre", "csv", b"a;b\r\n1;3\r\n", base=tmp_path)
    assert new and second.versao == 2
    entries = {e.versao: e for e in arquivo.read_manifest(tmp_path)}
    assert not entries[1].atual and entries[2].atual
    old = tmp_path / entries[1].arquivo
    assert old.read_bytes() == b"a;b\r\n1;2\r\n" and sha(old) == first.sha256
    assert arquivo.find("2025-03", "dre", "csv", versao=1, base=tmp_path)[1] == old
    assert arquivo.find("2025-03", "dre", "csv", base=tmp_path)[0] == second

    # a current file edited by hand is kept as a version of its own before the next one replaces it
    (tmp_path / second.arquivo).write_bytes(b"edited")
    third, new = arquivo.publish("2025-03", "dre", "csv", b"a;b\r\n1;3\r\n", base=tmp_path)
    entries = {e.versao: e for e in arquivo.read_manifest(tmp_path)}
    assert new and third.versao == 4 and entries[3].alterado_fora_do_arquivo
    assert (tmp_path / entries[3].arquivo).read_bytes() == b"edited"
    assert (tmp_path / entries[2].arquivo).read_bytes() == b"a;b\r\n1;3\r\n"
    assert [e.versao for e in arquivo.current(base=tmp_path)] == [4]
    assert {e.versao for e in entries.values()} == {1, 2, 3, 4}


@pytest.mark.parametrize("bad", ["2025-13", "2025-1", "../etc", "2025-03/../x", ""])
def test_archive_refuses_anything_but_a_month(bad, tmp_path):
    with pytest.raises(ValueError):
        arquivo.publish(bad, "dre", "pdf", b"x", base=tmp_path)
    with pytest.raises(ValueError):
        arquivo.find(bad, "dre", "pdf", base=tmp_path)


def test_schedule_asks_for_the_previous_month_on_the_first():
    from dagster import build_schedule_context

    from mirante.orchestration.definitions import defs
    from mirante.orchestration.defs.relatorios import RELATORIOS_INICIO

    schedule = defs.resolve_schedule_def("relatorios_mensal")
    assert schedule.cron_schedule == "0 10 1 * *"
    assert schedule.execution_timezone == "America/Sao_Paulo"
    tick = datetime(2026, 1, 1, 10, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
    (request,) = schedule.evaluate_tick(build_schedule_context(scheduled_execution_time=tick)).run_requests
    assert request.partition_key == "2025-12"
    keys = defs.resolve_job_def("relatorios_financeiros").partitions_def.get_partition_keys()
    assert keys[0] == RELATORIOS_INICIO
    # the rebuild jobs leave the per-month asset out (they are not partitioned)
    for job in ("mirante_all", "financas", "financas_arquivos"):
        selected = defs.resolve_job_def(job).asset_layer.selected_asset_keys
        assert all(k.path[0] != "relatorios" for k in selected), job


# ------------------------------------------------------------------------- over the built graph


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("relatorios")
    with config.environ({"MIRANTE_RELATORIOS_DIR": str(folder)}):
        yield folder


@pytest.fixture(scope="module")
def db(built):
    with psycopg.connect(built.admin(), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def mes(built) -> str:
    from mirante.orchestration.defs.relatorios import mes_a_gerar

    found = mes_a_gerar(built.url("reader"))
    assert found, "the finance marts must hold at least one month"
    return found


def run_partition(mes: str):
    from dagster import DagsterInstance

    from mirante.orchestration.definitions import defs

    with DagsterInstance.ephemeral() as instance:
        return defs.resolve_job_def("relatorios_financeiros").execute_in_process(
            partition_key=mes, instance=instance, raise_on_error=False
        )


@pytest.fixture(scope="module")
def generated(built, archive, mes):
    result = run_partition(mes)
    assert result.success
    return result


def month_bounds(mes: str) -> tuple[date, date]:
    first = date.fromisoformat(f"{mes}-01")
    return first, date(first.year + first.month // 12, first.month % 12 + 1, 1)


def read_csv(path) -> list[dict]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, for Excel"
    assert b"\r\n" in raw
    return list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8")), delimiter=";"))


def dec(text: str) -> Decimal:
    assert "." not in text, f"decimal comma, no thousands separator: {text!r}"
    return Decimal(text.replace(",", "."))


@pytest.mark.integration
def test_a_partition_writes_the_four_files_in_the_archive(generated, archive, mes):
    files = {p.name for p in (archive / mes).iterdir() if p.is_file()}
    assert files == {f"{t}_{mes}.{f}" for t, f in TIPOS_FORMATOS}
    current = {(e.tipo, e.formato): e for e in arquivo.current(mes)}
    assert current.keys() == set(TIPOS_FORMATOS)
    for (tipo, formato), entry in current.items():
        path = archive / mes / f"{tipo}_{mes}.{formato}"
        assert entry.sha256 == sha(path) and entry.bytes == path.stat().st_size and entry.versao == 1
    meta = generated.asset_materializations_for_node("relatorios__financeiro_mensal")[0].metadata
    assert meta["novas_versoes"].value == 4


@pytest.mark.integration
def test_csv_rows_and_totals_equal_the_marts(generated, archive, mes, db):
    first, after = month_bounds(mes)
    rows = read_csv(archive / mes / f"fluxo_caixa_{mes}.csv")
    count, entradas, saidas, movimento = db.execute(
        "select count(*), sum(entradas), sum(saidas), sum(movimento_liquido) "
        "from marts.fct_fluxo_caixa_diario where data >= %s and data < %s",
        (first, after),
    ).fetchone()
    assert len(rows) == count > 0
    assert sum(dec(r["entradas"]) for r in rows) == entradas
    assert sum(dec(r["saidas"]) for r in rows) == saidas
    assert sum(dec(r["movimento_liquido"]) for r in rows) == movimento
    assert all(len(r["data"]) == 10 and r["data"][2] == "/" for r in rows)  # dd/mm/aaaa

    dre = read_csv(archive / mes / f"dre_{mes}.csv")
    mart = db.execute(
        "select linha, valor from marts.agg_dre_mes where mes = %s order by ordem", (first,)
    ).fetchall()
    assert [(r["linha"], dec(r["valor"])) for r in dre] == mart and mart
    assert {r["mes"] for r in dre} == {mes}


@pytest.mark.integration
def test_the_pdfs_open_and_show_the_months_figures(generated, archive, mes, db):
    from pypdf import PdfReader

    first, after = month_bounds(mes)
    meses = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto"]
    meses += ["setembro", "outubro", "novembro", "dezembro"]
    titulo = f"{meses[first.month - 1]} de {first.year}"

    dre_path = archive / mes / f"dre_{mes}.pdf"
    assert dre_path.read_bytes().startswith(b"%PDF-")
    text = " ".join(p.extract_text() for p in PdfReader(dre_path).pages)
    assert "Demonstração do resultado" in text and titulo in text
    for descricao, valor in db.execute(
        "select descricao, valor from marts.agg_dre_mes where mes = %s order by ordem", (first,)
    ):
        assert f"{descricao} {brl(valor)}" in text

    fluxo_path = archive / mes / f"fluxo_caixa_{mes}.pdf"
    assert fluxo_path.read_bytes().startswith(b"%PDF-")
    text = " ".join(p.extract_text() for p in PdfReader(fluxo_path).pages)
    assert "Fluxo de caixa" in text and titulo in text
    entradas, saidas, movimento = db.execute(
        "select sum(entradas), sum(saidas), sum(movimento_liquido) from marts.fct_fluxo_caixa_diario "
        "where data >= %s and data < %s",
        (first, after),
    ).fetchone()
    (saldo_final,) = db.execute(
        "select sum(saldo) from marts.fct_fluxo_caixa_diario where data = "
        "(select max(data) from marts.fct_fluxo_caixa_diario where data >= %s and data < %s)",
        (first, after),
    ).fetchone()
    assert f"Total do mês {brl(entradas)} {brl(saidas)} {brl(movimento)} {brl(saldo_final)}" in text
    days = db.execute(
        "select data, sum(saldo) from marts.fct_fluxo_caixa_diario where data >= %s and data < %s "
        "group by data order by data",
        (first, after),
    ).fetchall()
    for day, saldo in days:
        assert f"{day:%d/%m/%Y} " in text and brl(saldo) in text
    for nome_banco, saldo in db.execute(
        "select distinct on (id_conta) nome_banco, saldo from marts.fct_fluxo_caixa_diario "
        "where data >= %s and data < %s order by id_conta, data desc",
        (first, after),
    ):
        assert nome_banco in text and brl(saldo) in text


@pytest.mark.integration
def test_a_rerun_archives_without_loss(generated, archive, mes):
    before = {(e.tipo, e.formato): e for e in arquivo.current(mes)}
    old_pdf = (archive / mes / f"dre_{mes}.pdf").read_bytes()

    # the same figures: nothing new, nothing moved
    assert run_partition(mes).success
    assert {(e.tipo, e.formato): e for e in arquivo.current(mes)} == before
    assert not (archive / mes / "anteriores").exists()

    # another company name on the PDFs: new PDF versions, the old ones kept byte for byte
    with config.environ({"MIRANTE_RELATORIOS_EMPRESA": "Empresa Renomeada Ltda"}):
        assert run_partition(mes).success
    after = {(e.tipo, e.formato): e for e in arquivo.current(mes)}
    for tipo in arquivo.TIPOS:
        assert (
            after[(tipo, "pdf")].versao == 2 and after[(tipo, "pdf")].sha256 != before[(tipo, "pdf")].sha256
        )
        assert after[(tipo, "csv")] == before[(tipo, "csv")]
        entry, path = arquivo.find(mes, tipo, "pdf", versao=1)
        assert not entry.atual and sha(path) == before[(tipo, "pdf")].sha256
    assert arquivo.find(mes, "dre", "pdf", versao=1)[1].read_bytes() == old_pdf
    assert len(arquivo.read_manifest()) == 6
    manifest = json.loads((archive / arquivo.MANIFEST).read_text())
    assert {(r["tipo"], r["formato"], r["versao"]) for r in manifest["relatorios"]} == {
        *((t, f, 1) for t, f in TIPOS_FORMATOS),
        ("dre", "pdf", 2),
        ("fluxo_caixa", "pdf", 2),
    }


@pytest.fixture(scope="module")
def site(built, archive):
    from mirante.api import dashboard
    from mirante.api.app import create_app

    with dashboard.serving(create_app(built.url("api"))) as base:
        yield base


@pytest.fixture(scope="module")
def chave(built):
    from mirante.api import keys

    chave, token = keys.create(built.admin(), "relatorios", ["relatorios", "agg_*", "fct_*"])
    yield token
    keys.revoke(built.admin(), chave.id)


@pytest.mark.integration
def test_the_api_serves_the_reports_with_a_key_and_refuses_without(
    generated, site, chave, built, archive, mes
):
    from mirante.api import keys

    auth = {"Authorization": f"Bearer {chave}"}
    listed = requests.get(f"{site}/v1/relatorios", params={"mes": mes}, headers=auth, timeout=30)
    assert listed.status_code == 200
    rows = {(r["tipo"], r["formato"]): r for r in listed.json()["data"]}
    assert rows.keys() == set(TIPOS_FORMATOS)
    for (tipo, formato), row in rows.items():
        assert row["url"] == f"/v1/relatorios/{mes}/{tipo}.{formato}" and row["mes"] == mes
        assert datetime.fromisoformat(row["gerado_em"]).tzinfo is not None
        got = requests.get(f"{site}{row['url']}", headers=auth, timeout=30)
        assert got.status_code == 200
        assert (
            hashlib.sha256(got.content).hexdigest()
            == row["sha256"]
            == sha(archive / mes / f"{tipo}_{mes}.{formato}")
        )
        assert got.headers["content-type"].startswith({"pdf": "application/pdf", "csv": "text/csv"}[formato])
        assert f'filename="{tipo}_{mes}.{formato}"' in got.headers["content-disposition"]
        assert got.headers["content-disposition"].startswith("attachment")

    url = f"{site}/v1/relatorios/{mes}/dre.pdf"
    missing = requests.get(url, timeout=30)
    assert missing.status_code == 401 and "Bearer" in missing.headers["www-authenticate"]
    assert requests.get(url, headers={"Authorization": "Bearer mrt_x"}, timeout=30).status_code == 401
    assert requests.get(f"{site}/v1/relatorios", timeout=30).status_code == 401
    other, token = keys.create(built.admin(), "sem relatorios", ["dim_municipio"])
    try:
        refused = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert refused.status_code == 403 and "'relatorios'" in refused.json()["detail"]
    finally:
        keys.revoke(built.admin(), other.id)

    absent = requests.get(f"{site}/v1/relatorios/1999-01/dre.pdf", headers=auth, timeout=30)
    assert absent.status_code == 404 and "1999-01" in absent.json()["detail"]
    for bad in (f"{mes}/dre.xls", f"{mes}/balanco.pdf", "2025-13/dre.pdf", f"{mes}/dre.pdf?versao=99"):
        assert requests.get(f"{site}/v1/relatorios/{bad}", headers=auth, timeout=30).status_code == 404, bad
    assert requests.get(f"{site}/v1/relatorios?mes=junho", headers=auth, timeout=30).status_code == 400
    assert requests.get(f"{site}/v1/relatorios?x=1", headers=auth, timeout=30).status_code == 400
    paths = requests.get(f"{site}/openapi.json", timeout=30).json()["paths"]
    assert "/v1/relatorios" in paths and "/v1/relatorios/{mes}/{nome}" in paths


@pytest.mark.integration
def test_the_api_serves_earlier_versions(generated, site, chave, mes):
    """After the rerun test (or alone): every version the manifest lists is served by number."""
    auth = {"Authorization": f"Bearer {chave}"}
    for entry in arquivo.read_manifest():
        got = requests.get(
            f"{site}/v1/relatorios/{entry.mes}/{entry.tipo}.{entry.formato}",
            params={"versao": entry.versao},
            headers=auth,
            timeout=30,
        )
        assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == entry.sha256


FINANCE_MARTS = (
    "fct_fluxo_caixa_diario",
    "agg_indicadores_financeiros_mes",
    "fct_previsao_fluxo_caixa",
    "agg_dre_mes",
)


@pytest.mark.integration
def test_the_finance_marts_have_routes_and_their_filters_apply(site, chave, db, mes):
    auth = {"Authorization": f"Bearer {chave}"}
    marts = {m["name"]: m for m in requests.get(f"{site}/v1/marts", headers=auth, timeout=30).json()["data"]}
    for name in FINANCE_MARTS:
        assert name in marts and {"ano", "mes", "data_inicio", "data_fim"} <= set(marts[name]["filters"]), (
            name
        )

    first, after = month_bounds(mes)
    # `mes` is a date column in the monthly marts: mes=M means that month, with ano=Y
    got = requests.get(
        f"{site}/v1/agg_indicadores_financeiros_mes",
        params={"ano": first.year, "mes": first.month},
        headers=auth,
        timeout=30,
    ).json()["data"]
    (receita,) = db.execute(
        "select receita from marts.agg_indicadores_financeiros_mes where mes = %s", (first,)
    ).fetchone()
    assert [r["mes"] for r in got] == [first.isoformat()] and Decimal(str(got[0]["receita"])) == receita
    lines = requests.get(
        f"{site}/v1/agg_dre_mes",
        params={"data_inicio": first.isoformat(), "data_fim": first.isoformat()},
        headers=auth,
        timeout=30,
    ).json()["data"]
    assert [r["ordem"] for r in lines] == sorted(r["ordem"] for r in lines) and len(lines) == db.execute(
        "select count(*) from marts.agg_dre_mes where mes = %s", (first,)
    ).fetchone()[0]
    days = requests.get(
        f"{site}/v1/fct_fluxo_caixa_diario",
        params={"data_inicio": first.isoformat(), "data_fim": after.isoformat(), "limit": 1000},
        headers=auth,
        timeout=30,
    ).json()
    (count,) = db.execute(
        "select count(*) from marts.fct_fluxo_caixa_diario where data between %s and %s", (first, after)
    ).fetchone()
    assert days["pagination"]["total"] == count > 0


@pytest.fixture(scope="module")
def browser():
    from mirante.api import dashboard

    from .test_dashboard import _install_chromium

    exe = dashboard.chromium() or _install_chromium()
    if exe is None:
        import os

        reason = "headless Chromium not found and not installable here (Debian package `chromium`)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return exe


@pytest.mark.integration
def test_financas_page_shows_the_marts_and_the_reports(browser, generated, site, built, db, mes):
    from mirante.api import dashboard

    from .test_dashboard import parse

    dom = parse(dashboard.render(f"{site}/dashboard/financas#chave={dashboard.key(built)}", dump_dom=True))
    assert dom.one("body").attrs.get("data-state") == "ready"
    assert "hidden" in dom.one(id="erro-geral").attrs
    assert {a.attrs["href"] for a in dom.one("nav").all("a")} == {
        "/dashboard",
        "/dashboard/operacao",
        "/dashboard/financas",
    }

    # cash position: every account's balance on the mart's last day, and their total
    latest = db.execute(
        "select id_conta, saldo from marts.fct_fluxo_caixa_diario "
        "where data = (select max(data) from marts.fct_fluxo_caixa_diario) order by id_conta"
    ).fetchall()
    position = dom.one(data_table="posicao-caixa")
    shown = {
        tr.attrs["data-id-conta"]: Decimal(tr.attrs["data-saldo"])
        for tr in position.all("tr")
        if "data-id-conta" in tr.attrs
    }
    assert shown == {str(i): s for i, s in latest} and latest
    total = sum(s for _, s in latest)
    assert (
        Decimal(position.one("tr", data_total="true").attrs["data-saldo"]).quantize(Decimal("0.01")) == total
    )
    assert brl(total) in position.text  # Node.text folds the no-break space of Intl's R$
    assert Decimal(dom.one(data_kpi="saldo_total").attrs["data-value"]) == total.quantize(Decimal("0.01"))

    # the forecast: every forecast day, its band, after the realized balance
    forecast = dom.one(data_chart="previsao")
    (dias, banda, metodo) = db.execute(
        "select count(*), count(*) filter (where limite_inferior is not null and limite_superior is not null), "
        "max(metodo) from marts.fct_previsao_fluxo_caixa"
    ).fetchone()
    assert forecast.attrs["data-state"] == "ok"
    assert int(forecast.attrs["data-previsto"]) == dias > 0
    assert int(forecast.attrs["data-faixa"]) == banda > 0
    assert int(forecast.attrs["data-realizado"]) > 0 and forecast.attrs["data-metodo"] == metodo
    assert len(forecast.all("polygon", class_="faixa")) == 1

    # revenue nominal and IPCA-deflated: one point per month in each series
    months = db.execute(
        "select count(receita), count(receita_real) from marts.agg_indicadores_financeiros_mes"
    ).fetchone()
    chart = dom.one(data_chart="receita-real")
    series = {g.attrs["data-series"]: int(g.attrs["data-points"]) for g in chart.all("g", class_="serie")}
    assert series == {"Receita nominal": months[0], "Receita real (IPCA)": months[1]} and months[0] > 0
    (receita_real,) = db.execute(
        "select receita_real from marts.agg_indicadores_financeiros_mes order by mes desc limit 1"
    ).fetchone()
    assert Decimal(dom.one(data_kpi="receita_real_mes").attrs["data-value"]) == receita_real.quantize(
        Decimal("0.01")
    )

    # the reports of the month, one link per report and format, to the API's files
    reports = dom.one(data_table="relatorios")
    (row,) = [tr for tr in reports.all("tr") if tr.attrs.get("data-mes") == mes]
    links = {(a.attrs["data-tipo"], a.attrs["data-formato"]): a.attrs["href"] for a in row.all("a")}
    assert links == {(t, f): f"/v1/relatorios/{mes}/{t}.{f}" for t, f in TIPOS_FORMATOS}
