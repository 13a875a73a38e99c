"""The data API over real HTTP (uvicorn on 127.0.0.1, requests) against the built marts, as
mirante_api with a key that may read every mart (keys, scopes and municipalities themselves:
tests/test_api_auth.py); every figure is checked against a direct SQL query as the admin."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest
import requests

pytestmark = pytest.mark.integration

UF_ANO = "agg_saneamento_uf_ano"
VACINA = "agg_vacinacao_dose_mes"  # id_municipio, ano, mes columns
VISITA = "agg_visita_domiciliar_mes"
VOLUME = "agg_esus_volume_diario"  # id_municipio, data (ano/mes derived from it)
ATEND = "fct_atendimento_individual_diario"  # date column data_atendimento


class Running:
    def __init__(self, app, base_url, token: str | None = None):
        self.app, self.base_url, self.token = app, base_url, token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params) -> requests.Response:
        return requests.get(self.base_url + path, params=params or None, headers=self.headers, timeout=30)

    def url(self, url: str) -> requests.Response:
        """GET of a path with its query (e.g. a pagination link) or a whole URL, with the key."""
        return requests.get(url if "://" in url else self.base_url + url, headers=self.headers, timeout=30)


@contextmanager
def serve(app, token: str | None = None):
    """The app served by uvicorn in a background thread on a free loopback port."""
    from mirante.api import dashboard

    with dashboard.serving(app) as base:
        yield Running(app, base, token)


@pytest.fixture(scope="module")
def api(built):
    """The app as `make api` serves it (mirante_api), and a key that may read every mart."""
    from mirante.api import keys
    from mirante.api.app import create_app

    key, token = keys.create(built.admin(), "test_api", ["*"])
    with serve(create_app(built.url("api")), token) as running:
        yield running
    keys.revoke(built.admin(), key.id)


def _json(value):
    """A value from psycopg as the API renders it in JSON."""
    if isinstance(value, Decimal):
        return float(value)  # equal to the int or float JSON gives for the same digits
    if isinstance(value, date):
        return value.isoformat()
    return value


def sql_rows(admin, query: str, params=()) -> list[dict]:
    cur = admin.execute(query, params)
    names = [d.name for d in cur.description]
    return [{n: _json(v) for n, v in zip(names, row, strict=False)} for row in cur.fetchall()]


def count(admin, query: str, params=()) -> int:
    return admin.execute(query, params).fetchone()[0]


def ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    return resp.json()


# --------------------------------------------------------------------------------------------


def test_health(api):
    assert ok(api.get("/health")) == {"status": "ok"}


def test_an_app_given_no_operations_data_says_so(api):
    # the API layer imports no orchestration: `mirante api` gives it the Operação data, this app none
    resp = api.get("/v1/operacao")
    assert resp.status_code == 503 and "no operations data" in resp.json()["detail"]


def test_marts_lists_every_mart(api, admin):
    expected = {
        r[0]
        for r in admin.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "and position('__dbt_' in table_name) = 0"
        )
    }
    marts = {m["name"]: m for m in ok(api.get("/v1/marts"))["data"]}
    assert set(marts) == expected and {UF_ANO, VACINA, VOLUME, ATEND} <= expected
    assert marts[UF_ANO]["path"] == f"/v1/{UF_ANO}"
    assert marts[UF_ANO]["filters"] == ["sigla_uf", "ano"]
    assert marts[UF_ANO]["description"], "descriptions come from the dbt manifest"
    assert [c["name"] for c in marts[UF_ANO]["columns"]][:2] == ["sigla_uf", "ano"]
    assert marts[ATEND]["date_column"] == "data_atendimento"
    assert set(marts[ATEND]["filters"]) == {"id_municipio", "ano", "mes", "data_inicio", "data_fim"}
    assert marts["dim_municipio"]["filters"] == ["id_municipio", "sigla_uf"]


def test_sigla_uf_filter_matches_sql(api, admin):
    body = ok(api.get(f"/v1/{UF_ANO}", sigla_uf="SP"))
    expected = sql_rows(admin, f"select * from marts.{UF_ANO} where sigla_uf = 'SP' order by sigla_uf, ano")
    assert expected, "the SNIS marts have São Paulo"
    assert body["mart"] == UF_ANO
    assert body["data"] == expected  # every value, numerics as JSON numbers
    assert body["pagination"] == {"limit": 100, "offset": 0, "total": len(expected), "next": None}
    assert isinstance(body["data"][0]["volume_agua_produzido"], (int, float))
    # lower case is accepted and means the same UF
    assert ok(api.get(f"/v1/{UF_ANO}", sigla_uf="sp"))["data"] == expected


def test_id_municipio_filter_on_primary_care(api, admin):
    muni, n = admin.execute(
        f"select id_municipio, count(*) from marts.{VACINA} group by 1 order by 1 limit 1"
    ).fetchone()
    body = ok(api.get(f"/v1/{VACINA}", id_municipio=muni, limit=1000))
    assert body["pagination"]["total"] == n > 0
    assert {r["id_municipio"] for r in body["data"]} == {muni}
    assert body["data"] == sql_rows(
        admin,
        f"select * from marts.{VACINA} where id_municipio = %s "
        "order by id_municipio, ano, mes, sigla_imunobiologico limit 1000",
        (muni,),
    )


def test_ano_mes_filters(api, admin):
    ano, mes = admin.execute(f"select ano, mes from marts.{VISITA} order by ano, mes limit 1").fetchone()
    body = ok(api.get(f"/v1/{VISITA}", ano=ano, mes=mes))
    assert (
        body["pagination"]["total"]
        == count(admin, f"select count(*) from marts.{VISITA} where ano = %s and mes = %s", (ano, mes))
        > 0
    )
    assert {(r["ano"], r["mes"]) for r in body["data"]} == {(ano, mes)}
    only_year = ok(api.get(f"/v1/{VISITA}", ano=ano))["pagination"]["total"]
    assert only_year == count(admin, f"select count(*) from marts.{VISITA} where ano = %s", (ano,))

    # a daily mart without ano/mes columns: both are taken from its date column
    day = admin.execute(f"select max(data) from marts.{VOLUME}").fetchone()[0]
    body = ok(api.get(f"/v1/{VOLUME}", ano=day.year, mes=day.month, limit=1000))
    assert (
        body["pagination"]["total"]
        == count(
            admin,
            f"select count(*) from marts.{VOLUME} where extract(year from data) = %s "
            "and extract(month from data) = %s",
            (day.year, day.month),
        )
        > 0
    )
    assert {r["data"][:7] for r in body["data"]} == {f"{day.year}-{day.month:02d}"}
    by_month = ok(api.get(f"/v1/{VOLUME}", mes=day.month))["pagination"]["total"]
    assert by_month == count(
        admin, f"select count(*) from marts.{VOLUME} where extract(month from data) = %s", (day.month,)
    )


def test_date_range_filter(api, admin):
    first = admin.execute(f"select min(data_atendimento) from marts.{ATEND}").fetchone()[0]
    inicio, fim = first + timedelta(days=5), first + timedelta(days=12)
    body = ok(api.get(f"/v1/{ATEND}", data_inicio=inicio.isoformat(), data_fim=fim.isoformat(), limit=1000))
    expected = count(
        admin, f"select count(*) from marts.{ATEND} where data_atendimento between %s and %s", (inicio, fim)
    )
    assert body["pagination"]["total"] == expected > 0
    assert all(inicio.isoformat() <= r["data_atendimento"] <= fim.isoformat() for r in body["data"])
    # one bound only, combined with another filter
    muni = body["data"][0]["id_municipio"]
    body = ok(api.get(f"/v1/{ATEND}", data_inicio=fim.isoformat(), id_municipio=muni))
    assert body["pagination"]["total"] == count(
        admin,
        f"select count(*) from marts.{ATEND} where data_atendimento >= %s and id_municipio = %s",
        (fim, muni),
    )
    # a single day
    day = ok(api.get(f"/v1/{ATEND}", data_inicio=inicio.isoformat(), data_fim=inicio.isoformat()))
    assert {r["data_atendimento"] for r in day["data"]} <= {inicio.isoformat()}


def test_pagination_walks_every_row_once(api, admin):
    muni = admin.execute(f"select min(id_municipio) from marts.{VOLUME}").fetchone()[0]
    total = count(admin, f"select count(*) from marts.{VOLUME} where id_municipio = %s", (muni,))
    assert total > 300
    url, seen, offsets = f"/v1/{VOLUME}?id_municipio={muni}&limit=97", [], []
    while url:
        body = ok(api.url(url))
        p = body["pagination"]
        assert p["total"] == total and p["limit"] == 97 and len(body["data"]) == min(97, total - p["offset"])
        offsets.append(p["offset"])
        seen += body["data"]
        url = p["next"]
        assert url is None or url.startswith(f"/v1/{VOLUME}?"), "relative links (no MIRANTE_API_PUBLIC_URL)"
    assert offsets == list(range(0, total, 97))
    keys = [(r["id_municipio"], r["data"]) for r in seen]
    assert len(keys) == len(set(keys)) == total
    assert keys == sorted(keys), "pages follow the key order"
    assert seen == sql_rows(
        admin, f"select * from marts.{VOLUME} where id_municipio = %s order by data", (muni,)
    )
    # past the end: an empty page, the total still right, no next
    body = ok(api.get(f"/v1/{VOLUME}", id_municipio=muni, offset=total + 5))
    assert body["data"] == [] and body["pagination"]["total"] == total and body["pagination"]["next"] is None


BAD = [
    (f"/v1/{VISITA}?mes=13", "mes"),
    (f"/v1/{VISITA}?mes=0", "mes"),
    (f"/v1/{VISITA}?ano=1899", "ano"),
    (f"/v1/{VISITA}?ano=dois-mil", "ano"),
    (f"/v1/{VISITA}?ano=", "ano"),
    (f"/v1/{UF_ANO}?sigla_uf=XX", "sigla_uf"),
    (f"/v1/{VACINA}?id_municipio=123", "id_municipio"),
    (f"/v1/{VACINA}?id_municipio=35503080", "id_municipio"),
    (
        f"/v1/{VACINA}?id_municipio=%D9%A3%D9%A5%D9%A5%D9%A0%D9%A3%D9%A0%D9%A8",
        "id_municipio",
    ),  # Arabic-Indic digits
    (f"/v1/{VISITA}?ano=%D9%A2%D9%A0%D9%A2%D9%A1", "ano"),
    (f"/v1/{ATEND}?data_inicio=2025-02-01&data_fim=2025-01-31", "data_inicio"),
    (f"/v1/{ATEND}?data_inicio=2025-02-30", "data_inicio"),
    (f"/v1/{ATEND}?data_fim=01/02/2025", "data_fim"),
    (f"/v1/{UF_ANO}?limit=0", "limit"),
    (f"/v1/{UF_ANO}?limit=1001", "limit"),
    (f"/v1/{UF_ANO}?offset=-1", "offset"),
    (f"/v1/{UF_ANO}?foo=1", "foo"),
    (f"/v1/{UF_ANO}?sigla_uf=SP&sigla_uf=RJ", "sigla_uf"),
    # filters that exist but not on this mart
    (f"/v1/{UF_ANO}?id_municipio=3550308", "id_municipio"),
    (f"/v1/{UF_ANO}?data_inicio=2021-01-01", "data_inicio"),
    (f"/v1/{UF_ANO}?mes=1", "mes"),
    ("/v1/dim_municipio?ano=2021", "ano"),
    # SQL in values and names
    (f"/v1/{UF_ANO}?sigla_uf=SP'%20OR%20'1'='1", "sigla_uf"),
    (f"/v1/{VACINA}?id_municipio=3550308;drop%20table%20marts.{VACINA}", "id_municipio"),
    (f"/v1/{UF_ANO}?ano=2021%20or%201=1", "ano"),
    (f"/v1/{UF_ANO}?limit=1;select%20pg_sleep(10)", "limit"),
    (f"/v1/{UF_ANO}?ano%3Bdrop%20table%20marts.{UF_ANO}--=1", "drop table"),
    ("/v1/marts?sigla_uf=SP", "sigla_uf"),
]


@pytest.mark.parametrize("path,names", BAD, ids=[b[0].split("/v1/")[1][:60] for b in BAD])
def test_bad_parameters_are_clear_4xx(api, path, names):
    resp = api.url(path)
    assert resp.status_code == 400, resp.text
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and names in detail
    # the API's own SQL and driver errors never reach the client (the value may be echoed)
    assert not any(w in detail.lower() for w in ("to_json", "count(*)", "order by", "psycopg", "syntax"))


@pytest.mark.parametrize(
    "path",
    [
        "/v1/nao_existe",
        f"/v1/{UF_ANO};drop%20table%20marts.{UF_ANO}",
        "/v1/raw_snis.agua_esgoto_agregado",
        "/v1/pg_catalog.pg_authid",
        "/v1/%27%20or%201=1--",
        "/v1/marts/../raw_snis",
    ],
)
def test_unknown_marts_are_404(api, path):
    resp = api.url(path)
    assert resp.status_code == 404, resp.text
    assert isinstance(resp.json()["detail"], str)


def test_bad_requests_leave_the_data_alone(api, admin):
    for path, _ in BAD:
        api.url(path)
    assert count(admin, f"select count(*) from marts.{UF_ANO}") == 27
    assert count(admin, f"select count(*) from marts.{VACINA}") > 0
    assert requests.post(f"{api.base_url}/v1/{UF_ANO}", headers=api.headers, timeout=30).status_code == 405


def test_openapi_lists_each_mart_with_its_filters(api):
    doc = ok(api.get("/openapi.json"))
    marts = ok(api.get("/v1/marts"))["data"]
    for mart in marts:
        op = doc["paths"][mart["path"]]["get"]
        assert [p["name"] for p in op["parameters"]] == mart["filters"] + ["limit", "offset"]
    params = {p["name"]: p for p in doc["paths"][f"/v1/{UF_ANO}"]["get"]["parameters"]}
    assert set(params) == {"sigla_uf", "ano", "limit", "offset"}
    assert len(params["sigla_uf"]["schema"]["enum"]) == 27
    assert params["limit"]["schema"]["maximum"] == 1000
    assert params["offset"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0}
    assert doc["paths"][f"/v1/{UF_ANO}"]["get"]["security"] == [{"chave_api": []}]
    assert doc["components"]["securitySchemes"]["chave_api"]["scheme"] == "bearer"
    params = {p["name"] for p in doc["paths"][f"/v1/{ATEND}"]["get"]["parameters"]}
    assert {"id_municipio", "data_inicio", "data_fim"} <= params and "sigla_uf" not in params
    assert "/v1/{mart}" not in doc["paths"]


def test_docs_page_works_offline(api):
    """/docs loads swagger-ui from the app itself (pip package swagger-ui-bundle), not from a CDN."""
    page = requests.get(api.base_url + "/docs", timeout=30)
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text.replace("https://fastapi", "")
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
        resp = requests.get(api.base_url + asset, timeout=30)
        assert asset in page.text and resp.status_code == 200 and len(resp.content) > 10_000, asset
    assert requests.get(api.base_url + "/redoc", timeout=30).status_code == 404  # it would need a CDN


def test_runs_as_api_role_that_cannot_read_raw(api, admin):
    pool = api.app.state.api.pool
    ok(api.get(f"/v1/{UF_ANO}"))
    with pool.connection() as conn:
        user, read_only, timeout = conn.execute(
            "select current_user, current_setting('transaction_read_only'), "
            "current_setting('statement_timeout')"
        ).fetchone()
        assert (user, read_only, timeout) == ("mirante_api", "on", "5s")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with conn.transaction():
                conn.execute("select count(*) from raw_snis.agua_esgoto_agregado")
        with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
            with conn.transaction():
                conn.execute(f"delete from marts.{UF_ANO}")
    users = admin.execute(
        "select usename from pg_stat_activity where application_name = 'mirante-api' "
        "and datname = current_database()"
    ).fetchall()
    assert users and {u[0] for u in users} == {"mirante_api"}


def test_a_new_mart_appears_and_a_dropped_one_goes(api, built, admin):
    name = "api_teste_mart_novo"
    with psycopg.connect(built.url("transformer"), autocommit=True) as tr:
        tr.execute(f"drop table if exists marts.{name}")
        tr.execute(
            f"create table marts.{name} (id_municipio text, ano integer, receita numeric(18,2), "
            "primary key (id_municipio, ano))"
        )
        tr.execute(
            f"insert into marts.{name} values ('3550308', 2024, 10.50), ('3550308', 2025, 12.25), "
            "('3304557', 2025, 7.00)"
        )
        service = api.app.state.api
        ttl, service.catalogue_ttl = service.catalogue_ttl, 0  # as if the TTL had run out
        try:
            assert name not in service.marts
            body = ok(api.get(f"/v1/{name}", ano=2025))
            assert body["data"] == [
                {"id_municipio": "3304557", "ano": 2025, "receita": 7.0},
                {"id_municipio": "3550308", "ano": 2025, "receita": 12.25},
            ]
            assert f"/v1/{name}" in ok(api.get("/openapi.json"))["paths"]
            assert name in {m["name"] for m in ok(api.get("/v1/marts"))["data"]}
            assert api.get(f"/v1/{name}", sigla_uf="SP").status_code == 400
        finally:
            tr.execute(f"drop table if exists marts.{name}")
            service.catalogue_ttl = ttl
    resp = api.get(f"/v1/{name}")  # the query finds it dropped: the catalogue is re-read
    assert resp.status_code == 404, resp.text
    assert f"/v1/{name}" not in ok(api.get("/openapi.json"))["paths"]


def test_connections_killed_by_the_server_are_replaced(api, admin):
    for _ in range(3):
        ok(api.get(f"/v1/{UF_ANO}"))
    killed = admin.execute(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity "
        "where application_name = 'mirante-api' and datname = current_database()"
    ).fetchone()[0]
    assert killed >= 1
    body = ok(api.get(f"/v1/{UF_ANO}", sigla_uf="SP"))
    assert body["pagination"]["total"] == count(
        admin, f"select count(*) from marts.{UF_ANO} where sigla_uf = 'SP'"
    )


def test_a_query_over_the_statement_timeout_is_a_503_not_a_500(api, built):
    """A mart slower than the reader sessions' statement_timeout (5 s) is cancelled with a clear
    503 (a view sleeping 6 s stands for it)."""
    name = "api_teste_mart_lento"
    with psycopg.connect(built.url("transformer"), autocommit=True) as tr:
        tr.execute(f"create or replace view marts.{name} as select 2025 as ano from pg_sleep(6)")
        try:
            api.app.state.api.refresh()
            resp = api.get(f"/v1/{name}")
            assert resp.status_code == 503, resp.text
            assert "cancelled" in resp.json()["detail"]
        finally:
            tr.execute(f"drop view if exists marts.{name}")
    ok(api.get("/health"))


def test_sales_marts(api, admin):
    """The commercial domain through the same routes: UF and month on vendas_uf, a month of the
    daily KPI mart through its date column."""
    uf, ano, mes = admin.execute(
        "select sigla_uf, ano, mes from marts.vendas_uf order by receita desc limit 1"
    ).fetchone()
    body = ok(api.get("/v1/vendas_uf", sigla_uf=uf, ano=ano, mes=mes))
    assert body["data"] == sql_rows(
        admin, "select * from marts.vendas_uf where sigla_uf = %s and ano = %s and mes = %s", (uf, ano, mes)
    )
    assert len(body["data"]) == 1 and body["data"][0]["receita"] > 0
    body = ok(api.get("/v1/kpi_comercial_diario", ano=ano, mes=mes))
    expected = sql_rows(
        admin,
        "select * from marts.kpi_comercial_diario where extract(year from data) = %s "
        "and extract(month from data) = %s order by data",
        (ano, mes),
    )
    assert body["data"] == expected and len(expected) >= 28
    assert api.get("/v1/kpi_comercial_diario", sigla_uf=uf).status_code == 400
