"""Partitioned raw e-SUS facts (loaders/esus/particoes.py): the fact tables a pull creates are
hash-partitioned on id_municipio, a one-municipality query of the loader's shapes reads one
partition (EXPLAIN), raw = source row by row and a rerun adds nothing, and a raw_esus of an older
home (plain fact tables, a view of the transformer's reading them, as dbt's staging views do) is
migrated in one transaction: same rows, views still answering the same, loads continuing; a
migration that cannot finish leaves everything as it was.

dbt and the API over these tables: tests/test_esus_dagster.py, tests/test_esus_load.py and the
drills in tests/faults/test_esus_drills.py run on the partitioned tables unchanged."""

from __future__ import annotations

import json
from datetime import date, timedelta

import psycopg
import pytest
from psycopg import sql

from mirante import config
from mirante.loaders.esus import particoes
from mirante.loaders.esus.pull import pull_many
from mirante.loaders.esus.raw import index_name
from mirante.loaders.esus.settings import DATASET, FACTS, PARTITIONS, primary_key

from .esus_support import PASSWORD, clone_sources, differences, drop_sources, make_templates, municipio
from .helpers import own_database, reset_raw

pytestmark = pytest.mark.integration

#: neither in the registry nor in another e-SUS test's sources (Teresina/PI, Belém/PA)
IDS = ("2211001", "1501402")
END = date.today() - timedelta(days=1)
FACT = "tb_fat_atendimento_individual"


@pytest.fixture(scope="module")
def esus_db(server):
    with own_database(server, "mirante_test_particoes") as srv:
        make_templates(srv, IDS, days=20, end=END)
        yield srv
        drop_sources(srv, IDS, templates=True)


@pytest.fixture
def loaded(esus_db, monkeypatch):
    """Fresh sources and an empty raw_esus, then one pull of both municipalities."""
    server = esus_db
    monkeypatch.setenv("MIRANTE_ESUS_PASSWORD", PASSWORD)
    reset_raw(server, "raw_esus")
    clone_sources(server, IDS)
    results = pull_many([municipio(server, i) for i in IDS], server)
    assert {r.status for r in results.values()} == {"sucesso"}, results
    yield server
    drop_sources(server, IDS)


def scanned(conn: psycopg.Connection, query: sql.Composable, params=None) -> list[str]:
    """Relations a query's plan reads (EXPLAIN in JSON, pruned partitions absent)."""
    plan = conn.execute(sql.SQL("explain (format json) {}").format(query), params).fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    out: list[str] = []

    def walk(node: dict) -> None:
        if "Relation Name" in node:
            out.append(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return out


def counts(conn: psycopg.Connection) -> dict[tuple[str, str], int]:
    return {
        (t, m): n
        for t in FACTS
        for m, n in conn.execute(
            sql.SQL("select id_municipio, count(*) from {} group by 1").format(sql.Identifier(DATASET, t))
        )
    }


def test_a_pull_creates_partitioned_facts_with_the_same_rows_and_a_rerun_adds_nothing(loaded):
    server = loaded
    with psycopg.connect(server.admin()) as conn:
        assert particoes.partitioned(conn) == {t: PARTITIONS for t in FACTS}
        assert particoes.plain_facts(conn) == []
        # dimensions stay plain tables
        assert conn.execute(
            "select count(*) from pg_partitioned_table where partrelid = 'raw_esus.tb_dim_tempo'::regclass"
        ).fetchone() == (0,)
        # the rows of each municipality land in its own partition only
        homes = conn.execute(
            sql.SQL("select id_municipio, count(distinct tableoid) from {} group by 1").format(
                sql.Identifier(DATASET, FACT)
            )
        ).fetchall()
        assert sorted(homes) == sorted((i, 1) for i in IDS)
        before = counts(conn)
    for ident in IDS:
        assert differences(server, ident) == {}  # raw = source, every row and column
    again = pull_many([municipio(server, i) for i in IDS], server)
    assert {r.status for r in again.values()} == {"sucesso"}
    assert all(n == 0 for r in again.values() for n in r.rows.values()), again
    with psycopg.connect(server.admin()) as conn:
        assert counts(conn) == before


def test_a_one_municipality_query_reads_one_partition(loaded):
    server = loaded
    with psycopg.connect(server.url("loader")) as conn:
        conn.execute("analyze raw_esus.tb_fat_atendimento_individual")
        for table in FACTS:
            t, k = sql.Identifier(DATASET, table), sql.Identifier(primary_key(table))
            parts = {particoes.partition_name(table, r) for r in range(PARTITIONS)}
            # the reconciliation (publish.py) and the divergence's buckets (raw.py), with bound parameters
            shapes = [
                (
                    sql.SQL(
                        "select id_municipio, count(*), max({}) from {} where id_municipio = any(%s) group by 1"
                    ),
                    ([IDS[0]],),
                ),
                (
                    sql.SQL("select {} / 10000, count(*) from {} where id_municipio = %s group by 1"),
                    (IDS[0],),
                ),
            ]
            for shape, params in shapes:
                read = scanned(conn, shape.format(k, t), params)
                assert len(read) == 1 and read[0] in parts, (table, read)
            # the control: with no municipality named, every partition is read
            whole = scanned(conn, sql.SQL("select count(*), max({}) from {}").format(k, t))
            assert set(whole) == parts, (table, whole)


def _make_plain(server) -> dict[str, str]:
    """raw_esus as an older home had it: every fact table a plain table of the loader's with its
    unique index and the same rows; returns a transformer's view on one of them and a view on
    that view (dbt's staging and intermediate views), name -> its rows as text."""
    with psycopg.connect(server.url("loader")) as conn:
        for table in FACTS:
            t, old = sql.Identifier(DATASET, table), sql.Identifier(DATASET, table + "_antiga")
            conn.execute(sql.SQL("create table {} (like {} including defaults)").format(old, t))
            conn.execute(sql.SQL("insert into {} select * from {}").format(old, t))
            conn.execute(sql.SQL("drop table {}").format(t))
            conn.execute(sql.SQL("alter table {} rename to {}").format(old, sql.Identifier(table)))
            conn.execute(
                sql.SQL("create unique index {} on {} (id_municipio, {})").format(
                    sql.Identifier(index_name(table)), t, sql.Identifier(primary_key(table))
                )
            )
    with psycopg.connect(server.url("transformer")) as conn:
        conn.execute(
            """create view staging.teste_particoes as
               select id_municipio, co_dim_tempo, count(*) as n
               from raw_esus.tb_fat_atendimento_individual group by 1, 2"""
        )
        conn.execute(
            "create view intermediate.teste_particoes as select id_municipio, sum(n) as n "
            "from staging.teste_particoes group by 1"
        )
        return {v: _rows(conn, v) for v in ("staging.teste_particoes", "intermediate.teste_particoes")}


def _rows(conn: psycopg.Connection, view: str) -> list[tuple]:
    return conn.execute(f"select * from {view} order by 1, 2").fetchall()


def test_an_older_raw_esus_is_migrated_in_one_transaction_and_keeps_loading(loaded):
    server = loaded
    views = _make_plain(server)
    with psycopg.connect(server.admin(), autocommit=True) as admin:
        before = counts(admin)
        assert particoes.plain_facts(admin) == sorted(FACTS)
        # a relation dbt never makes (a materialized view) on a fact table: the migration refuses,
        # and nothing of it stays (the tables it had converted before this one are plain again)
        admin.execute(
            "create materialized view raw_esus.bloqueio as select * from raw_esus.tb_fat_visita_domiciliar"
        )
        with pytest.raises(RuntimeError, match="only plain views"):
            particoes.migrate(admin)
        assert particoes.plain_facts(admin) == sorted(FACTS)
        assert counts(admin) == before
        admin.execute("drop materialized view raw_esus.bloqueio")

        moved = particoes.migrate(admin)
        assert moved == {t: sum(n for (tt, _), n in before.items() if tt == t) for t in FACTS}
        assert particoes.partitioned(admin) == {t: PARTITIONS for t in FACTS}
        assert counts(admin) == before
        owners = admin.execute(
            """select distinct pg_get_userbyid(relowner) from pg_class
               where relnamespace = 'raw_esus'::regnamespace and relname like 'tb\\_fat\\_%%'"""
        ).fetchall()
        assert owners == [(config.role_name("loader"),)]  # the loader keeps owning them (and can extend them)
        assert particoes.migrate(admin) == {}  # nothing left to do
    with psycopg.connect(server.url("transformer")) as conn:
        for view, rows in views.items():
            assert _rows(conn, view) == rows  # the views read the partitioned table now
        assert (
            conn.execute(
                "select count(*) from pg_depend d join pg_rewrite r on r.oid = d.objid "
                "where d.refobjid = 'raw_esus.tb_fat_atendimento_individual'::regclass "
                "and r.ev_class = 'staging.teste_particoes'::regclass"
            ).fetchone()[0]
            > 0
        )
    # the loader goes on: new rows at the sources arrive, raw = source
    from mirante.emulators import pec

    for ident in IDS:
        pec.add_day(server, ident, END + timedelta(days=1))
    results = pull_many([municipio(server, i) for i in IDS], server)
    assert {r.status for r in results.values()} == {"sucesso"}, results
    assert sum(r.rows[FACT] for r in results.values()) > 0
    for ident in IDS:
        assert differences(server, ident) == {}


def test_a_home_not_migrated_yet_keeps_loading_until_mirante_db_setup_migrates_it(loaded, capsys):
    """The loader handles both shapes; `mirante db setup` (the command) converts the plain tables."""
    server = loaded
    _make_plain(server)
    from mirante.emulators import pec

    for ident in IDS:
        pec.add_day(server, ident, END + timedelta(days=1))
    results = pull_many([municipio(server, i) for i in IDS], server)
    assert {r.status for r in results.values()} == {"sucesso"}, results
    for ident in IDS:
        assert differences(server, ident) == {}
    with psycopg.connect(server.admin(), autocommit=True) as admin:
        assert particoes.partitioned(admin) == {}
        before = counts(admin)
    from mirante import cli

    capsys.readouterr()
    assert cli.main(["db", "setup"]) == 0
    said = capsys.readouterr().out
    for table in FACTS:
        assert f"raw_esus.{table}: partitioned by municipality" in said, said
    with psycopg.connect(server.admin(), autocommit=True) as admin:
        assert particoes.partitioned(admin) == {t: PARTITIONS for t in FACTS}
        assert counts(admin) == before
    assert cli.main(["db", "setup"]) == 0
    assert "partitioned" not in capsys.readouterr().out  # nothing left to migrate
    with psycopg.connect(server.url("transformer")) as conn:  # the transformer still reads them
        for table in FACTS:
            conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(DATASET, table))).fetchone()
    with psycopg.connect(server.url("reader")) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"select 1 from raw_esus.{FACT} limit 1")
