"""Who may read what through the data API: API keys (401), scopes (403), municipalities enforced by
PostgreSQL row-level security on the e-SUS marts, the `mirante api-key` commands, and the API's
answers that must not depend on the client: pagination links whatever the Host header, an unknown
mart answered without re-reading the catalogue, the documented offset bound."""

from __future__ import annotations

import psycopg
import pytest
import requests

from mirante import cli, config
from mirante.api import keys
from mirante.api.app import MAX_OFFSET, create_app
from tests.test_api import serve

pytestmark = pytest.mark.integration

VACINA = "agg_vacinacao_dose_mes"
VOLUME = "agg_esus_volume_diario"
UF_ANO = "agg_saneamento_uf_ano"
#: the e-SUS marts (dbt folder marts/atencao_primaria): row-level security by id_municipio
ESUS_MARTS = (
    "agg_cidadaos_cadastrados_municipio",
    "agg_esus_pontualidade_municipio",
    VOLUME,
    VACINA,
    "agg_visita_domiciliar_mes",
    "fct_atendimento_individual_diario",
)


@pytest.fixture(scope="module")
def site(built):
    """The API as mirante_api; a catalogue TTL of an hour so that no test here re-reads it by age."""
    with serve(create_app(built.url("api"), catalogue_ttl=3600)) as running:
        yield running


@pytest.fixture(scope="module")
def admin_url(built) -> str:
    return built.admin()


@pytest.fixture
def new_key(admin_url):
    """Factory of keys, all revoked after the test."""
    made = []

    def make(escopos, municipios=None, nome="teste"):
        key, token = keys.create(admin_url, nome, escopos, municipios)
        made.append(key.id)
        return key, token

    yield make
    for key_id in made:
        keys.revoke(admin_url, key_id)


def get(site, path: str, token: str | None = None, **kw) -> requests.Response:
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(site.base_url + path, headers=headers, timeout=30, **kw)


def unauthorized(resp: requests.Response, words: str) -> str:
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"].startswith('Bearer realm="mirante"')
    detail = resp.json()["detail"]
    assert words in detail, detail
    return detail


# ------------------------------------------------------------------------------------ 401 / 403


@pytest.mark.parametrize("path", ["/v1/marts", f"/v1/{UF_ANO}", f"/v1/{VACINA}?ano=2025", "/v1/nao_existe"])
def test_no_key_is_401_on_every_v1_route(site, path):
    detail = unauthorized(get(site, path), "missing API key")
    assert "Authorization: Bearer" in detail and "mirante api-key create" in detail


def test_health_and_openapi_stay_open(site):
    assert get(site, "/health").json() == {"status": "ok"}
    doc = get(site, "/openapi.json")
    assert doc.status_code == 200 and f"/v1/{UF_ANO}" in doc.json()["paths"]


def test_bad_keys_are_401(site, new_key):
    key, token = new_key(["*"])
    assert get(site, f"/v1/{UF_ANO}", token).status_code == 200
    unauthorized(get(site, f"/v1/{UF_ANO}", headers={"Authorization": f"Basic {token}"}), "'Bearer <key>'")
    unauthorized(get(site, f"/v1/{UF_ANO}", "not-a-key"), "malformed API key")
    wrong_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    unauthorized(get(site, f"/v1/{UF_ANO}", wrong_secret), "unknown id or wrong secret")
    unknown_id = f"mrt_{'0' * 12}_{token.split('_', 2)[2]}"
    unauthorized(get(site, f"/v1/{UF_ANO}", unknown_id), "unknown id or wrong secret")
    assert token not in get(site, f"/v1/{UF_ANO}", wrong_secret).text


def test_revoked_key_is_401_on_the_next_request(site, new_key, admin_url):
    key, token = new_key([UF_ANO], nome="revogada")
    assert get(site, f"/v1/{UF_ANO}", token).status_code == 200
    keys.revoke(admin_url, key.id)
    detail = unauthorized(get(site, f"/v1/{UF_ANO}", token), "was revoked on")
    assert f"mrt_{key.id}" in detail and "'revogada'" in detail
    unauthorized(get(site, "/v1/marts", token), "was revoked")


def test_mart_outside_the_scopes_is_403(site, new_key):
    _, token = new_key(["agg_saneamento_*"], nome="saneamento")
    assert get(site, f"/v1/{UF_ANO}", token, params={"sigla_uf": "SP"}).status_code == 200
    resp = get(site, "/v1/vendas_uf", token)
    assert resp.status_code == 403, resp.text
    assert resp.json()["detail"] == (
        "API key 'saneamento' (mrt_{}) may not read mart 'vendas_uf'; its scopes: agg_saneamento_*"
    ).format(token.split("_")[1])
    assert get(site, f"/v1/{VACINA}", token).status_code == 403
    # the list of marts shows only what the key may read; an unknown mart is still a 404
    listed = {m["name"] for m in get(site, "/v1/marts", token).json()["data"]}
    assert listed == {"agg_saneamento_uf_ano", "agg_saneamento_brasil_ano"}
    assert get(site, "/v1/nao_existe", token).status_code == 404


# ------------------------------------------------------------------------ municipalities (RLS)


def test_municipality_key_reads_only_its_rows(site, new_key, admin):
    counts = dict(admin.execute(f"select id_municipio, count(*) from marts.{VACINA} group by 1 order by 1"))
    assert len(counts) >= 2, "the emulated registry has several municipalities"
    muni, other = list(counts)[:2]
    key, token = new_key(["*"], municipios=[muni], nome=f"municipio {muni}")
    assert key.municipios == (muni,)

    body = get(site, f"/v1/{VACINA}", token, params={"limit": 1000}).json()
    assert body["pagination"]["total"] == counts[muni] < sum(counts.values())
    assert {r["id_municipio"] for r in body["data"]} == {muni}
    # asking for another municipality's rows finds none (the filter cannot widen what RLS shows)
    body = get(site, f"/v1/{VACINA}", token, params={"id_municipio": other}).json()
    assert body["pagination"]["total"] == 0 and body["data"] == []
    # every e-SUS mart: exactly the municipality's rows
    for mart in ESUS_MARTS:
        expected = admin.execute(
            f"select count(*) from marts.{mart} where id_municipio = %s", (muni,)
        ).fetchone()[0]
        total = get(site, f"/v1/{mart}", token).json()["pagination"]["total"]
        assert total == expected, mart
    # a key of two municipalities sees both; an unrestricted key sees all
    _, both = new_key([VACINA], municipios=[muni, other])
    assert get(site, f"/v1/{VACINA}", both).json()["pagination"]["total"] == counts[muni] + counts[other]
    _, every = new_key([VACINA])
    assert get(site, f"/v1/{VACINA}", every).json()["pagination"]["total"] == sum(counts.values())


def test_row_level_security_is_in_the_database(built, admin):
    """The policies, not the API, hide the rows: as mirante_api with no municipality setting no row
    is visible (fail closed), with one municipality only its rows; mirante_reader reads them all."""
    total, muni, own = admin.execute(
        f"select (select count(*) from marts.{VOLUME}), id_municipio, count(*) from marts.{VOLUME} "
        "group by id_municipio order by id_municipio limit 1"
    ).fetchone()
    with psycopg.connect(built.url("api"), autocommit=True) as conn:
        assert conn.execute(f"select count(*) from marts.{VOLUME}").fetchone()[0] == 0
        with conn.transaction():
            conn.execute("select set_config('mirante.municipios', %s, true)", (muni,))
            assert conn.execute(f"select count(*) from marts.{VOLUME}").fetchone()[0] == own < total
        with conn.transaction():
            conn.execute("select set_config('mirante.municipios', '*', true)")
            assert conn.execute(f"select count(*) from marts.{VOLUME}").fetchone()[0] == total
        # local to the transaction: gone afterwards
        assert conn.execute(f"select count(*) from marts.{VOLUME}").fetchone()[0] == 0
    with psycopg.connect(built.url("reader"), autocommit=True) as conn:
        assert conn.execute(f"select count(*) from marts.{VOLUME}").fetchone()[0] == total
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select hash from seguranca.chaves_api")
    enabled = dict(
        admin.execute(
            "select c.relname, c.relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'marts' and c.relkind = 'r'"
        )
    )
    assert all(enabled[m] for m in ESUS_MARTS), enabled
    assert not enabled["dim_municipio"] and not enabled[UF_ANO]


# ------------------------------------------------------------------ links, 404s, bounds


def test_pagination_links_ignore_the_host_header(site, new_key, monkeypatch):
    _, token = new_key(["*"])
    params = {"limit": 5, "sigla_uf": "SP"}
    resp = get(site, "/v1/dim_municipio", token, params=params, headers={"Host": "evil.example"})
    nxt = resp.json()["pagination"]["next"]
    assert resp.status_code == 200 and "evil" not in resp.text
    assert nxt == "/v1/dim_municipio?sigla_uf=SP&limit=5&offset=5"
    # absolute links on the configured public URL
    monkeypatch.setenv("MIRANTE_API_PUBLIC_URL", "https://dados.mirante.example/api/")
    resp = get(site, "/v1/dim_municipio", token, params=params, headers={"Host": "evil.example"})
    assert resp.json()["pagination"]["next"] == (
        "https://dados.mirante.example/api/v1/dim_municipio?sigla_uf=SP&limit=5&offset=5"
    )
    # the link works
    monkeypatch.delenv("MIRANTE_API_PUBLIC_URL")
    page2 = get(site, nxt, token).json()
    assert page2["pagination"]["offset"] == 5 and len(page2["data"]) == 5


def test_unknown_mart_is_404_without_reading_the_catalogue(site, new_key):
    _, token = new_key(["*"])
    service = site.app.state.api
    generation = service._generation  # bumps on every catalogue read
    for i in range(50):
        resp = get(site, f"/v1/nao_existe_{i}", token)
        assert resp.status_code == 404 and "GET /v1/marts lists the marts" in resp.json()["detail"]
    assert service._generation == generation, "a 404 must not re-read the catalogue within its TTL"
    assert get(site, f"/v1/{UF_ANO}", token).status_code == 200


def test_offset_bound_is_the_documented_one(site, new_key):
    _, token = new_key([UF_ANO])
    doc = get(site, "/openapi.json").json()
    offset = next(p for p in doc["paths"][f"/v1/{UF_ANO}"]["get"]["parameters"] if p["name"] == "offset")
    assert offset["schema"]["maximum"] == MAX_OFFSET == 1_000_000
    at_bound = get(site, f"/v1/{UF_ANO}", token, params={"offset": MAX_OFFSET})
    assert at_bound.status_code == 200 and at_bound.json()["data"] == []
    past = get(site, f"/v1/{UF_ANO}", token, params={"offset": MAX_OFFSET + 1})
    assert past.status_code == 400
    assert past.json()["detail"] == "offset must be an integer between 0 and 1000000, got '1000001'"


# ------------------------------------------------------------------------------ the commands


def test_api_key_commands(site, capsys, admin):
    assert (
        cli.main(
            [
                "api-key",
                "create",
                "--nome",
                "cli teste",
                "--escopo",
                VACINA,
                "--escopo",
                "dim_*",
                "--municipio",
                "2611606",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    token = out.strip().splitlines()[-1]
    key_id, secret = keys.parse(token)
    assert "shown only now" in out and "municipalities 2611606" in out
    stored = admin.execute(
        "select hash, escopos, municipios from seguranca.chaves_api where id = %s", (key_id,)
    ).fetchone()
    assert stored == (keys.digest(secret), [VACINA, "dim_*"], ["2611606"])
    assert secret not in str(stored), "only the hash is stored"
    assert get(site, "/v1/dim_municipio", token).status_code == 200

    assert cli.main(["api-key", "list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if key_id in l)
    assert "cli teste" in line and "2611606" in line and line.rstrip().endswith("-") and secret not in line

    assert cli.main(["api-key", "revoke", key_id]) == 0
    assert "revoked on" in capsys.readouterr().out
    unauthorized(get(site, "/v1/dim_municipio", token), "was revoked")
    # bad input: one clear line, exit 1
    assert cli.main(["api-key", "create", "--nome", "x", "--escopo", "x;drop", "--municipio", "123"]) == 1
    assert "invalid scope" in capsys.readouterr().err
    assert cli.main(["api-key", "revoke", "ffffffffffff"]) == 1
    assert "no API key with id" in capsys.readouterr().err
    assert config.role_name("api") == "mirante_api"
