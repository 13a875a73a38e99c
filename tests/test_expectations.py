"""Great Expectations suites (expectations/suites/*.json) against the real PostgreSQL server.

- every suite file is well formed and every entry is an expectation GE can build;
- the raw SNIS suite passes on the loaded data and fails, naming the right checks, on a corrupted copy;
- every expectation of every suite can fail: a scratch copy of the table, corrupted for that one
  expectation, makes that expectation fail (the copy lives in schema `staging`, which the
  transformer role owns, under a random `_ge_test_*` name, and is dropped afterwards);
- the mart suites pass on the marts as the reader role (as the Dagster asset checks run them) and
  fail, naming the right checks, on corrupted copies; the mart tests skip until `dbt build` has
  created the marts.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from mirante import config
from mirante.expectations import SuiteResult, list_suites, load_suite, run_suite

pytestmark = pytest.mark.integration

RAW_SUITE = "raw_snis.agua_esgoto_agregado"
MART_SUITES = (
    "marts.agg_saneamento_brasil_ano",
    "marts.agg_saneamento_uf_ano",
    "marts.dim_municipio",
    "marts.fct_saneamento_prestador_ano",
)
SCRATCH_SCHEMA = "staging"  # owned by mirante_transformer (it cannot create schemas)


def _split(suite: str) -> tuple[str, str]:
    schema, table = suite.split(".", 1)
    return schema, table


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def srv(built):
    """The test server after one run of the whole graph (raw tables and marts exist)."""
    return built


@pytest.fixture(scope="session")
def transformer_url(srv) -> str:
    return srv.url("transformer")


@pytest.fixture(scope="session")
def reader_url(srv) -> str:
    return srv.url("reader")


def _table_exists(url: str, schema: str, table: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("select to_regclass(%s) is not null", (f'"{schema}"."{table}"',)).fetchone()[0]


def _row_count(url: str, schema: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        ).fetchone()[0]


def _require(url: str, suite: str) -> None:
    """The suite's table must exist and hold rows (the `built` fixture ran the whole graph)."""
    schema, table = _split(suite)
    if not _table_exists(url, schema, table):
        hint = (
            "run `dbt build` (the marts are built by dbt_project)"
            if schema == "marts"
            else "run the SNIS load first"
        )
        pytest.fail(f"{suite} does not exist in this database: {hint}")
    if _row_count(url, schema, table) == 0:
        pytest.fail(f"{suite} is empty in this database")


@pytest.fixture(scope="session")
def baseline(transformer_url) -> Callable[[str], SuiteResult]:
    """Result of each suite on its real table, computed once per session."""
    cache: dict[str, SuiteResult] = {}

    def get(suite: str) -> SuiteResult:
        if suite not in cache:
            _require(transformer_url, suite)
            cache[suite] = run_suite(suite, transformer_url)
        return cache[suite]

    return get


@pytest.fixture
def scratch(transformer_url) -> Iterator[Callable[[str], tuple[psycopg.Connection, sql.Composed, str]]]:
    """Factory: copy a suite's table into staging._ge_test_<random>; every copy is dropped after."""
    conn = psycopg.connect(transformer_url, autocommit=True)
    created: list[str] = []

    def copy(suite: str):
        schema, table = _split(suite)
        name = f"_ge_test_{secrets.token_hex(4)}"
        created.append(name)
        rel = sql.Identifier(SCRATCH_SCHEMA, name)
        conn.execute(
            sql.SQL("create table {} as select * from {}").format(rel, sql.Identifier(schema, table))
        )
        return conn, rel, name

    try:
        yield copy
    finally:
        for name in created:
            conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(SCRATCH_SCHEMA, name)))
        leftovers = conn.execute(
            "select count(*) from pg_tables where schemaname = %s and tablename = any(%s)",
            (SCRATCH_SCHEMA, created),
        ).fetchone()[0]
        conn.close()
        assert leftovers == 0, "scratch tables were not dropped"


def _failed_keys(result: SuiteResult) -> set[tuple[str, str | None]]:
    return {(f["expectation_type"], f["column"]) for f in result.failed}


# --------------------------------------------------------------------------------------------
# corruption recipes: one per expectation type, driven by the entry's kwargs


def _first_row(rel: sql.Composed) -> sql.Composed:
    return sql.SQL("ctid = (select ctid from {} order by ctid limit 1)").format(rel)


def _row_with(rel: sql.Composed, column: str, pick: str) -> sql.Composed:
    """The row(s) holding the min or max of `column`: stable targets, unlike ctid after an UPDATE."""
    col = sql.Identifier(column)
    return sql.SQL("{0} = (select {1}({0}) from {2})").format(col, sql.SQL(pick), rel)


def _corrupt(conn: psycopg.Connection, rel: sql.Composed, entry: dict) -> str:
    """Change the copy so that `entry` must fail; returns what was done (for the assertion message).

    Row-level corruptions touch one row, or every row when the entry tolerates some (`mostly`).
    A new expectation type needs a recipe here: a check nobody has seen fail proves nothing.
    """
    kind, kw = entry["expectation_type"], entry["kwargs"]
    rows = _first_row(rel) if kw.get("mostly") is None else sql.SQL("true")
    col = sql.Identifier(kw["column"]) if "column" in kw else None

    def update(value: object) -> str:
        conn.execute(sql.SQL("update {} set {} = %s where {}").format(rel, col, rows), (value,))
        return f"{kw['column']} := {value!r}"

    if kind == "expect_table_row_count_to_be_between":
        if kw.get("min_value"):
            conn.execute(sql.SQL("delete from {}").format(rel))
            return "deleted every row"
        count = sql.SQL("select count(*) from {}").format(rel)
        while conn.execute(count).fetchone()[0] <= kw["max_value"]:
            conn.execute(sql.SQL("insert into {0} select * from {0}").format(rel))
        return "doubled the rows past max_value"
    if kind == "expect_table_row_count_to_equal":
        conn.execute(sql.SQL("delete from {} where {}").format(rel, _first_row(rel)))
        return "deleted one row"
    if kind in ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list"):
        first = (kw.get("column_set") or kw.get("column_list"))[0]
        conn.execute(sql.SQL("alter table {} drop column {}").format(rel, sql.Identifier(first)))
        return f"dropped column {first}"
    if kind == "expect_column_values_to_not_be_null":
        return update(None)
    if kind == "expect_column_values_to_match_regex":
        return update("x")
    if kind == "expect_column_values_to_be_in_set":
        return update("??")
    if kind == "expect_column_values_to_be_between":
        return update(kw["max_value"] + 1 if kw.get("max_value") is not None else kw["min_value"] - 1)
    if kind == "expect_column_unique_value_count_to_be_between":
        conn.execute(sql.SQL("update {0} set {1} = (select min({1}) from {0})").format(rel, col))
        return f"collapsed {kw['column']} to a single value"
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = sql.Identifier(kw["column_A"]), sql.Identifier(kw["column_B"])
        conn.execute(
            sql.SQL(
                "update {0} set {2} = {1} + 1 where ctid = "
                "(select ctid from {0} where {1} is not null order by ctid limit 1)"
            ).format(rel, a, b)
        )
        return f"{kw['column_B']} := {kw['column_A']} + 1"
    if kind in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        conn.execute(sql.SQL("insert into {0} select * from {0} where {1}").format(rel, _first_row(rel)))
        return "duplicated one row"
    if kind == "unexpected_rows_expectation":
        # a SQL check: its suite entry says how to break the table for it (meta.test_corruption,
        # SQL with {table} for the relation), since no generic change fails an arbitrary query
        recipe = (entry.get("meta") or {}).get("test_corruption")
        if not recipe:
            pytest.fail("unexpected_rows_expectation without meta.test_corruption: say how it can fail")
        conn.execute(sql.SQL(recipe).format(table=rel))
        return recipe
    pytest.fail(f"no corruption recipe for {kind}: add one to tests/test_expectations.py")


def _all_entries() -> list:
    return [
        pytest.param(
            suite,
            i,
            id=f"{suite}[{i}]-{e['expectation_type']}-"
            f"{e['kwargs'].get('column') or '+'.join(e['kwargs'].get('column_list', []))}",
        )
        for suite in list_suites()
        for i, e in enumerate(load_suite(suite)["expectations"])
    ]


# --------------------------------------------------------------------------------------------
# suite files and API (no database)


def test_list_suites():
    assert set(list_suites()) >= {RAW_SUITE, *MART_SUITES}


def test_suite_files_build_in_great_expectations():
    """Every entry is a known GE expectation whose kwargs GE accepts (catches typos before a run)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    for suite in list_suites():
        for i, entry in enumerate(load_suite(suite)["expectations"]):
            config = ExpectationConfiguration(
                type=entry["expectation_type"], kwargs=entry["kwargs"], meta=entry["meta"]
            )
            try:
                config.to_domain_obj()
            except Exception as exc:  # noqa: BLE001 - report which entry and why
                pytest.fail(f"{suite} expectations[{i}] ({entry['expectation_type']}): {exc}")


def test_malformed_suite_entries_are_rejected(tmp_path, monkeypatch):
    from mirante.expectations import runner

    monkeypatch.setattr(runner, "SUITES_DIR", tmp_path)
    (tmp_path / "s.t.json").write_text(
        json.dumps(
            {
                "expectations": [
                    {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}
                ]
            }
        )
    )
    with pytest.raises(ValueError, match="meta.notes"):
        load_suite("s.t")
    entry = {
        "expectation_type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "a"},
        "meta": {"notes": "why"},
    }
    (tmp_path / "s.dup.json").write_text(json.dumps({"expectations": [entry, entry]}))
    with pytest.raises(ValueError, match=r"repeats expectations\[0\]"):
        load_suite("s.dup")
    with pytest.raises(LookupError, match="no suite"):
        load_suite("s.missing")
    with pytest.raises(ValueError, match="invalid suite name"):
        load_suite("../s.t")


def test_package_import_does_not_import_great_expectations():
    code = (
        "import sys, mirante.expectations as e; e.list_suites(); print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------------------------
# raw SNIS suite


def test_raw_suite_passes_on_loaded_data(baseline):
    result = baseline(RAW_SUITE)
    assert result.failed == []
    assert result.success
    assert result.evaluated == len(load_suite(RAW_SUITE)["expectations"])
    assert result.statistics["relation"] == RAW_SUITE
    assert result.statistics["unsuccessful_expectations"] == 0


def test_raw_suite_fails_on_corrupted_copy(transformer_url, scratch):
    _require(transformer_url, RAW_SUITE)
    conn, rel, name = scratch(RAW_SUITE)
    # one provider's (ano_referencia, codigo_prestador) delivered twice
    conn.execute(
        sql.SQL("insert into {0} select * from {0} where {1}").format(
            rel, _row_with(rel, "codigo_prestador", "max")
        )
    )
    # another's municipality code lost its leading digit, and its coverage is an impossible 150 %
    conn.execute(
        sql.SQL("update {} set codigo_municipio = '12345', in055 = 150 where {}").format(
            rel, _row_with(rel, "codigo_prestador", "min")
        )
    )

    result = run_suite(RAW_SUITE, transformer_url, table=name, schema=SCRATCH_SCHEMA)

    assert not result.success
    assert result.statistics["relation"] == f"{SCRATCH_SCHEMA}.{name}"
    assert _failed_keys(result) == {
        ("expect_column_values_to_match_regex", "codigo_municipio"),
        ("expect_column_values_to_be_between", "in055"),
        ("expect_compound_columns_to_be_unique", "ano_referencia, codigo_prestador"),
    }
    by_column = {f["column"]: f for f in result.failed}
    assert by_column["codigo_municipio"]["unexpected_count"] == 1
    assert by_column["codigo_municipio"]["partial_unexpected"] == ["12345"]
    assert by_column["in055"]["partial_unexpected"] == [150]
    assert by_column["ano_referencia, codigo_prestador"]["unexpected_count"] == 2
    assert all(f["notes"] for f in result.failed)
    assert result.evaluated == len(load_suite(RAW_SUITE)["expectations"])
    assert len(result.failed) == result.statistics["unsuccessful_expectations"] == 3


def test_run_leaves_no_connection_open(transformer_url):
    tag = f"ge_test_{secrets.token_hex(4)}"
    result = run_suite(RAW_SUITE, config.with_params(transformer_url, {"application_name": tag}))
    assert result.evaluated > 0
    with psycopg.connect(transformer_url) as conn:
        left = conn.execute(
            "select count(*) from pg_stat_activity where application_name = %s", (tag,)
        ).fetchone()[0]
    assert left == 0


def test_missing_table_raises(transformer_url):
    with pytest.raises(Exception, match="_ge_test_missing"):
        run_suite(RAW_SUITE, transformer_url, table="_ge_test_missing", schema=SCRATCH_SCHEMA)


# --------------------------------------------------------------------------------------------
# every expectation can fail


@pytest.mark.parametrize(("suite", "index"), _all_entries())
def test_each_expectation_fails_on_data_that_breaks_it(suite, index, transformer_url, baseline, scratch):
    entry = load_suite(suite)["expectations"][index]
    assert index not in {f["index"] for f in baseline(suite).failed}, (
        f"{suite}[{index}] already fails on the real table: the corruption would prove nothing"
    )

    conn, rel, name = scratch(suite)
    done = _corrupt(conn, rel, entry)
    # that expectation alone, on the corrupted copy (the baseline shows it passes on the real table)
    result = run_suite(suite, transformer_url, table=name, schema=SCRATCH_SCHEMA, only=[index])

    assert not result.success and result.statistics["evaluated_expectations"] == 1
    failed = {f["index"]: f for f in result.failed}
    assert index in failed, f"{suite}[{index}] {entry['expectation_type']} still passed after: {done}"
    assert failed[index]["expectation_type"] == entry["expectation_type"]


# --------------------------------------------------------------------------------------------
# mart suites (after `dbt build`), run as the reader role like the Dagster asset checks


def _fct_bad(conn, rel) -> None:
    # the 6-digit SNIS code leaking through instead of the IBGE one, a coverage of 150 %, a fan-out
    conn.execute(
        sql.SQL("insert into {0} select * from {0} where {1}").format(
            rel, _row_with(rel, "id_prestador", "max")
        )
    )
    conn.execute(
        sql.SQL("update {} set id_municipio = '310620', indice_atendimento_total_agua = 150 where {}").format(
            rel, _row_with(rel, "id_prestador", "min")
        )
    )


def _brasil_bad(conn, rel) -> None:
    # a year delivered twice, the second copy with a negative total
    copy = conn.execute(
        sql.SQL("insert into {0} select * from {0} where {1} returning ctid").format(
            rel, _row_with(rel, "ano", "max")
        )
    ).fetchone()[0]
    conn.execute(
        sql.SQL("update {} set populacao_atendida_agua = -5 where ctid = %s::tid").format(rel), (copy,)
    )


def _uf_bad(conn, rel) -> None:
    # a UF written in lower case, and a (UF, year) delivered twice
    conn.execute(
        sql.SQL("insert into {0} select * from {0} where {1}").format(rel, _row_with(rel, "sigla_uf", "max"))
    )
    conn.execute(
        sql.SQL("update {} set sigla_uf = lower(sigla_uf) where {}").format(
            rel, _row_with(rel, "sigla_uf", "min")
        )
    )


def _dim_bad(conn, rel) -> None:
    # one municipality lost and another duplicated: the row count still says 5,571
    conn.execute(sql.SQL("delete from {} where {}").format(rel, _first_row(rel)))
    conn.execute(sql.SQL("insert into {0} select * from {0} where {1}").format(rel, _first_row(rel)))


MART_SCENARIOS = {
    "marts.fct_saneamento_prestador_ano": (
        _fct_bad,
        {
            ("expect_column_values_to_match_regex", "id_municipio"),
            ("expect_column_values_to_be_between", "indice_atendimento_total_agua"),
            ("expect_compound_columns_to_be_unique", "ano, id_prestador"),
        },
    ),
    "marts.agg_saneamento_brasil_ano": (
        _brasil_bad,
        {
            ("expect_column_values_to_be_unique", "ano"),
            ("expect_column_values_to_be_between", "populacao_atendida_agua"),
        },
    ),
    "marts.agg_saneamento_uf_ano": (
        _uf_bad,
        {
            ("expect_column_values_to_be_in_set", "sigla_uf"),
            ("expect_compound_columns_to_be_unique", "sigla_uf, ano"),
        },
    ),
    "marts.dim_municipio": (
        _dim_bad,
        {
            ("expect_column_values_to_be_unique", "id_municipio"),
        },
    ),
}


@pytest.mark.parametrize("suite", MART_SUITES)
def test_mart_suite_fails_on_corrupted_copy(suite, transformer_url, scratch):
    _require(transformer_url, suite)
    spoil, expected = MART_SCENARIOS[suite]
    conn, rel, name = scratch(suite)
    spoil(conn, rel)
    result = run_suite(suite, transformer_url, table=name, schema=SCRATCH_SCHEMA)
    assert not result.success
    assert _failed_keys(result) == expected, json.dumps(result.failed, indent=1, default=str)


@pytest.mark.parametrize("suite", MART_SUITES)
def test_mart_suite_passes_as_reader(suite, reader_url, transformer_url):
    _require(transformer_url, suite)
    result = run_suite(suite, reader_url)
    assert result.failed == [], json.dumps(result.failed, indent=1, default=str)
    assert result.success
    assert result.evaluated == len(load_suite(suite)["expectations"])
