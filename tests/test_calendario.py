"""The one calendar, marts.dim_calendario: Brazilian national holidays, pontos facultativos and
business days, read from the `built` graph as the reader and checked against an independent
reference (dateutil's Easter, the federal holiday list written out again here); and its place in
the Dagster graph."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

import psycopg
import pytest
from dagster import AssetKey
from dateutil.easter import easter

from mirante.orchestration.definitions import defs

FIRST, LAST = date(2000, 1, 1), date(2035, 12, 31)
#: national holidays on a fixed day: (month, day) -> (name, first year it is national)
FIXED = {
    (1, 1): ("Confraternização Universal", FIRST.year),
    (4, 21): ("Tiradentes", FIRST.year),
    (5, 1): ("Dia do Trabalho", FIRST.year),
    (9, 7): ("Independência do Brasil", FIRST.year),
    (10, 12): ("Nossa Senhora Aparecida", FIRST.year),
    (11, 2): ("Finados", FIRST.year),
    (11, 15): ("Proclamação da República", FIRST.year),
    (11, 20): ("Dia Nacional de Zumbi e da Consciência Negra", 2024),  # Lei 14.759/2023
    (12, 25): ("Natal", FIRST.year),
}
WEEKDAYS = (
    "segunda-feira",
    "terça-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    "sábado",
    "domingo",
)


def expected_holidays(year: int) -> dict[date, set[str]]:
    days: dict[date, set[str]] = defaultdict(set)
    for (month, day), (name, since) in FIXED.items():
        if year >= since:
            days[date(year, month, day)].add(name)
    days[easter(year) - timedelta(days=2)].add("Sexta-feira da Paixão")
    return days


def expected_pontos_facultativos(year: int) -> dict[date, str]:
    sunday = easter(year)
    return {
        sunday - timedelta(days=48): "Carnaval",
        sunday - timedelta(days=47): "Carnaval",
        sunday + timedelta(days=60): "Corpus Christi",
    }


@pytest.fixture(scope="module")
def calendario(built) -> dict[date, dict]:
    with psycopg.connect(built.url("reader")) as conn:
        cur = conn.execute("select * from marts.dim_calendario order by data")
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    by_day = {r["data"]: r for r in rows}
    assert len(by_day) == len(rows), "one row per day"
    return by_day


def test_one_row_per_day_over_the_time_spine_range(calendario):
    assert min(calendario) == FIRST and max(calendario) == LAST
    assert len(calendario) == (LAST - FIRST).days + 1


@pytest.mark.parametrize(
    ("day", "holiday", "name", "ponto"),
    [
        (date(2024, 3, 29), True, "Sexta-feira da Paixão", None),
        (date(2025, 4, 18), True, "Sexta-feira da Paixão", None),
        (date(2026, 4, 3), True, "Sexta-feira da Paixão", None),
        (date(2023, 11, 20), False, None, None),
        (date(2024, 11, 20), True, "Dia Nacional de Zumbi e da Consciência Negra", None),
        (date(2025, 3, 4), False, None, "Carnaval"),
        (date(2025, 6, 19), False, None, "Corpus Christi"),
        # Good Friday on Tiradentes: one day, both names
        (date(2000, 4, 21), True, "Sexta-feira da Paixão / Tiradentes", None),
    ],
)
def test_known_dates(calendario, day, holiday, name, ponto):
    row = calendario[day]
    assert (row["feriado_nacional"], row["nome_feriado"]) == (holiday, name)
    assert (row["ponto_facultativo"], row["nome_ponto_facultativo"]) == (ponto is not None, ponto)
    # these are all weekdays: a business day exactly when not a national holiday
    assert row["dia_util"] is (not holiday)


def test_national_holidays_per_year(calendario):
    per_year = Counter(d.year for d, r in calendario.items() if r["feriado_nacional"])
    # 9 holidays up to 2023, 10 from 2024 (20/11); in 2000 Good Friday fell on Tiradentes
    assert per_year == {y: 8 if y == 2000 else 9 if y < 2024 else 10 for y in range(2000, 2036)}


def test_every_year_matches_the_reference(calendario):
    for year in range(FIRST.year, LAST.year + 1):
        holidays = {
            d: set(r["nome_feriado"].split(" / "))
            for d, r in calendario.items()
            if d.year == year and r["feriado_nacional"]
        }
        assert holidays == expected_holidays(year), year
        pontos = {
            d: r["nome_ponto_facultativo"]
            for d, r in calendario.items()
            if d.year == year and r["ponto_facultativo"]
        }
        assert pontos == expected_pontos_facultativos(year), year


def test_weekdays_weekends_and_business_days(calendario):
    for day, row in calendario.items():
        iso = day.isoweekday()
        assert (row["dia_da_semana"], row["nome_dia_semana"]) == (iso, WEEKDAYS[iso - 1]), day
        assert row["fim_de_semana"] is (iso >= 6), day
        assert row["dia_util"] is (iso < 6 and not row["feriado_nacional"]), day
        assert (row["ano"], row["mes"], row["dia"], row["trimestre"]) == (
            day.year,
            day.month,
            day.day,
            (day.month - 1) // 3 + 1,
        )
        assert row["ano_mes"] == f"{day.year}-{day.month:02d}"
        assert (row["ano_iso"], row["semana_iso"]) == day.isocalendar()[:2], day
    assert not any(r["dia_util"] for r in calendario.values() if r["fim_de_semana"])


def test_business_days_of_a_known_month(calendario):
    # April 2025: 22 weekdays, minus Good Friday (18th) and Tiradentes (Monday 21st) = 20
    assert sum(r["dia_util"] for d, r in calendario.items() if (d.year, d.month) == (2025, 4)) == 20


def test_the_calendar_is_one_asset_built_from_the_time_spine():
    """No database: the mart is a Dagster asset by rule (dbt), in the shared group, downstream of
    the semantic layer's time spine, and rebuilt by mirante_all."""
    graph = defs.resolve_asset_graph()
    node = graph.get(AssetKey(["marts", "dim_calendario"]))
    assert node.group_name == "comum"
    assert node.parent_keys == {AssetKey(["intermediate", "int_calendario__dia"])}
    mirante_all = defs.resolve_job_def("mirante_all").asset_layer.selected_asset_keys
    assert AssetKey(["marts", "dim_calendario"]) in mirante_all
