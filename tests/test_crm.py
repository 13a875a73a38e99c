"""Ploomes-like CRM: the emulator over real HTTP on 127.0.0.1, and the dlt loader into the real
PostgreSQL (raw_crm): paging, auth failure, retries on 429/5xx, incremental merge."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

import psycopg
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from requests import HTTPError

from mirante import config
from mirante.emulators import crm as emulator
from mirante.emulators.comercial import POPULACAO_UF, Mundo
from mirante.errors import find_cause
from mirante.loaders.crm import LOADER, CrmAuthError, crm_source, settings

from .helpers import own_database, reset_raw

HOJE = date(2025, 12, 31)
BAD_KEY = "not-the-crm-key-7f3a91"
CONTACT_KEYS = {
    "Id",
    "Name",
    "LegalName",
    "Register",
    "TypeId",
    "Email",
    "Phones",
    "CityId",
    "City",
    "OwnerId",
    "CreateDate",
    "LastUpdateDate",
}
DEAL_KEYS = {
    "Id",
    "Title",
    "ContactId",
    "PipelineId",
    "StageId",
    "Stage",
    "StatusId",
    "Amount",
    "CreateDate",
    "FinishDate",
    "OwnerId",
    "LastUpdateDate",
}
INTERACTION_KEYS = {"Id", "ContactId", "DealId", "Date", "TypeId", "Content", "CreateDate", "LastUpdateDate"}
TABLES = ("contacts", "deals", "interactions")
ENTITY = {"contacts": "Contacts", "deals": "Deals", "interactions": "Interactions"}


@pytest.fixture(scope="module")
def emu():
    """One emulator that nobody advances (shape and paging tests)."""
    with emulator.start(hoje=HOJE) as running:
        yield running


def get(emu, path: str, params: dict | None = None, key: str | None = "default") -> dict:
    url = path if path.startswith("http") else f"{emu.base_url}/{path}"
    if params:
        url += "?" + urlencode(params)
    headers = {} if key is None else {"User-Key": emu.user_key if key == "default" else key}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        return json.load(resp)


def http_error(
    emu, path: str, params: dict | None = None, key: str | None = "default", method: str = "GET"
) -> urllib.error.HTTPError:
    with pytest.raises(urllib.error.HTTPError) as err:
        url = f"{emu.base_url}/{path}" + ("?" + urlencode(params) if params else "")
        headers = {} if key is None else {"User-Key": emu.user_key if key == "default" else key}
        urllib.request.urlopen(
            urllib.request.Request(
                url, headers=headers, method=method, data=b"" if method == "POST" else None
            ),
            timeout=30,
        )
    return err.value


def all_pages(emu, path: str, params: dict) -> tuple[list[dict], list[dict]]:
    """Every record following @odata.nextLink; also the page bodies."""
    body = get(emu, path, params)
    rows, pages = list(body["value"]), [body]
    while "@odata.nextLink" in body:
        assert body["@odata.nextLink"].startswith(f"{emu.base_url}/{path}?")
        body = get(emu, body["@odata.nextLink"])
        rows += body["value"]
        pages.append(body)
    return rows, pages


def expected_counts(mundo: Mundo) -> dict[str, int]:
    """Counts computed from the commercial world itself, not from the emulator's records."""
    negocios = mundo.negocios()
    return {
        "Contacts": len(mundo.clientes_em(mundo.hoje)),
        "Deals": len(negocios),
        "Interactions": sum(
            1
            for n in negocios
            for quando, _ in emulator.interactions_of(n, mundo.seed)
            if quando.date() <= mundo.hoje
        ),
    }


def parse(ts: str) -> datetime:
    assert ts.endswith("-03:00"), ts
    return datetime.fromisoformat(ts)


# -- emulator --------------------------------------------------------------------------------
def test_contacts_shape_and_expand(emu):
    full = get(emu, "Contacts", {"$top": 5, "$expand": "Phones,City($expand=State)"})
    assert full["@odata.context"] == f"{emu.base_url}/$metadata#Contacts"
    c = full["value"][0]
    assert set(c) == CONTACT_KEYS
    assert c["TypeId"] == 1 and len(c["Register"]) == 14 and c["Register"].isdigit()
    assert c["Phones"] and set(c["Phones"][0]) == {"PhoneNumber", "TypeId"}
    assert c["City"]["Id"] == c["CityId"]
    assert len(str(c["City"]["IBGECode"])) == 7
    assert str(c["City"]["IBGECode"])[:2] == str(c["City"]["State"]["Id"])
    assert c["City"]["State"]["Short"] in POPULACAO_UF and c["City"]["State"]["Name"]
    assert parse(c["LastUpdateDate"]) >= parse(c["CreateDate"])

    plain = get(emu, "Contacts", {"$top": 5})["value"][0]
    assert set(plain) == CONTACT_KEYS - {"Phones", "City"}
    city_only = get(emu, "Contacts", {"$top": 1, "$expand": "City"})["value"][0]
    assert "State" not in city_only["City"] and "Phones" not in city_only


def test_deals_shape(emu):
    deals, _ = all_pages(emu, "Deals", {"$expand": "Stage"})
    assert set(deals[0]) == DEAL_KEYS
    statuses = {d["StatusId"] for d in deals}
    assert statuses == {1, 2, 3}
    for d in deals:
        assert d["Stage"]["Id"] == d["StageId"] and d["Stage"]["Name"]
        assert isinstance(d["Amount"], float) and d["Amount"] > 0
        assert round(d["Amount"], 2) == d["Amount"]
        assert (d["FinishDate"] is None) == (d["StatusId"] == 1)
        if d["FinishDate"]:
            assert parse(d["FinishDate"]) > parse(d["CreateDate"])
            assert d["LastUpdateDate"] == d["FinishDate"] and d["StageId"] == 5
        assert parse(d["LastUpdateDate"]).date() <= HOJE
    assert "Stage" not in get(emu, "Deals", {"$top": 1})["value"][0]


def test_interactions_derived_from_deals(emu):
    deals = {d["Id"]: d for d in all_pages(emu, "Deals", {})[0]}
    interactions, _ = all_pages(emu, "Interactions", {})
    assert set(interactions[0]) == INTERACTION_KEYS
    per_deal: dict[int, int] = {}
    for i in interactions:
        d = deals[i["DealId"]]
        assert i["ContactId"] == d["ContactId"]
        assert parse(d["CreateDate"]) <= parse(i["Date"]) <= parse(f"{HOJE}T23:59:59-03:00")
        if d["FinishDate"]:
            assert parse(i["Date"]) <= parse(d["FinishDate"])
        per_deal[d["Id"]] = per_deal.get(d["Id"], 0) + 1
    closed_long_ago = [d for d in deals.values() if d["FinishDate"] and parse(d["FinishDate"]).date() < HOJE]
    assert closed_long_ago and all(1 <= per_deal.get(d["Id"], 0) <= 3 for d in closed_long_ago)
    # deterministic: a second emulator of the same seed serves the same records
    with emulator.start(hoje=HOJE) as other:
        assert other.records("Interactions") == emu.records("Interactions")


@pytest.mark.parametrize("entity", ["Contacts", "Deals", "Interactions"])
def test_paging_covers_the_world(emu, entity):
    rows, pages = all_pages(emu, entity, {"$top": 300})
    expected = expected_counts(emu.mundo)[entity]
    assert len(rows) == expected and len({r["Id"] for r in rows}) == expected
    assert len(pages) == -(-expected // 300)
    assert all(len(p["value"]) == 300 for p in pages[:-1]) and "@odata.nextLink" not in pages[-1]
    assert [r["Id"] for r in rows] == sorted(r["Id"] for r in rows)  # stable default order


def test_top_is_capped_at_300_and_count(emu):
    body = get(emu, "Deals", {"$top": 1000, "$count": "true"})
    assert len(body["value"]) == 300
    assert body["@odata.count"] == expected_counts(emu.mundo)["Deals"]
    assert "$top=300" in body["@odata.nextLink"] and "$skip=300" in body["@odata.nextLink"]


def test_every_uf_in_contacts(emu):
    contacts, _ = all_pages(emu, "Contacts", {"$expand": "City($expand=State)"})
    ufs = {c["City"]["State"]["Short"] for c in contacts}
    assert ufs == set(POPULACAO_UF)
    per_uf = {uf: sum(c["City"]["State"]["Short"] == uf for c in contacts) for uf in ufs}
    assert per_uf["SP"] > per_uf["MG"] > per_uf["RR"]  # weighted by population


def test_filter_and_orderby(emu):
    cut = "2025-12-01T00:00:00-03:00"
    gt, _ = all_pages(
        emu, "Deals", {"$filter": f"LastUpdateDate gt {cut}", "$orderby": "LastUpdateDate desc"}
    )
    assert gt and all(parse(d["LastUpdateDate"]) > parse(cut) for d in gt)
    stamps = [parse(d["LastUpdateDate"]) for d in gt]
    assert stamps == sorted(stamps, reverse=True)
    every = emu.records("Deals")
    assert len(gt) == sum(parse(d["LastUpdateDate"]) > parse(cut) for d in every)

    exact = gt[-1]["LastUpdateDate"]
    ge, _ = all_pages(emu, "Deals", {"$filter": f"LastUpdateDate ge {exact}"})
    gt2, _ = all_pages(emu, "Deals", {"$filter": f"LastUpdateDate gt {exact}"})
    assert len(ge) > len(gt2) and any(d["LastUpdateDate"] == exact for d in ge)
    won, _ = all_pages(emu, "Deals", {"$filter": f"StatusId eq 2 and LastUpdateDate ge {cut}"})
    assert won and all(d["StatusId"] == 2 for d in won)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$filter": "Foo gt 1"}, "unknown property 'Foo'"),
        ({"$filter": "LastUpdateDate after 2025-01-01"}, "unsupported $filter clause"),
        ({"$filter": "LastUpdateDate gt 2025-13-45T00:00:00"}, "cannot read the datetime"),
        ({"$orderby": "Amount sideways"}, "unsupported $orderby"),
        ({"$top": "ten"}, "$top must be a whole number"),
        ({"$skip": "-1"}, "$skip must not be negative"),
        ({"$expand": "Owner"}, "cannot expand 'Owner'"),
        ({"$apply": "x"}, "unsupported query option $apply"),
    ],
)
def test_bad_query_options_are_400(emu, params, message):
    err = http_error(emu, "Deals", params)
    assert err.code == 400
    assert message in json.load(err)["error"]["message"]


@pytest.mark.parametrize("key", [None, BAD_KEY])
def test_user_key_required(emu, key):
    err = http_error(emu, "Contacts", {"$top": 1}, key=key)
    assert err.code == 401
    body = json.load(err)
    assert body["error"]["code"] == 401 and "User-Key" in body["error"]["message"]


def test_unknown_path_is_json_404(emu):
    err = http_error(emu, "Leads")
    assert err.code == 404 and "error" in json.load(err)


def test_world_with_colliding_deal_ids_is_refused():
    with emulator.start(mundo=Mundo(inicio=date(2025, 11, 1), hoje=HOJE, negocios_dia=150)) as emu:
        err = http_error(emu, "Deals")
        assert err.code == 500 and "is not unique" in json.load(err)["error"]["message"]


def test_faults_then_recovery():
    with emulator.start(hoje=HOJE) as emu:
        urllib.request.urlopen(
            urllib.request.Request(
                f"{emu.base_url}/_emulator/faults",
                data=json.dumps({"status": 429, "count": 2, "retry_after": 7}).encode(),
                method="POST",
            ),
            timeout=10,
        ).close()
        for _ in range(2):
            err = http_error(emu, "Deals", {"$top": 1})
            assert err.code == 429 and err.headers["Retry-After"] == "7"
        emu.inject(503)
        assert http_error(emu, "Deals", {"$top": 1}).code == 503
        assert len(get(emu, "Deals", {"$top": 1})["value"]) == 1
        assert [r.status for r in emu.requests("Deals")] == [429, 429, 503, 200]
        assert get(emu, "_emulator/state", key=None)["faults"] == []
        bad = http_error(emu, "_emulator/faults", method="POST")
        assert bad.code == 400 and "bad fault spec" in json.load(bad)["error"]["message"]


def test_advance_brings_new_and_changed_deals():
    with emulator.start(hoje=HOJE) as emu:
        before = {d["Id"]: d for d in emu.records("Deals")}
        req = urllib.request.Request(f"{emu.base_url}/_emulator/advance?dias=3", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.load(resp) == {"hoje": "2026-01-03"}
        after = {d["Id"]: d for d in emu.records("Deals")}
        new = set(after) - set(before)
        closed = [i for i in before if before[i]["StatusId"] == 1 and after[i]["StatusId"] != 1]
        assert new and closed and set(before) <= set(after)
        assert all(after[i]["LastUpdateDate"] > before[i]["LastUpdateDate"] for i in closed)
        assert len(after) == expected_counts(emu.mundo)["Deals"]
        assert http_error(emu, "_emulator/advance", {"dias": "x"}, method="POST").code == 400


@pytest.mark.timeout(60)
def test_generator_mode_advances_the_clock():
    with emulator.start(hoje=HOJE, generator_interval=0.05) as emu:
        deadline = time.monotonic() + 30
        while emu.mundo.hoje < HOJE + timedelta(days=3) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert emu.mundo.hoje >= HOJE + timedelta(days=3)
        assert date.fromisoformat(get(emu, "_emulator/state", key=None)["hoje"]) >= HOJE + timedelta(days=3)


@pytest.mark.timeout(60)
def test_cli_serves_until_sigterm():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mirante.emulators.crm",
            "--port",
            "0",
            "--hoje",
            "2025-06-30",
            "--user-key",
            "cli-test-key",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        req = urllib.request.Request(
            f"{base_url}/Deals?$top=1&$count=true", headers={"User-Key": "cli-test-key"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert json.load(resp)["@odata.count"] == len(Mundo(hoje=date(2025, 6, 30)).negocios())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.stdout.close()


# -- loader ----------------------------------------------------------------------------------
def test_source_resources_and_hints():
    source = crm_source(base_url="http://127.0.0.1:9", user_key=BAD_KEY)  # building makes no request
    assert set(source.resources) == set(TABLES)
    for name in TABLES:
        resource = source.resources[name]
        assert resource.write_disposition == "merge"
        schema = resource.compute_table_schema()
        assert schema["columns"]["Id"]["primary_key"] is True  # normalized to id on load


def test_missing_user_key_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("MIRANTE_CRM_USER_KEY", raising=False)
    monkeypatch.setattr(config, "secrets_file", lambda: tmp_path / "secrets.toml")
    with pytest.raises(
        RuntimeError, match="no User-Key for the CRM .* at http://127.0.0.1:9.*MIRANTE_CRM_USER_KEY"
    ):
        settings.read_settings("http://127.0.0.1:9")
    assert "***" in repr(settings.read_settings("http://127.0.0.1:9", BAD_KEY))
    assert BAD_KEY not in repr(settings.read_settings("http://127.0.0.1:9", BAD_KEY))

    (tmp_path / "secrets.toml").write_text(
        '[sources.crm]\nbase_url = "http://127.0.0.1:8/"\nuser_key = "from-file"\n'
    )
    monkeypatch.delenv("MIRANTE_CRM_BASE_URL", raising=False)
    resolved = settings.read_settings()
    assert (resolved.base_url, resolved.user_key) == ("http://127.0.0.1:8", "from-file")
    monkeypatch.setenv("MIRANTE_CRM_USER_KEY", "from-env")
    assert settings.read_settings().user_key == "from-env"  # the environment wins


def raw_counts(server) -> dict[str, int]:
    with psycopg.connect(server.admin()) as conn:
        out = {}
        for t in (*TABLES, "contacts__phones"):
            n, distinct = conn.execute(
                f"select count(*), count(distinct {'_dlt_id' if '__' in t else 'id'}) from raw_crm.{t}"
            ).fetchone()
            assert n == distinct, f"duplicates in raw_crm.{t}"
            out[t] = n
        return out


@pytest.fixture(scope="module")
def crm_db(server):
    with own_database(server, "mirante_test_crm") as srv:
        yield srv


def load_crm(base_url: str, user_key: str, srv, **source_kwargs):
    """One CRM load the way the asset runs it (LOADER.load), settings from the arguments."""
    return LOADER.load(settings.read_settings(base_url, user_key), srv=srv, **source_kwargs)


@pytest.fixture
def raw_crm(crm_db):
    reset_raw(crm_db, settings.DATASET, (settings.PIPELINE_NAME,))
    return crm_db


@pytest.mark.integration
def test_invalid_user_key_fails_at_once(raw_crm):
    with emulator.start(hoje=HOJE) as emu:
        with pytest.raises(CrmAuthError) as err:
            load_crm(emu.base_url, BAD_KEY, raw_crm)
        message = str(err.value)
        assert "CRM" in message and emu.base_url in message and "401" in message
        text = "".join(traceback.format_exception(err.value)) + repr(err.value)
        assert BAD_KEY not in text and emu.user_key not in text
        assert [(r.path, r.status) for r in emu.requests()] == [("Contacts", 401)]  # no retry, no other call
    with psycopg.connect(raw_crm.admin()) as conn:
        assert (
            conn.execute(
                "select count(*) from information_schema.tables where table_schema = 'raw_crm' "
                "and table_name in ('contacts', 'deals', 'interactions')"
            ).fetchone()[0]
            == 0
        )
    stored = [p for p in (config.home() / "dlt").rglob("*") if p.is_file()]  # dlt state and traces
    assert not any(BAD_KEY.encode() in p.read_bytes() for p in stored)


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_429_and_503_are_retried_then_load_succeeds(raw_crm):
    with emulator.start(hoje=HOJE) as emu:
        emu.inject(429, count=2, retry_after=2)
        emu.inject(503, count=1)
        load_crm(emu.base_url, emu.user_key, raw_crm)
        first = emu.requests()[:4]
        assert [r.status for r in first] == [429, 429, 503, 200]
        assert len({json.dumps(r.params, sort_keys=True) for r in first}) == 1  # the same request again
        # Retry-After (2 s) is waited, not the first backoff step (1 s)
        assert first[1].at - first[0].at >= 2 and first[2].at - first[1].at >= 2
        counts = raw_counts(raw_crm)
        expected = expected_counts(emu.mundo)
    assert [counts[t] for t in TABLES] == [expected[ENTITY[t]] for t in TABLES]


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_retries_exhausted_fail_then_rerun_recovers(raw_crm):
    with emulator.start(hoje=HOJE) as emu:
        emu.inject(503, count=2)
        with pytest.raises(PipelineStepFailed) as err:
            load_crm(emu.base_url, emu.user_key, raw_crm, max_attempts=2, backoff_factor=0.1)
        http = find_cause(err.value, HTTPError)
        assert http is not None and http.response.status_code == 503
        assert emu.user_key not in str(err.value)
        assert [r.status for r in emu.requests()] == [503, 503]
        load_crm(emu.base_url, emu.user_key, raw_crm)
        counts = raw_counts(raw_crm)
        assert [counts[t] for t in TABLES] == [expected_counts(emu.mundo)[ENTITY[t]] for t in TABLES]


def deals_in_db(server) -> dict[int, tuple]:
    with psycopg.connect(server.admin()) as conn:
        return {
            r[0]: r[1:]
            for r in conn.execute(
                "select id, status_id, stage_id, amount, finish_date is not null, last_update_date from raw_crm.deals"
            )
        }


def deals_in_emulator(emu) -> dict[int, tuple]:
    from decimal import Decimal

    return {
        d["Id"]: (
            d["StatusId"],
            d["StageId"],
            Decimal(str(d["Amount"])),
            d["FinishDate"] is not None,
            parse(d["LastUpdateDate"]),
        )
        for d in emu.records("Deals")
    }


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_incremental_load_merges_new_and_changed(raw_crm):
    with emulator.start(hoje=HOJE) as emu:
        load_crm(emu.base_url, emu.user_key, raw_crm)
        first_counts = raw_counts(raw_crm)
        assert [first_counts[t] for t in TABLES] == [expected_counts(emu.mundo)[ENTITY[t]] for t in TABLES]
        assert first_counts["contacts__phones"] == first_counts["contacts"]
        before = deals_in_db(raw_crm)
        assert before == deals_in_emulator(emu)

        emu.advance(3)
        served_before = len(emu.requests())
        load_crm(emu.base_url, emu.user_key, raw_crm)
        second = emu.requests()[served_before:]
        # the second run asks only for recent changes (cursor minus one day of lookback)
        assert all("1900" not in r.params["$filter"] for r in second)
        assert sum(r.rows for r in second) < sum(first_counts[t] for t in TABLES) / 10

        counts = raw_counts(raw_crm)  # asserts count(distinct id) = count(*)
        expected = expected_counts(emu.mundo)
        assert [counts[t] for t in TABLES] == [expected[ENTITY[t]] for t in TABLES]
        after = deals_in_db(raw_crm)
        assert after == deals_in_emulator(emu)  # every deal as the CRM shows it now
        new = set(after) - set(before)
        closed = [i for i in before if before[i][0] == 1 and after[i][0] in (2, 3)]
        assert new and closed
        assert all(after[i][3] for i in closed)  # finish_date set on the merged row

        with psycopg.connect(raw_crm.admin()) as conn:
            orphans, phones, with_uf = conn.execute(
                """select count(*) filter (where c._dlt_id is null), count(*),
                          count(*) filter (where c.city__state__short is not null)
                   from raw_crm.contacts__phones p left join raw_crm.contacts c on c._dlt_id = p._dlt_parent_id"""
            ).fetchone()
            assert orphans == 0 and phones == counts["contacts"] == with_uf
            ibge = conn.execute(
                "select count(*) from raw_crm.contacts where city__ibge_code between 1100000 and 5399999"
            ).fetchone()[0]
            assert ibge == counts["contacts"]
            types = dict(
                ((t, c), (d, p, sc))
                for t, c, d, p, sc in conn.execute(
                    """select table_name, column_name, data_type, numeric_precision, numeric_scale
                   from information_schema.columns where table_schema = 'raw_crm'"""
                )
            )
        assert types["deals", "amount"] == ("numeric", 18, 2)  # BRL, exact
        for table, column in (
            ("deals", "finish_date"),
            ("deals", "last_update_date"),
            ("contacts", "create_date"),
            ("interactions", "date"),
        ):
            assert types[table, column][0] == "timestamp with time zone"
