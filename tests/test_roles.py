"""Least privilege with passwords enforced: each role can do its job and nothing else."""

import psycopg
import pytest
from psycopg import errors

from mirante import config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tables(server):
    """One table in a raw schema (as the loader) and one mart (as the transformer)."""
    with psycopg.connect(server.url("loader"), autocommit=True) as conn:
        conn.execute("create table if not exists raw_snis._roles_probe (id int)")
    with psycopg.connect(server.url("transformer"), autocommit=True) as conn:
        conn.execute("create table if not exists marts._roles_probe (id int)")
        conn.execute("insert into marts._roles_probe values (1)")
    yield
    with psycopg.connect(server.url("loader"), autocommit=True) as conn:
        conn.execute("drop table raw_snis._roles_probe")
    with psycopg.connect(server.url("transformer"), autocommit=True) as conn:
        conn.execute("drop table marts._roles_probe")


def denied(url: str, statement: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except errors.InsufficientPrivilege:
            return True
    return False


@pytest.mark.parametrize("role", config.ROLES)
def test_wrong_password_is_rejected_over_tcp(server, role):
    good = server.url(role)
    with psycopg.connect(good) as conn:
        assert conn.execute("select current_user").fetchone()[0] == config.role_name(role)
    bad = good.replace(good.split(":")[2].split("@")[0], "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad)


def test_reader_reads_marts_only_and_writes_nothing(server, tables):
    url = server.url("reader")
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from marts._roles_probe").fetchone() == (1,)
    for schema in config.RAW_SCHEMAS:
        assert denied(url, f"create table {schema}.x (id int)")
    assert denied(url, "select * from raw_snis._roles_probe")
    assert denied(url, "insert into marts._roles_probe values (2)")
    assert denied(url, "delete from marts._roles_probe")
    assert denied(url, "create table marts.x (id int)")
    assert denied(url, "create table public.x (id int)")
    assert denied(url, "create schema x")
    for schema in ("staging", "intermediate"):
        assert denied(url, f"create table {schema}.x (id int)")


def test_reader_cannot_read_any_raw_table(server, tables):
    with psycopg.connect(server.admin()) as conn:
        raw_tables = conn.execute(
            "select table_schema, table_name from information_schema.tables where table_schema like 'raw\\_%'"
        ).fetchall()
    assert raw_tables, "no raw table to probe"
    for schema, table in raw_tables:
        assert denied(server.url("reader"), f'select 1 from "{schema}"."{table}" limit 1'), (schema, table)


def test_loader_writes_raw_only(server, tables):
    url = server.url("loader")
    assert denied(url, "insert into marts._roles_probe values (2)")
    assert denied(url, "create table marts.x (id int)")
    assert denied(url, "create table staging.x (id int)")
    assert denied(url, "select * from marts._roles_probe")


def test_transformer_reads_raw_but_cannot_write_it(server, tables):
    url = server.url("transformer")
    with psycopg.connect(url) as conn:
        conn.execute("select * from raw_snis._roles_probe").fetchall()
    assert denied(url, "insert into raw_snis._roles_probe values (1)")
    assert denied(url, "create table raw_snis.x (id int)")
