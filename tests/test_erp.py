"""SAP Business One Service Layer-like ERP: the emulator over real HTTP on 127.0.0.1, and the dlt
loader into a real PostgreSQL (a database of its own, so the shared raw_erp of the other tests is
never touched): session login and renewal, refused credentials, paging, retries on 429/503,
incremental loads with cancellations, child tables of lines."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urljoin

import psycopg
import pytest
import requests

from mirante import config
from mirante.emulators import erp
from mirante.emulators.comercial import Mundo
from mirante.loaders.erp import LOADER, ErpLoginError
from mirante.loaders.erp.settings import ErpSettings

#: a quarter of the default world keeps each load small
HOJE = date(2025, 3, 31)
CREDS = {
    "CompanyDB": erp.EMULATOR_COMPANY_DB,
    "UserName": erp.EMULATOR_USERNAME,
    "Password": erp.EMULATOR_PASSWORD,
}
#: fast backoff for the tests (Retry-After still decides the wait when sent)
FAST_RETRY = {"request_backoff_factor": 0.05, "request_max_retry_delay": 2.0}
TEST_DB = "mirante_test_erp"
_pipelines = itertools.count(1)


# -- HTTP helpers ----------------------------------------------------------------------------------


def login(emu) -> requests.Session:
    s = requests.Session()
    r = s.post(f"{emu.base_url}/Login", json=CREDS, timeout=10)
    assert r.status_code == 200, r.text
    return s


def fetch_all(s: requests.Session, emu, path: str, page_size: int) -> tuple[list[dict], list[str]]:
    """Follow odata.nextLink from `path`; (documents, next links seen)."""
    url, docs, links = f"{emu.base_url}/{path}", [], []
    while url:
        r = s.get(url, headers={"Prefer": f"odata.maxpagesize={page_size}"}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["value"]) <= page_size
        docs += body["value"]
        link = body.get("odata.nextLink")
        if link:
            links.append(link)
        url = urljoin(url, link) if link else None
    return docs, links


def expected_invoices(mundo: Mundo) -> list:
    return [
        p
        for p in mundo.pedidos()
        if p.cancelado_em is None and p.data + timedelta(days=erp.dias_para_faturar(p)) <= mundo.hoje
    ]


@pytest.fixture
def emu():
    with erp.start(hoje=HOJE) as running:
        yield running


# -- emulator: Service Layer shapes ----------------------------------------------------------------


def test_login_returns_session_and_cookies(emu):
    r = requests.post(f"{emu.base_url}/Login", json=CREDS, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"odata.metadata", "SessionId", "Version", "SessionTimeout"}
    assert body["Version"] == "1000190" and body["SessionTimeout"] == 30
    assert body["odata.metadata"].endswith("/b1s/v1/$metadata#B1Sessions/@Element")
    set_cookies = r.raw.headers.getlist("Set-Cookie")
    b1 = next(c for c in set_cookies if c.startswith("B1SESSION="))
    assert b1.split(";")[0] == f"B1SESSION={body['SessionId']}" and "HttpOnly" in b1
    assert any(c.split(";")[0] == "ROUTEID=.node1" for c in set_cookies)
    assert r.cookies["B1SESSION"] == body["SessionId"]


def test_refused_login_and_missing_session_use_sap_error_codes(emu):
    bad = requests.post(f"{emu.base_url}/Login", json={**CREDS, "Password": "wrong"}, timeout=10)
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == -304
    assert "B1SESSION" not in bad.cookies
    anon = requests.get(f"{emu.base_url}/Orders", timeout=10)
    assert anon.status_code == 401
    assert anon.json() == {"error": {"code": 301, "message": {"lang": "en-us", "value": "Invalid session."}}}


def test_logout_ends_the_session(emu):
    s = login(emu)
    assert s.get(f"{emu.base_url}/Orders?$top=1", timeout=10).status_code == 200
    assert s.post(f"{emu.base_url}/Logout", timeout=10).status_code == 204
    r = s.get(f"{emu.base_url}/Orders?$top=1", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == 301


def test_paging_follows_relative_next_links_to_the_world_totals(emu):
    s = login(emu)
    orders, links = fetch_all(s, emu, "Orders", 250)
    assert links and all(link.startswith("Orders?") and "$skip=" in link for link in links)
    pedidos = emu.mundo.pedidos()
    assert len(orders) == len(pedidos) > 2000
    assert [d["DocEntry"] for d in orders] == [p.doc_entry for p in pedidos]  # stable DocEntry order
    invoices, _ = fetch_all(s, emu, "Invoices", 400)
    assert len(invoices) == len({d["DocEntry"] for d in invoices}) == len(expected_invoices(emu.mundo))
    assert {d["DocumentLines"][0]["BaseEntry"] for d in invoices} == {
        p.doc_entry for p in expected_invoices(emu.mundo)
    }
    # default page size is 20, like SAP
    first = s.get(f"{emu.base_url}/Orders", timeout=10).json()
    assert len(first["value"]) == 20 and first["odata.nextLink"].startswith("Orders?$skip=20")


def test_filter_select_orderby_top_skip(emu):
    s = login(emu)
    desde = "2025-03-01"
    docs, _ = fetch_all(s, emu, f"Orders?$filter=UpdateDate ge '{desde}'", 500)
    expected = [p for p in emu.mundo.pedidos() if p.atualizado_em(HOJE).isoformat() >= desde]
    assert len(docs) == len(expected) and all(d["UpdateDate"] >= desde for d in docs)
    gt, _ = fetch_all(s, emu, f"Orders?$filter=UpdateDate gt '{desde}'", 500)
    assert len(gt) == sum(1 for p in expected if p.atualizado_em(HOJE).isoformat() > desde)

    sel = s.get(
        f"{emu.base_url}/Orders?$select=DocEntry,UpdateDate&$orderby=UpdateDate desc&$top=50",
        headers={"Prefer": "odata.maxpagesize=100"},
        timeout=10,
    ).json()
    assert len(sel["value"]) == 50 and "odata.nextLink" not in sel
    assert all(set(d) == {"DocEntry", "UpdateDate"} for d in sel["value"])
    keys = [(d["UpdateDate"], -d["DocEntry"]) for d in sel["value"]]
    assert keys == sorted(keys, reverse=True)

    everything, _ = fetch_all(s, emu, "Invoices", 10_000)
    page = s.get(f"{emu.base_url}/Invoices?$skip=30&$top=7", timeout=10).json()
    assert page["value"] == everything[30:37]

    bad = s.get(f"{emu.base_url}/Orders?$filter=Nonsense eq 1", timeout=10)
    assert bad.status_code == 400 and "Nonsense" in bad.json()["error"]["message"]["value"]


def test_document_shape_lines_and_address(emu):
    s = login(emu)
    contrato = next(p for p in emu.mundo.pedidos() if p.contrato)
    doc = s.get(f"{emu.base_url}/Orders({contrato.doc_entry})", timeout=10).json()
    for key in (
        "DocEntry",
        "DocNum",
        "DocType",
        "DocDate",
        "DocDueDate",
        "CreationDate",
        "UpdateDate",
        "UpdateTime",
        "CardCode",
        "CardName",
        "DocTotal",
        "VatSum",
        "DocCurrency",
        "Cancelled",
        "SalesPersonCode",
        "U_Modalidade",
        "U_Contrato",
        "AddressExtension",
        "DocumentLines",
    ):
        assert key in doc
    assert doc["DocType"] == "dDocument_Items" and doc["DocCurrency"] == "R$"
    assert doc["U_Contrato"] == contrato.contrato and doc["CardCode"] == contrato.cliente.codigo
    assert doc["AddressExtension"] == {
        "ShipToCity": contrato.cliente.cidade,
        "ShipToState": contrato.cliente.sigla_uf,
        "ShipToCounty": contrato.cliente.id_municipio,
        "ShipToCountry": "BR",
    }
    orders, _ = fetch_all(s, emu, "Orders", 5000)
    for d in orders:
        assert d["U_Modalidade"] in ("loja", "online", "televendas", "representante")
        assert len(d["AddressExtension"]["ShipToCounty"]) == 7
        assert round(sum(line["LineTotal"] for line in d["DocumentLines"]), 2) == d["DocTotal"]


def test_cancellation_shows_once_the_clock_passes_it():
    mundo = Mundo(hoje=HOJE)
    pedido = next(p for p in mundo.pedidos() if p.cancelado_em and p.cancelado_em > HOJE)
    with erp.start(hoje=HOJE) as emu:
        s = login(emu)
        before = s.get(f"{emu.base_url}/Orders({pedido.doc_entry})", timeout=10).json()
        assert before["Cancelled"] == "tNO" and before["UpdateDate"] == pedido.data.isoformat()
        dias = (pedido.cancelado_em - HOJE).days
        r = requests.post(f"{emu.root_url}/_emulator/advance?dias={dias}", timeout=10)
        assert r.json() == {"hoje": pedido.cancelado_em.isoformat()}
        after = s.get(f"{emu.base_url}/Orders({pedido.doc_entry})", timeout=10).json()
        assert after["Cancelled"] == "tYES" and after["UpdateDate"] == pedido.cancelado_em.isoformat()
        assert after["DocumentLines"] == before["DocumentLines"]
        assert requests.post(f"{emu.root_url}/_emulator/advance?dias=-1", timeout=10).status_code == 400


def test_fault_injection(emu):
    s = login(emu)
    url = f"{emu.base_url}/Orders?$top=1"
    admin = f"{emu.root_url}/_emulator/faults"
    requests.post(admin, json={"status": 429, "count": 2, "retry_after": 1}, timeout=10).raise_for_status()
    for _ in range(2):
        r = s.get(url, timeout=10)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert s.get(url, timeout=10).status_code == 200
    requests.post(admin, json={"status": 503, "after": 1}, timeout=10).raise_for_status()
    assert s.get(url, timeout=10).status_code == 200
    assert s.get(url, timeout=10).status_code == 503
    assert s.get(url, timeout=10).status_code == 200
    requests.post(admin, json={"expire_sessions": True}, timeout=10).raise_for_status()
    r = s.get(url, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == 301
    assert requests.post(admin, json={"status": 200}, timeout=10).status_code == 400


def test_generator_mode_advances_the_clock():
    with erp.start(hoje=HOJE, generator_interval=0.2) as emu:
        for _ in range(100):  # polls for at most 10 s
            if emu.mundo.hoje > HOJE:
                break
            time.sleep(0.1)
        assert emu.mundo.hoje > HOJE
        s = login(emu)
        stats = requests.get(f"{emu.root_url}/_emulator/stats", timeout=10).json()
        orders, _ = fetch_all(s, emu, "Orders", 5000)
        assert stats["hoje"] > HOJE.isoformat()
        assert len(orders) >= len(Mundo(hoje=HOJE).pedidos())


@pytest.mark.timeout(120)
def test_cli_serves_until_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "mirante.emulators.erp", "--port", "0", "--hoje", HOJE.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().split()[0]
        assert base_url.endswith("/b1s/v1")
        s = requests.Session()
        assert s.post(f"{base_url}/Login", json=CREDS, timeout=10).status_code == 200
        assert len(s.get(f"{base_url}/Orders?$top=5", timeout=10).json()["value"]) == 5
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.stdout.close()


def test_settings_from_environment_or_secrets_file(monkeypatch):
    from mirante.loaders.erp import settings

    for env in settings.ENV.values():
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr(config, "read_secrets", lambda: {})
    monkeypatch.setenv("MIRANTE_ERP_PASSWORD", "s3cret-value")
    with pytest.raises(RuntimeError) as err:
        settings.read_settings()
    message = str(err.value)
    assert "MIRANTE_ERP_BASE_URL" in message and "MIRANTE_ERP_USERNAME" in message
    assert "MIRANTE_ERP_PASSWORD" not in message and "s3cret-value" not in message

    section = {"base_url": "http://file:50000", "company_db": "SBO_X", "username": "u", "password": "p"}
    monkeypatch.setattr(config, "read_secrets", lambda: {"sources": {"erp": section}})
    monkeypatch.setenv("MIRANTE_ERP_BASE_URL", "http://env:50000/b1s/v1/")
    got = settings.read_settings()
    assert (got.base_url, got.company_db, got.username, got.password) == (
        "http://env:50000/b1s/v1/",
        "SBO_X",
        "u",
        "s3cret-value",
    )
    assert "s3cret-value" not in repr(got)
    assert (
        settings.service_root(got.base_url)
        == settings.service_root("http://env:50000")
        == ("http://env:50000/b1s/v1")
    )


# -- loader into PostgreSQL ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def erp_db(server):
    """A database of this module's own, with the Mirante roles and schemas."""
    from mirante import db

    saved = os.environ.get("MIRANTE_DB")
    db.setup(server, database=TEST_DB)
    os.environ["MIRANTE_DB"] = TEST_DB
    yield server
    if saved is None:
        os.environ.pop("MIRANTE_DB", None)
    else:
        os.environ["MIRANTE_DB"] = saved
    with psycopg.connect(server.admin("postgres"), autocommit=True) as conn:
        conn.execute(f"drop database if exists {TEST_DB} with (force)")


@dataclass
class Raw:
    srv: config.Server
    pipeline_name: str


@pytest.fixture
def raw(erp_db):
    """An empty raw_erp in the module's database and a fresh pipeline name."""
    from mirante import db

    with psycopg.connect(erp_db.admin(TEST_DB), autocommit=True) as conn:
        conn.execute("drop schema if exists raw_erp cascade")
        conn.execute("drop schema if exists raw_erp_staging cascade")
    db.setup(erp_db, database=TEST_DB)
    name = f"erp_test_{next(_pipelines)}"
    shutil.rmtree(config.home() / "dlt" / name, ignore_errors=True)
    return Raw(erp_db, name)


def settings_for(emu, password: str = erp.EMULATOR_PASSWORD) -> ErpSettings:
    return ErpSettings(emu.base_url, erp.EMULATOR_COMPANY_DB, erp.EMULATOR_USERNAME, password)


def load(emu, raw: Raw, **kwargs):
    return LOADER.load(settings_for(emu), pipeline_name=raw.pipeline_name, **{**FAST_RETRY, **kwargs})


def q(srv, sql_text: str, *params):
    with psycopg.connect(srv.admin(TEST_DB)) as conn:
        return conn.execute(sql_text, params).fetchall()


def stats(emu) -> dict:
    return requests.get(f"{emu.root_url}/_emulator/stats", timeout=10).json()


def assert_raw_matches_emulator(srv, emu) -> None:
    """Raw tables = the emulator's documents: one row per DocEntry, one line per document line,
    no orphans, lines summing to DocTotal, cancellations as served."""
    s = login(emu)
    for table, entity in (("orders", "Orders"), ("invoices", "Invoices")):
        docs, _ = fetch_all(s, emu, entity, 5000)
        n, distinct = q(srv, f"select count(*), count(distinct doc_entry) from raw_erp.{table}")[0]
        assert n == distinct == len(docs), f"raw_erp.{table}: {n} rows, {distinct} ids, {len(docs)} served"
        lines, distinct_lines, orphans = q(
            srv,
            f"""
            select count(*), count(distinct (p.doc_entry, l.line_num)), count(*) filter (where p._dlt_id is null)
            from raw_erp.{table}__document_lines l left join raw_erp.{table} p on l._dlt_parent_id = p._dlt_id""",
        )[0]
        assert orphans == 0
        assert lines == distinct_lines == sum(len(d["DocumentLines"]) for d in docs)
        mismatched = q(
            srv,
            f"""
            select p.doc_entry from raw_erp.{table} p join raw_erp.{table}__document_lines l
              on l._dlt_parent_id = p._dlt_id
            group by p.doc_entry, p.doc_total having sum(l.line_total) <> p.doc_total""",
        )
        assert mismatched == []
        served_cancelled = {d["DocEntry"] for d in docs if d["Cancelled"] == "tYES"}
        raw_cancelled = {
            r[0] for r in q(srv, f"select doc_entry from raw_erp.{table} where cancelled = 'tYES'")
        }
        assert raw_cancelled == served_cancelled


def test_invalid_password_fails_at_once_without_leaking_it(raw, emu):
    secret = "Wr0ng-S3cret-pw"
    with pytest.raises(ErpLoginError) as err:
        LOADER.load(settings_for(emu, password=secret), pipeline_name=raw.pipeline_name, **FAST_RETRY)
    message = str(err.value)
    assert "SAP Business One" in message and erp.EMULATOR_COMPANY_DB in message
    assert emu.base_url in message and secret not in message
    st = stats(emu)
    assert st["logins_failed"] == 1 and st["logins"] == 0 and st["data_requests"] == 0


def test_full_load_lands_documents_and_child_lines(raw, emu):
    info = load(emu, raw, page_size=300)
    assert not info.has_failed_jobs
    st = stats(emu)
    assert st["logins"] == 1 and st["logouts"] == 1  # one session, closed at the end
    emu_db = raw.srv
    assert_raw_matches_emulator(emu_db, emu)
    assert q(emu_db, "select count(*) from raw_erp.orders")[0][0] == len(emu.mundo.pedidos())
    assert q(emu_db, "select count(*) from raw_erp.invoices")[0][0] == len(expected_invoices(emu.mundo))
    # typed columns: dates, money, the IBGE code as text, lines tied to their order
    types = dict(
        q(
            emu_db,
            """select column_name, data_type from information_schema.columns
                             where table_schema = 'raw_erp' and table_name = 'orders'""",
        )
    )
    assert types["update_date"] == "date" and types["doc_total"] == "numeric"
    assert types["address_extension__ship_to_county"] == "character varying"
    invoice_bases = q(
        emu_db,
        """select count(*) from raw_erp.invoices__document_lines l
                                 left join raw_erp.orders o on o.doc_entry = l.base_entry
                                 where o.doc_entry is null or o.cancelled = 'tYES'""",
    )[0][0]
    assert invoice_bases == 0, "every invoice line bills a non-cancelled order"


def test_session_expired_mid_load_is_renewed_once_and_the_load_completes(raw, emu):
    requests.post(
        f"{emu.root_url}/_emulator/faults", json={"expire_sessions": True, "after": 4}, timeout=10
    ).raise_for_status()
    load(emu, raw, page_size=200)
    st = stats(emu)
    assert st["logins"] == 2 and st["invalid_session"] == 1
    assert_raw_matches_emulator(raw.srv, emu)


def test_429_with_retry_after_and_503_are_retried(raw, emu):
    faults = f"{emu.root_url}/_emulator/faults"
    requests.post(faults, json={"status": 429, "count": 2, "retry_after": 1, "after": 2}, timeout=10)
    requests.post(faults, json={"status": 503, "count": 1, "after": 6}, timeout=10)
    load(emu, raw, page_size=200)
    st = stats(emu)
    assert st["faults_served"] == 3 and st["pending_faults"] == 0 and st["logins"] == 1
    assert_raw_matches_emulator(raw.srv, emu)


def test_persistent_5xx_fails_the_load_after_the_retries(raw, emu):
    requests.post(f"{emu.root_url}/_emulator/faults", json={"status": 500, "count": 100}, timeout=10)
    with pytest.raises(Exception) as err:
        load(emu, raw, request_max_attempts=3)
    assert "500" in str(err.value)
    assert stats(emu)["faults_served"] == 3


def test_incremental_reload_sees_new_and_cancelled_orders_without_duplicates(raw, emu):
    srv = raw.srv
    load(emu, raw)
    orders_before = q(srv, "select count(*) from raw_erp.orders")[0][0]
    pedido = next(
        p
        for p in emu.mundo.pedidos()
        if p.cancelado_em and HOJE < p.cancelado_em <= HOJE + timedelta(days=10)
    )
    assert q(
        srv, "select cancelled, update_date from raw_erp.orders where doc_entry = %s", pedido.doc_entry
    ) == [("tNO", pedido.data)]
    lines_of_pedido = len(pedido.linhas)

    requests.post(f"{emu.root_url}/_emulator/advance?dias=10", timeout=10).raise_for_status()
    info = load(emu, raw)
    assert not info.has_failed_jobs
    # only the documents updated since the last UpdateDate were read again
    counts = info.pipeline.last_trace.last_normalize_info.row_counts
    novos = [p for p in emu.mundo.pedidos() if p.atualizado_em(emu.mundo.hoje) >= HOJE]
    assert counts["orders"] == len(novos) < orders_before

    assert q(
        srv, "select cancelled, update_date from raw_erp.orders where doc_entry = %s", pedido.doc_entry
    ) == [("tYES", pedido.cancelado_em)]
    assert (
        q(
            srv,
            """select count(*) from raw_erp.orders__document_lines l join raw_erp.orders o
                     on l._dlt_parent_id = o._dlt_id where o.doc_entry = %s""",
            pedido.doc_entry,
        )[0][0]
        == lines_of_pedido
    )
    new_orders = [p for p in emu.mundo.pedidos() if p.data > HOJE]
    assert new_orders
    present = {r[0] for r in q(srv, "select doc_entry from raw_erp.orders where doc_date > %s", HOJE)}
    assert present == {p.doc_entry for p in new_orders}
    assert_raw_matches_emulator(srv, emu)
