"""Banco Central SGS: the offline emulator over loopback HTTP, the dlt loader against it into the
real server (incremental, windows, 404, empty and malformed answers), and the truth of the annual
IPCA mart against IBGE's published figures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import psycopg
import pytest
import requests

from mirante import config
from mirante.emulators import bcb as emulator
from mirante.loaders import bcb
from mirante.loaders.bcb import BcbError, BcbSeriesNotFound, settings, windows

from .helpers import own_database, reset_raw

PIPELINE = "bcb_test"
DATABASE = "mirante_test_bcb"


@pytest.fixture
def emu() -> Iterator[emulator.BcbEmulator]:
    with emulator.start() as running:
        yield running


def sgs(emu, code: int, **params: str) -> requests.Response:
    return requests.get(
        f"{emu.base_url}/dados/serie/bcdata.sgs.{code}/dados",
        params={"formato": "json", **params},
        timeout=10,
    )


# -- the emulator, over HTTP -------------------------------------------------------------------


def test_emulator_serves_the_real_series_in_the_live_shape(emu):
    resp = sgs(emu, 433, dataInicial="01/01/2026", dataFinal="30/04/2026")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json;charset=UTF-8"
    body = resp.json()
    assert [i["data"] for i in body] == ["01/01/2026", "01/02/2026", "01/03/2026", "01/04/2026"]
    assert all(set(i) == {"data", "valor"} and isinstance(i["valor"], str) for i in body)
    # the README of the shared data quotes this month's live value
    assert body[-1] == {"data": "01/04/2026", "valor": "0.67"}
    dollar = sgs(emu, 1, dataInicial="02/01/2015", dataFinal="02/01/2015").json()
    assert re.fullmatch(r"\d\.\d{4}", dollar[0]["valor"]), dollar


def test_emulator_refuses_a_daily_window_over_ten_years_and_unknown_series(emu):
    too_long = sgs(emu, 12, dataInicial="01/01/2015", dataFinal="01/01/2025")
    assert too_long.status_code == 406
    assert "10 anos" in too_long.json()["error"]
    assert sgs(emu, 12, dataInicial="01/01/2015", dataFinal="31/12/2024").status_code == 200
    # monthly series have no window limit
    assert sgs(emu, 433, dataInicial="01/01/2000", dataFinal="31/12/2026").status_code == 200
    assert sgs(emu, 99999).status_code == 404
    assert sgs(emu, 433, dataInicial="01/01/2040", dataFinal="31/12/2040").json() == []


# -- windows -------------------------------------------------------------------------------------


def test_daily_queries_are_cut_in_windows_of_at_most_ten_years():
    fifteen = windows(date(2015, 1, 1), date(2029, 12, 31), settings.DIARIA)
    assert fifteen == [(date(2015, 1, 1), date(2024, 12, 31)), (date(2025, 1, 1), date(2029, 12, 31))]
    assert windows(date(2015, 1, 1), date(2029, 12, 31), settings.MENSAL) == [
        (date(2015, 1, 1), date(2029, 12, 31))
    ]
    assert windows(date(2020, 2, 29), date(2040, 3, 1), settings.DIARIA)[0] == (
        date(2020, 2, 29),
        date(2030, 2, 27),
    )
    assert windows(date(2026, 1, 2), date(2026, 1, 1), settings.DIARIA) == []


# -- truth: the mart against IBGE's published annual IPCA ------------------------------------------


def official_annual_ipca() -> dict[int, Decimal]:
    """IBGE's published annual IPCA per year, from the table in the shared data's README
    (`| year | compounded | official | diff (pp) |`); a year whose official figure is in
    parentheses there (not confirmed by the README's author) is left out."""
    text = (config.shared_data_dir() / "bcb" / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"^\s*\|\s*(\d{4})\s*\|\s*[\d.]+\s*\|\s*([\d.]+)\s*\|", text, flags=re.M)
    return {int(year): Decimal(value) for year, value in found}


def test_the_mart_matches_ibge_published_annual_ipca(built):
    # before the loader tests below: their own database (MIRANTE_DB) must not be where `built` goes
    official = official_annual_ipca()
    assert set(official) == set(range(2015, 2025)), official  # the README's table, 2015..2024
    with psycopg.connect(built.url("reader")) as conn:
        mart = dict(conn.execute("select ano, ipca_acumulado from marts.agg_ipca_ano").fetchall())
    # every full year of the shared series, no partial one (2026 has 7 months)
    assert set(mart) == set(range(2015, 2026)), mart
    off = {year: abs(mart[year] - official[year]) for year in official}
    assert all(d <= Decimal("0.01") for d in off.values()), off


# -- the loader, into the real server ------------------------------------------------------------


@pytest.fixture(scope="module")
def database(server):
    with own_database(server, DATABASE) as srv:
        yield srv


@pytest.fixture
def fresh(database):
    reset_raw(database, "raw_bcb", (PIPELINE,))
    return database


def load(emu, srv, **kwargs):
    return bcb.LOADER.load(bcb.read_settings(emu.base_url), srv=srv, pipeline_name=PIPELINE, **kwargs)


def rows(srv, query: str, *args) -> list[tuple]:
    with psycopg.connect(srv.admin()) as conn:
        return conn.execute(query, args).fetchall()


def counts(srv) -> dict[int, int]:
    return dict(rows(srv, "select codigo_serie, count(*) from raw_bcb.series group by 1"))


def expected_counts(emu) -> dict[int, int]:
    return {
        code: sum(1 for i in emu.series[code] if emulator._day(i["data"]) >= settings.INITIAL_DATE)
        for code in settings.SERIES
    }


def test_load_is_incremental_and_a_repull_adds_nothing(emu, fresh):
    load(emu, fresh)
    assert counts(fresh) == expected_counts(emu)
    assert rows(
        fresh, "select valor from raw_bcb.series where codigo_serie = 433 and data = '2026-04-01'"
    ) == [(Decimal("0.670000"),)]
    # every series from the first date; the daily ones in two windows (2015..2024, 2025..today)
    asked = {code: [r for r in emu.requests if r[0] == code] for code in settings.SERIES}
    assert [r[1] for r in asked[1]] == ["01/01/2015", "01/01/2025"]
    assert len(asked[433]) == 1

    emu.requests.clear()
    load(emu, fresh)
    assert counts(fresh) == expected_counts(emu)
    # the second run starts at each series' last date loaded (read again, merged)
    assert [r[1] for r in emu.requests if r[0] == 433] == ["01/07/2026"]
    assert [r[1] for r in emu.requests if r[0] == 1] == ["21/08/2026"]

    emu.add(1, date(2026, 8, 24), "5.4321")
    before = counts(fresh)
    load(emu, fresh)
    after = counts(fresh)
    assert after[1] == before[1] + 1
    assert {k: v for k, v in after.items() if k != 1} == {k: v for k, v in before.items() if k != 1}
    assert rows(fresh, "select valor from raw_bcb.series where codigo_serie = 1 and data = '2026-08-24'") == [
        (Decimal("5.432100"),)
    ]


def test_a_fifteen_year_daily_pull_takes_two_windows_the_emulator_accepts(emu, fresh):
    info = load(emu, fresh, series={1: settings.SERIES[1]}, today=date(2029, 12, 31))
    assert not info.has_failed_jobs
    asked = [r for r in emu.requests if r[0] == 1]
    assert [(r[1], r[2]) for r in asked] == [("01/01/2015", "31/12/2024"), ("01/01/2025", "31/12/2029")]
    assert counts(fresh) == {1: expected_counts(emu)[1]}


def test_a_404_fails_naming_the_series_and_the_url(emu, fresh):
    with pytest.raises(BcbSeriesNotFound) as err:
        load(emu, fresh, series={99999: ("inexistente", settings.MENSAL)})
    assert "99999" in str(err.value)
    assert f"{emu.base_url}/dados/serie/bcdata.sgs.99999/dados" in str(err.value)


def test_a_refused_window_fails_clearly(emu, fresh, monkeypatch):
    # a loader that forgot the limit: the live API's refusal reaches the operator as it is
    monkeypatch.setattr(settings, "WINDOW_YEARS", 20)
    with pytest.raises(BcbError) as err:
        load(emu, fresh, series={12: settings.SERIES[12]})
    assert "HTTP 406" in str(err.value) and "10 anos" in str(err.value), err.value


def test_an_empty_answer_loads_nothing_and_fails_nothing(emu, fresh):
    emu.series[777] = []
    info = load(emu, fresh, series={777: ("vazia", settings.MENSAL), 433: settings.SERIES[433]})
    assert not info.has_failed_jobs
    assert counts(fresh) == {433: expected_counts(emu)[433]}


def test_malformed_items_go_to_quarantine_and_the_rest_loads(emu, fresh):
    emu.series[778] = []
    emu.add(778, date(2020, 1, 1), "1.25")
    emu.inject(778, {"data": "01/02/2020", "valor": "abc"})
    emu.inject(778, {"data": "31/02/2020", "valor": "0.50"})
    emu.inject(778, {"data": "01/03/2020", "valor": ""})
    emu.inject(778, {"valor": "0.10"})
    series = {778: ("com defeitos", settings.MENSAL)}
    for _ in range(2):  # a re-pull quarantines nothing twice
        load(emu, fresh, series=series)
        assert counts(fresh) == {778: 1}
        assert rows(
            fresh,
            "select data_bruta, valor_bruto, motivo from raw_bcb.quarentena where codigo_serie = 778 order by 1, 2",
        ) == [
            ("", "0.10", "item sem data ou valor"),
            ("01/02/2020", "abc", "valor não numérico"),
            ("01/03/2020", "", "valor vazio"),
            ("31/02/2020", "0.50", "data inválida (esperado dd/MM/aaaa)"),
        ]


def test_the_base_url_defaults_to_the_live_api(monkeypatch):
    monkeypatch.delenv("MIRANTE_BCB_BASE_URL", raising=False)
    monkeypatch.setattr(config, "read_secrets", lambda: {})
    assert bcb.read_settings().base_url == "https://api.bcb.gov.br"
    monkeypatch.setenv("MIRANTE_BCB_BASE_URL", "http://127.0.0.1:9/")
    assert bcb.read_settings().base_url == "http://127.0.0.1:9"
