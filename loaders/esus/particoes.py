"""Partitioned raw e-SUS facts: every raw_esus fact table (tb_fat_*) is declared
`PARTITION BY HASH (id_municipio)` with PARTITIONS partitions (`<table>_p00` ...), because every
statement the loader runs on it names municipalities (the publish step's emptiness test, upsert,
reconciliation and first-pull day; the repair of diverging key buckets), so each reads one
partition instead of the whole table. Why hash on the municipality and not range on the day: the
figures and the reasoning are in docs/scale.md, "Partitioned raw facts" (bench/bench_esus_particoes.py).

The unique index (id_municipio, PEC key) that the upsert's ON CONFLICT names already holds the
partition key, so it stays as it was; dimensions (tb_dim_*) are small and stay plain tables.

An existing raw_esus whose fact tables were created before this (plain tables) keeps loading: the
loader does not care which shape a table has. `migrate()` (run by `mirante db setup`, as the
superuser, since dbt's staging views over the raw tables belong to the transformer) converts them
in ONE transaction per run, so a failure anywhere leaves the old tables exactly as they were:
rename the old table, create the partitioned one under the old name as the old owner, copy every
row, check the counts, point dbt's views at the new table (CREATE OR REPLACE VIEW with their own
definitions: owner, grants and views on views kept), drop the old table.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from .settings import DATASET, FACTS, PARTITIONS, primary_key

I = sql.Identifier
#: suffix of the old table while a migration runs (gone when it commits)
OLD_SUFFIX = "__nao_particionada"


def partition_name(table: str, remainder: int) -> str:
    return f"{table}_p{remainder:02d}"


def partitioned_ddl(table: str, defs: sql.Composable) -> list[sql.Composable]:
    """CREATE TABLE of a partitioned fact table with these column definitions, and its partitions."""
    target = I(DATASET, table)
    out: list[sql.Composable] = [
        sql.SQL("create table {} ({}) partition by hash (id_municipio)").format(target, defs)
    ]
    out += [
        sql.SQL("create table {} partition of {} for values with (modulus {}, remainder {})").format(
            I(DATASET, partition_name(table, r)), target, sql.Literal(PARTITIONS), sql.Literal(r)
        )
        for r in range(PARTITIONS)
    ]
    return out


def partitioned(conn: psycopg.Connection) -> dict[str, int]:
    """Fact tables of raw_esus that are partitioned -> their number of partitions."""
    return dict(
        conn.execute(
            """select c.relname, (select count(*) from pg_inherits i where i.inhparent = c.oid)
               from pg_partitioned_table p join pg_class c on c.oid = p.partrelid
               where c.relnamespace = %s::regnamespace and c.relname = any(%s)""",
            (DATASET, list(FACTS)),
        ).fetchall()
    )


def plain_facts(conn: psycopg.Connection) -> list[str]:
    """Fact tables of raw_esus still plain (created before partitioning)."""
    return [
        r[0]
        for r in conn.execute(
            """select relname from pg_class where relnamespace = %s::regnamespace and relkind = 'r'
               and relname = any(%s) order by relname""",
            (DATASET, list(FACTS)),
        )
    ]


def _dependent_views(conn: psycopg.Connection, table: str) -> list[tuple[int, str, str, list[str] | None]]:
    """Views reading `table` directly: (oid, schema-qualified name, definition, options). The
    definition is printed with an empty search path, so every name in it is schema-qualified and
    names the table again, not its OID."""
    rows = conn.execute(
        """select distinct v.oid, v.relkind, format('%%I.%%I', n.nspname, v.relname), v.reloptions
           from pg_depend d
           join pg_rewrite r on r.oid = d.objid and d.classid = 'pg_rewrite'::regclass
           join pg_class v on v.oid = r.ev_class
           join pg_namespace n on n.oid = v.relnamespace
           where d.refclassid = 'pg_class'::regclass and d.refobjid = %s::regclass and v.oid <> d.refobjid""",
        (f"{DATASET}.{table}",),
    ).fetchall()
    out = []
    conn.execute("set local search_path = ''")
    for oid, kind, name, options in rows:
        if kind != "v":
            raise RuntimeError(
                f"{name} (relkind {kind}) reads raw_esus.{table}: only plain views can be re-pointed; "
                "drop it, run `mirante db setup` again, then rebuild it"
            )
        definition = conn.execute("select pg_get_viewdef(%s::oid)", (oid,)).fetchone()[0]
        out.append((oid, name, definition.rstrip().rstrip(";"), options))
    conn.execute("reset search_path")
    return out


def migrate(conn: psycopg.Connection) -> dict[str, int]:
    """Convert raw_esus's plain fact tables into partitioned ones, all in one transaction (the
    caller's connection: a superuser, in autocommit mode). Returns table -> rows moved; empty when
    there was nothing to do. Waits for running publications (the loader's DDL lock, then an
    exclusive lock on each table)."""
    from .raw import LOCK_DDL, index_name

    moved: dict[str, int] = {}
    if conn.execute("select to_regnamespace(%s)", (DATASET,)).fetchone()[0] is None:
        return moved
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s, 0)", (LOCK_DDL,))
        for table in plain_facts(conn):
            target, old = I(DATASET, table), I(DATASET, table + OLD_SUFFIX)
            conn.execute(sql.SQL("lock table {} in access exclusive mode").format(target))
            owner = conn.execute(
                "select pg_get_userbyid(relowner) from pg_class where oid = %s::regclass",
                (f"{DATASET}.{table}",),
            ).fetchone()[0]
            views = _dependent_views(conn, table)
            grants = [
                (sql.SQL("public") if grantee == 0 else I(role), privilege)
                for grantee, role, privilege in conn.execute(
                    """select a.grantee, pg_get_userbyid(a.grantee), a.privilege_type
                       from pg_class c, aclexplode(c.relacl) a
                       where c.oid = %s::regclass and a.grantee <> c.relowner""",
                    (f"{DATASET}.{table}",),
                )
            ]
            before = conn.execute(sql.SQL("select count(*) from {}").format(target)).fetchone()[0]
            conn.execute(sql.SQL("set local role {}").format(I(owner)))  # the loader keeps owning it
            conn.execute(sql.SQL("drop index if exists {}").format(I(DATASET, index_name(table))))
            conn.execute(sql.SQL("alter table {} rename to {}").format(target, I(table + OLD_SUFFIX)))
            like = sql.SQL("like {} including defaults").format(old)
            for statement in partitioned_ddl(table, like):
                conn.execute(statement)
            n = conn.execute(sql.SQL("insert into {} select * from {}").format(target, old)).rowcount
            if n != before:
                raise RuntimeError(f"raw_esus.{table}: {before} rows before, {n} copied; nothing migrated")
            conn.execute(
                sql.SQL("create unique index {} on {} (id_municipio, {})").format(
                    I(index_name(table)), target, I(primary_key(table))
                )
            )
            for grantee, privilege in grants:
                conn.execute(sql.SQL("grant {} on {} to {}").format(sql.SQL(privilege), target, grantee))
            conn.execute("reset role")
            for _, name, definition, options in views:
                with_options = sql.SQL("")
                if options:
                    with_options = sql.SQL(" with ({})").format(sql.SQL(", ").join(map(sql.SQL, options)))
                conn.execute(
                    sql.SQL("create or replace view {}{} as {}").format(
                        sql.SQL(name), with_options, sql.SQL(definition)
                    )
                )
            conn.execute(sql.SQL("drop table {}").format(old))  # no CASCADE: anything left on it stops here
            conn.execute(sql.SQL("analyze {}").format(target))
            moved[table] = n
    return moved
