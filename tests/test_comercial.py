"""Commercial domain (CRM + ERP -> marts): the dbt semantic layer validated at parse time, the
Dagster graph from the two APIs to the KPIs, the marts built by the whole-graph run checked against
the emulated world itself, the Great Expectations suites as blocking checks (a bad source row stops
the dbt models; a bad mart row fails its check), and no personal contact data past staging.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, Definitions, define_asset_job

from mirante import config
from mirante.emulators import crm
from mirante.emulators.comercial import POPULACAO_UF, Mundo, Negocio
from mirante.expectations import load_suite, run_suite
from mirante.orchestration.definitions import defs
from mirante.orchestration.defs import comercial
from mirante.orchestration.resources import DBT_PROJECT_DIR

from .test_pii_scan import _relacoes, _relatorio, achados, varrer

MARTS = (
    "vendas_ano_mes",
    "vendas_uf",
    "vendas_modalidade",
    "kpi_comercial_diario",
    "receita_recorrente_mensal",
)
METRICS = {
    "receita",
    "pedidos",
    "itens",
    "ticket_medio",
    "leads",
    "negocios_ganhos",
    "negocios_perdidos",
    "taxa_conversao",
    "valor_medio_negocio",
    "ciclo_vendas_dias",
    "mrr",
    "contratos_ativos",
    "contratos_novos",
    "contratos_cancelados",
}
PARSE_ENV = {
    "MIRANTE_PG_HOST": "127.0.0.1",
    "MIRANTE_PG_PORT": "5432",
    "MIRANTE_TRANSFORMER_PASSWORD": "parse-only",
}


# --------------------------------------------------------------------------------------------
# semantic layer (no database: `dbt parse` validates the semantic manifest)


def _parse(project_dir, target, monkeypatch):
    from dbt.cli.main import dbtRunner

    for key, value in PARSE_ENV.items():
        monkeypatch.setenv(key, value)
    return dbtRunner().invoke(
        [
            "parse",
            "--quiet",
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
            "--target-path",
            str(target),
            "--log-path",
            str(target),
        ]
    )


def _copy_project(tmp_path):
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def test_semantic_layer_is_valid_at_parse_time(tmp_path, monkeypatch):
    result = _parse(DBT_PROJECT_DIR, tmp_path / "target", monkeypatch)
    assert result.success, result.exception
    semantic = json.loads((tmp_path / "target" / "semantic_manifest.json").read_text())
    metrics = {m["name"]: m for m in semantic["metrics"]}
    assert METRICS <= set(metrics)
    assert metrics["ticket_medio"]["type"] == "ratio"
    assert metrics["taxa_conversao"]["type"] == "derived"
    assert {m["name"] for m in semantic["semantic_models"]} >= {
        "pedido_venda",
        "negocio_crm",
        "lead_crm",
        "receita_recorrente",
    }
    [spine] = semantic["project_configuration"]["time_spines"]
    assert spine["node_relation"]["alias"] == "int_calendario__dia"
    assert spine["primary_column"] == {"name": "data", "time_granularity": "day"}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # a ratio metric over a metric that does not exist
        ("      numerator: receita\n", "      numerator: receita_inexistente\n"),
        # a semi-additive measure over a dimension its semantic model does not have
        (
            "          name: mes_referencia\n          window_choice: max\n",
            "          name: mes_inexistente\n          window_choice: max\n",
        ),
    ],
)
def test_a_broken_metric_fails_parse(tmp_path, monkeypatch, old, new):
    project = _copy_project(tmp_path)
    yml = project / "models" / "marts" / "comercial" / "_comercial__semantic_models.yml"
    text = yml.read_text()
    assert old in text
    yml.write_text(text.replace(old, new, 1))
    result = _parse(project, tmp_path / "target", monkeypatch)
    assert not result.success
    assert "inexistente" in str(result.exception) or "Semantic Manifest validation failed" in str(
        result.exception
    )


# --------------------------------------------------------------------------------------------
# the Dagster graph (no database)


def _dbt_source_keys(dataset: str) -> set[AssetKey]:
    from mirante.orchestration.resources import dbt_manifest

    manifest = json.loads(dbt_manifest().read_text())
    return {
        AssetKey([s["source_name"], s["name"]])
        for s in manifest["sources"].values()
        if s["source_name"] == dataset
    }


@pytest.mark.parametrize("dataset", ["raw_crm", "raw_erp"])
def test_dlt_asset_keys_are_the_dbt_source_keys(dataset):
    graph = defs.resolve_asset_graph()
    made = comercial.SOURCES[dataset.removeprefix("raw_")]
    dlt_keys = set(made.assets.keys)
    children = {spec.key: next(iter(spec.deps)).asset_key for spec in made.child_tables}
    sources = _dbt_source_keys(dataset)
    # every dlt resource is a dbt source, and every dbt source is either a dlt resource
    # (materializable) or a child table declared downstream of its parent resource
    assert dlt_keys and dlt_keys <= sources
    for key in sources - dlt_keys:
        node = graph.get(key)
        assert not node.is_materializable and node.parent_keys == {children[key]}, key
    for key in dlt_keys:
        assert graph.get(key).is_materializable


def test_one_graph_from_the_apis_to_the_kpis():
    graph = defs.resolve_asset_graph()
    kpi = AssetKey(["marts", "kpi_comercial_diario"])
    upstream = set(graph.upstream_key_iterator(kpi))
    assert {
        AssetKey(["raw_crm", "contacts"]),
        AssetKey(["raw_crm", "deals"]),
        AssetKey(["raw_erp", "orders"]),
        AssetKey(["raw_erp", "orders__document_lines"]),
    } <= upstream
    stg_lines = graph.get(AssetKey(["staging", "stg_erp__order_lines"]))
    assert AssetKey(["raw_erp", "orders__document_lines"]) in stg_lines.parent_keys
    assert (
        AssetKey(["raw_erp", "orders"])
        in graph.get(AssetKey(["raw_erp", "orders__document_lines"])).parent_keys
    )

    job = defs.resolve_job_def("comercial")
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert {
        "raw_crm/deals",
        "raw_erp/orders",
        "intermediate/int_calendario__dia",
        *(f"marts/{m}" for m in MARTS),
    } <= selected
    assert not any(k.startswith(("raw_snis", "raw_esus", "raw_ibge")) for k in selected)
    [schedule] = [s for s in defs.schedules if s.name == "comercial_daily"]
    assert (schedule.cron_schedule, schedule.job_name, schedule.execution_timezone) == (
        "0 4 * * *",
        "comercial",
        "America/Sao_Paulo",
    )
    mirante_all = {
        k.to_user_string() for k in defs.resolve_job_def("mirante_all").asset_layer.selected_asset_keys
    }
    assert selected <= mirante_all


def test_ge_suites_are_blocking_checks():
    specs = {
        (s.asset_key.to_user_string(), s.name): s
        for s in defs.resolve_asset_graph().asset_check_keys
        for s in [defs.resolve_asset_graph().get_check_spec(s)]
    }
    expected = {(f"marts/{m}", f"ge_{m}") for m in MARTS} | {
        ("raw_crm/deals", "ge_deals"),
        ("raw_erp/orders", "ge_orders"),
    }
    assert expected <= set(specs)
    assert all(specs[k].blocking for k in expected)


# --------------------------------------------------------------------------------------------
# the marts of the whole-graph run, against the emulated world


@pytest.fixture(scope="module")
def mundo(comercial_emulators) -> Mundo:
    """The world the session's ERP and CRM emulators serve (both build it from the same seed)."""
    emu = comercial_emulators["erp"]
    return emu.mundo


@pytest.fixture(scope="module")
def reader(built):
    with psycopg.connect(built.url("reader")) as conn:
        yield conn


def _round(value: Decimal, places: str) -> Decimal:
    """As PostgreSQL's round() on numeric: halves away from zero."""
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _one(conn, query, params=None):
    return conn.execute(query, params).fetchone()


def test_marts_are_built_with_rows(reader):
    counts = {m: _one(reader, f"select count(*) from marts.{m}")[0] for m in MARTS}
    assert all(n > 0 for n in counts.values()), counts
    assert counts["vendas_ano_mes"] == counts["receita_recorrente_mensal"] == 12  # 2025, month by month
    assert counts["kpi_comercial_diario"] == 365
    assert counts["vendas_modalidade"] == 4 * 12


def test_revenue_and_orders_equal_the_erp_world(reader, mundo):
    vivos = [p for p in mundo.pedidos() if not p.cancelado(mundo.hoje)]
    receita = sum((p.total for p in vivos), Decimal(0))
    itens = sum(l.quantidade for p in vivos for l in p.linhas)
    for mart in ("vendas_ano_mes", "vendas_uf", "vendas_modalidade"):
        assert _one(reader, f"select sum(receita), sum(pedidos), sum(itens) from marts.{mart}") == (
            receita,
            len(vivos),
            itens,
        ), mart
    assert _one(reader, "select sum(receita) from marts.kpi_comercial_diario")[0] == receita
    novembro = [p for p in vivos if (p.data.year, p.data.month) == (2025, 11)]
    assert _one(
        reader,
        "select receita, pedidos, ticket_medio from marts.vendas_ano_mes where ano = 2025 and mes = 11",
    ) == (
        sum((p.total for p in novembro), Decimal(0)),
        len(novembro),
        _round(sum((p.total for p in novembro), Decimal(0)) / len(novembro), "0.01"),
    )
    por_modalidade = {
        m: sum((p.total for p in vivos if p.modalidade == m), Decimal(0))
        for m in ("loja", "online", "televendas", "representante")
    }
    assert (
        dict(reader.execute("select modalidade, sum(receita) from marts.vendas_modalidade group by 1"))
        == por_modalidade
    )


def test_vendas_uf_covers_every_uf(reader):
    ufs = {r[0] for r in reader.execute("select distinct sigla_uf from marts.vendas_uf")}
    assert ufs == set(POPULACAO_UF)
    # customers follow the population: SP sells most
    [top] = _one(reader, "select sigla_uf from marts.vendas_uf group by 1 order by sum(receita) desc limit 1")
    assert top == "SP"


def test_daily_kpis_have_no_gap_and_match_the_crm_world(reader, mundo):
    primeiro, ultimo, dias, distintos = _one(
        reader, "select min(data), max(data), count(*), count(distinct data) from marts.kpi_comercial_diario"
    )
    assert dias == distintos == (ultimo - primeiro).days + 1
    assert (primeiro, ultimo) == (mundo.inicio, mundo.hoje)
    fora = _one(
        reader, "select count(*) from marts.kpi_comercial_diario where taxa_conversao not between 0 and 100"
    )[0]
    assert fora == 0

    negocios = mundo.negocios()
    ganhos = [n for n in negocios if n.status(mundo.hoje) == "won"]
    perdidos = [n for n in negocios if n.status(mundo.hoje) == "lost"]
    leads = [c for c in mundo.clientes if primeiro <= c.criado_em <= ultimo]
    assert _one(
        reader,
        "select sum(leads), sum(negocios_ganhos), sum(negocios_perdidos) from marts.kpi_comercial_diario",
    ) == (len(leads), len(ganhos), len(perdidos))

    # one day with closed deals, recomputed from the world
    dia = max(n.fecha_em for n in ganhos)
    g = [n for n in ganhos if n.fecha_em == dia]
    p = [n for n in perdidos if n.fecha_em == dia]
    row = _one(
        reader,
        """select negocios_ganhos, negocios_perdidos, taxa_conversao, valor_medio_negocio,
                                 ciclo_vendas_dias from marts.kpi_comercial_diario where data = %s""",
        (dia,),
    )
    assert row == (
        len(g),
        len(p),
        _round(Decimal(100 * len(g)) / (len(g) + len(p)), "0.01"),
        _round(sum((n.valor for n in g), Decimal(0)) / len(g), "0.01"),
        _round(Decimal(sum((n.fecha_em - n.criado_em.date()).days for n in g)) / len(g), "0.1"),
    )
    # a day without closed deals has no conversion rate, not 0
    assert (
        _one(
            reader,
            """select count(*) from marts.kpi_comercial_diario
                           where negocios_ganhos + negocios_perdidos = 0 and taxa_conversao is not null""",
        )[0]
        == 0
    )


def test_mrr_matches_the_contracts(reader, mundo):
    for mes in (date(2025, 6, 1), date(2025, 12, 1)):
        ativos = [c for c in mundo.contratos if c.inicio <= mes and (c.fim is None or mes < c.fim)]
        assert _one(
            reader,
            "select mrr, contratos_ativos, contratos_novos from marts.receita_recorrente_mensal "
            "where ano = %s and mes = %s",
            (mes.year, mes.month),
        ) == (
            sum((c.valor_mensal for c in ativos), Decimal(0)),
            len(ativos),
            sum(1 for c in ativos if c.inicio == mes),
        )
    cancelados = [c for c in mundo.contratos if c.fim is not None and c.fim <= date(2025, 12, 1)]
    assert _one(reader, "select sum(contratos_cancelados) from marts.receita_recorrente_mensal")[0] == len(
        cancelados
    )


# --------------------------------------------------------------------------------------------
# Great Expectations on the marts


@pytest.mark.parametrize("mart", MARTS)
def test_mart_suites_pass_as_reader(built, mart):
    result = run_suite(f"marts.{mart}", built.url("reader"))
    assert result.failed == [], json.dumps(result.failed, indent=1, default=str)
    assert result.evaluated == len(load_suite(f"marts.{mart}")["expectations"])


def _failed(result) -> set[tuple[str, str | None]]:
    return {(f["expectation_type"], f["column"]) for f in result.failed}


def test_kpi_suite_catches_a_gap_and_a_rate_above_100(built):
    url = built.url("transformer")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop table if exists staging._ge_test_kpi")
        conn.execute("create table staging._ge_test_kpi as select * from marts.kpi_comercial_diario")
        try:
            conn.execute("delete from staging._ge_test_kpi where data = '2025-11-15'")
            gap = run_suite("marts.kpi_comercial_diario", url, table="_ge_test_kpi", schema="staging")
            conn.execute("""update staging._ge_test_kpi set taxa_conversao = 120
                            where data = (select min(data) from staging._ge_test_kpi where negocios_ganhos > 0)""")
            rate = run_suite("marts.kpi_comercial_diario", url, table="_ge_test_kpi", schema="staging")
        finally:
            conn.execute("drop table staging._ge_test_kpi")
    assert _failed(gap) == {("unexpected_rows_expectation", None)}
    [falha] = gap.failed
    assert "gap" in falha["notes"]
    assert _failed(rate) == {
        ("unexpected_rows_expectation", None),
        ("expect_column_values_to_be_between", "taxa_conversao"),
    }


def test_a_bad_mart_row_fails_its_blocking_check_in_dagster(built, tmp_path, monkeypatch):
    """A gap in the daily KPIs: the asset check `ge_kpi_comercial_diario` (blocking) fails."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    check_job = define_asset_job(
        "comercial_kpi_check",
        selection=AssetSelection.checks_for_assets(AssetKey(["marts", "kpi_comercial_diario"])),
    )
    with_job = Definitions.merge(defs, Definitions(jobs=[check_job]))
    admin = psycopg.connect(built.admin(), autocommit=True)
    try:
        saved = admin.execute("select * from marts.kpi_comercial_diario where data = '2025-11-15'").fetchone()
        admin.execute("delete from marts.kpi_comercial_diario where data = '2025-11-15'")
        with DagsterInstance.get() as instance:
            result = with_job.resolve_job_def("comercial_kpi_check").execute_in_process(
                instance=instance, raise_on_error=False
            )
    finally:
        admin.execute("insert into marts.kpi_comercial_diario values (%s, %s, %s, %s, %s, %s, %s, %s)", saved)
        admin.close()
    ge = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not ge["ge_kpi_comercial_diario"].passed
    assert ge["ge_kpi_comercial_diario"].blocking
    assert "unexpected_rows_expectation" in str(ge["ge_kpi_comercial_diario"].metadata["failures"].value)
    assert run_suite("marts.kpi_comercial_diario", built.url("reader")).success  # restored


class MundoComNegocioRuim(Mundo):
    """The session's world plus one deal with a negative value on the last day: a bad source row."""

    ID = 999_999_999

    def negocios_do_dia(self, dia):
        out = super().negocios_do_dia(dia)
        if dia == self.hoje and not any(n.id == self.ID for n in out):
            out = [
                *out,
                Negocio(
                    id=self.ID,
                    titulo="negócio com valor negativo",
                    cliente=self.clientes[0],
                    criado_em=datetime.combine(dia, time(10)),
                    valor=Decimal("-100.00"),
                    fecha_em=None,
                    ganho=False,
                ),
            ]
            self._cache[("negocios", dia)] = out
        return out


def test_a_bad_source_row_fails_the_blocking_check_and_stops_the_models(built, tmp_path, monkeypatch):
    """A CRM serving a deal of -100 BRL: the deals load, the blocking `ge_deals` check fails, and no
    dbt model downstream runs in that run (the marts keep their previous rows)."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with psycopg.connect(built.url("reader")) as conn:
        before = conn.execute("select count(*), sum(receita) from marts.kpi_comercial_diario").fetchone()
    bad = crm.start(mundo=MundoComNegocioRuim())
    monkeypatch.setenv("MIRANTE_CRM_BASE_URL", bad.base_url)
    monkeypatch.setenv("MIRANTE_CRM_USER_KEY", bad.user_key)
    try:
        with DagsterInstance.get() as instance:
            result = defs.resolve_job_def("comercial").execute_in_process(
                instance=instance, raise_on_error=False
            )
    finally:
        bad.stop()
        with psycopg.connect(built.admin(), autocommit=True) as admin:  # the session's data again
            admin.execute("delete from raw_crm.interactions where deal_id = %s", (MundoComNegocioRuim.ID,))
            loaded = admin.execute(
                "delete from raw_crm.deals where id = %s returning amount", (MundoComNegocioRuim.ID,)
            ).fetchall()
    assert loaded == [(Decimal("-100.00"),)], "the bad deal must have been loaded by the CRM asset"
    assert not result.success
    ge = [e for e in result.get_asset_check_evaluations() if e.check_name == "ge_deals"]
    assert len(ge) == 1 and not ge[0].passed
    materialized = {
        m.event_specific_data.materialization.asset_key.to_user_string()
        for m in result.get_asset_materialization_events()
    }
    assert "raw_crm/deals" in materialized
    assert not any(k.startswith(("staging/", "intermediate/", "marts/")) for k in materialized)
    with psycopg.connect(built.url("reader")) as conn:
        assert (
            conn.execute("select count(*), sum(receita) from marts.kpi_comercial_diario").fetchone() == before
        )


# --------------------------------------------------------------------------------------------
# personal data of CRM contacts


def test_raw_crm_holds_contact_data_the_detector_sees(built):
    """Positive control: the e-mails and phones loaded into raw_crm are caught (the contacts' names,
    which the CRM does not serve, by test_pii_scan's unit test)."""
    with psycopg.connect(built.url("transformer")) as conn:
        emails = [r[0] for r in conn.execute("select email from raw_crm.contacts limit 200")]
        phones = [r[0] for r in conn.execute("select phone_number from raw_crm.contacts__phones limit 200")]
    assert emails and phones
    assert all("email" in achados(e) for e in emails)
    assert all("telefone" in achados(p) for p in phones)


def test_commercial_staging_and_marts_hold_no_contact_data(built):
    """Every commercial staging / intermediate view (as the transformer) and mart (as the reader):
    no e-mail, phone or person name in clear."""
    url = built.url("transformer")
    views = [
        r
        for schema, prefix in (
            ("staging", "stg_crm__"),
            ("staging", "stg_erp__"),
            ("intermediate", "int_comercial__"),
        )
        for r in _relacoes(url, schema, prefix)
    ]
    assert len(views) == 10, views
    scan = varrer(url, views)
    assert sum(scan.linhas.values()) > 0 and scan.valores > 0
    assert not scan.achados, "contact data in clear:\n" + _relatorio(scan)
    marts = varrer(built.url("reader"), [(config.MARTS_SCHEMA, m) for m in MARTS])
    assert all(n > 0 for n in marts.linhas.values()) and not marts.achados, _relatorio(marts)
