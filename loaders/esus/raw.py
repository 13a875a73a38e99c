"""The raw_esus side of a pull: tables (created from the sources' own column types), the cursor
table, the drift check, and the advisory locks that keep two pulls of one municipality apart.

Every PEC table lands in one raw table shared by all municipalities, keyed by a unique index on
(id_municipio, PEC sequence key), plus two columns of its own: `_carregado_em` (when the row was
last written: inserted or changed) and `_id_execucao` (the run that wrote it). Fact tables are
hash-partitioned on id_municipio (particoes.py).

`raw_esus.cursores` holds, per municipality and table, where the last INCREMENTAL pull left off:
the highest source key, the latest day (co_dim_tempo) and the source snapshot's transaction-id
horizon, and whether its reconciliation diverged. It is written in the same transaction as the
rows it describes (publish.py), and day-range re-pulls never touch it.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from .extract import TableState
from .particoes import partitioned_ddl
from .settings import BUCKET_SIZE, DATASET, FACTS, TABLES, primary_key

I = sql.Identifier
#: advisory-lock namespaces (first int of the two-int form): a run alive, a municipality in use, DDL
LOCK_RUN = 7_245_331
LOCK_MUNICIPIO = 7_245_332
LOCK_DDL = 7_245_333
#: columns Mirante adds to every raw_esus table after the PEC's own
CONTROL_COLUMNS = {
    "id_municipio": "text not null",
    "_carregado_em": "timestamptz not null default now()",
    "_id_execucao": "text default current_setting('mirante.id_execucao', true)",
}
#: leftovers of the dlt load path this loader replaced (dropped once)
_OLD_DLT = ("_dlt_loads", "_dlt_version", "_dlt_pipeline_state")

CURSORS_DDL = f"""
create table if not exists {DATASET}.cursores (
    id_municipio    text        not null,
    tabela          text        not null,
    chave_max       bigint,
    ultimo_dia      bigint,
    horizonte_xmin  bigint      not null,
    divergente      boolean     not null default false,
    id_execucao     text        not null,
    atualizado_em   timestamptz not null default now(),
    primary key (id_municipio, tabela)
)"""


def table_name(table: str) -> sql.Composable:
    return I(DATASET, table)


def index_name(table: str) -> str:
    return f"{table}__municipio_chave"


# --------------------------------------------------------------------------------------------
# types: the source's catalogue decides, a change of family is drift


_FAMILIES = (
    ("int", re.compile(r"^(smallint|integer|bigint)$")),
    ("float", re.compile(r"^(real|double precision)$")),
    ("numeric", re.compile(r"^numeric")),
    ("text", re.compile(r"^(text|character varying|character|varchar|char|bpchar)")),
    ("timestamp", re.compile(r"^timestamp")),
    ("date", re.compile(r"^date$")),
    ("bool", re.compile(r"^boolean$")),
)
_INT_RANK = {"smallint": 1, "integer": 2, "bigint": 3}
_LENGTH = re.compile(r"\((\d+)\)")


def _family(type_: str) -> str | None:
    return next((name for name, pattern in _FAMILIES if pattern.match(type_)), None)


def compatible(raw: str, source: str) -> bool:
    """Whether raw's column type holds every value of the source's: same family and no narrower
    (an integer may widen, a varchar may be longer or text, a timestamp may gain a time zone)."""
    if raw == source:
        return True
    fr, fs = _family(raw), _family(source)
    if fr is None or fr != fs:
        return False
    if fr == "int":
        return _INT_RANK[raw] >= _INT_RANK[source]
    if fr == "float":
        return raw == "double precision" or source == "real"
    if fr == "text":
        if raw == "text":
            return True
        lr, ls = _LENGTH.search(raw), _LENGTH.search(source)
        return lr is not None and ls is not None and int(lr.group(1)) >= int(ls.group(1))
    if fr == "timestamp":
        return "with time zone" in raw or "without" in source or source == "timestamp"
    return fr != "numeric" or raw == "numeric"


class SchemaDrift(TypeError):
    """A source column changed type family: loading it would change what raw_esus means."""


def ensure_tables(conn: psycopg.Connection, types: dict[str, dict[str, str]]) -> None:
    """Create or extend the raw tables for the given source column types (in the caller's
    transaction, under a DDL lock): a new column is added, a column whose type family changed
    raises SchemaDrift naming it, the unique index on (id_municipio, key) always exists."""
    conn.execute("select pg_advisory_xact_lock(%s, 0)", (LOCK_DDL,))
    conn.execute(CURSORS_DDL)
    for old in _OLD_DLT:
        conn.execute(sql.SQL("drop table if exists {}").format(I(DATASET, old)))
    existing: dict[str, dict[str, str]] = {}
    for table, column, type_ in conn.execute(
        """select c.relname, a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a
               join pg_class c on c.oid = a.attrelid
               where c.relnamespace = %s::regnamespace and c.relname = any(%s) and c.relkind in ('r', 'p')
                 and a.attnum > 0 and not a.attisdropped""",
        (DATASET, list(types)),
    ):
        existing.setdefault(table, {})[column] = type_
    for table, columns in types.items():
        have = existing.get(table)
        if have is None:
            defs = [sql.SQL("{} {}").format(I(c), sql.SQL(t)) for c, t in columns.items()]
            defs += [sql.SQL("{} {}").format(I(c), sql.SQL(d)) for c, d in CONTROL_COLUMNS.items()]
            if table in FACTS:  # partitioned by municipality (particoes.py)
                for statement in partitioned_ddl(table, sql.SQL(", ").join(defs)):
                    conn.execute(statement)
            else:
                conn.execute(
                    sql.SQL("create table {} ({})").format(table_name(table), sql.SQL(", ").join(defs))
                )
        else:
            for column, type_ in columns.items():
                if column not in have:
                    conn.execute(
                        sql.SQL("alter table {} add column {} {}").format(
                            table_name(table), I(column), sql.SQL(type_)
                        )
                    )
                elif not compatible(have[column], type_):
                    raise SchemaDrift(
                        f"{table}.{column} changed type: raw_esus has {have[column]}, the source {type_}; "
                        f"migrate raw_esus.{table} on purpose before loading it"
                    )
            for column, definition in CONTROL_COLUMNS.items():
                if column not in have:
                    conn.execute(
                        sql.SQL("alter table {} add column {} {}").format(
                            table_name(table), I(column), sql.SQL(definition.replace(" not null", ""))
                        )
                    )
            if "_dlt_load_id" in have:
                conn.execute(sql.SQL("alter table {} drop column _dlt_load_id").format(table_name(table)))
            if "_dlt_id" in have:
                conn.execute(sql.SQL("alter table {} drop column _dlt_id").format(table_name(table)))
        conn.execute(
            sql.SQL("create unique index if not exists {} on {} (id_municipio, {})").format(
                I(index_name(table)), table_name(table), I(primary_key(table))
            )
        )


def existing_tables(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("select tablename from pg_tables where schemaname = %s", (DATASET,))}


# --------------------------------------------------------------------------------------------
# state of the last incremental pull


def read_states(
    conn: psycopg.Connection, ids: list[str], tables: list[str]
) -> dict[str, dict[str, TableState]]:
    """id_municipio -> table -> TableState (absent: never pulled incrementally, read whole).
    For a table whose last reconciliation diverged, raw's rows and key sum per key bucket."""
    out: dict[str, dict[str, TableState]] = {i: {} for i in ids}
    if conn.execute("select to_regclass(%s)", (f"{DATASET}.cursores",)).fetchone()[0] is None:
        return out
    for ident, table, chave, dia, horizonte, divergente in conn.execute(
        f"""select id_municipio, tabela, chave_max, ultimo_dia, horizonte_xmin, divergente
                from {DATASET}.cursores where id_municipio = any(%s) and tabela = any(%s)""",
        (ids, tables),
    ):
        out[ident][table] = TableState(chave, dia, horizonte, divergente)
    present = existing_tables(conn)
    for ident, states in out.items():
        for table, state in states.items():
            if state.divergente and table in present:
                key = I(primary_key(table))
                state.raw_buckets = {
                    int(b): (int(n), int(s))
                    for b, n, s in conn.execute(
                        sql.SQL(
                            "select {k} / {b}, count(*), sum({k}) from {t} where id_municipio = %s group by 1"
                        ).format(k=key, b=sql.Literal(BUCKET_SIZE), t=table_name(table)),
                        (ident,),
                    )
                }
    return out


def facts_with_day(tables: list[str]) -> list[str]:
    return [t for t in tables if t in FACTS and "co_dim_tempo" in TABLES[t]]
