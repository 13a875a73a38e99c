"""The raw side of the capture: one append-only changelog per source table in raw_razao, the
capture's state and its drift events.

    raw_razao.<tabela>     the source's columns (all nullable) + _lsn, _commit_lsn, _commit_em,
                           _xid, _ordem, _operacao ('snapshot'|'insert'|'update'|'delete'),
                           _capturado_em; unique (_commit_lsn, _ordem): a change written twice
                           fails loudly instead of duplicating
    raw_razao._estado_cdc  one row per slot: lsn_confirmado (commit LSN of the last transaction in
                           raw), lsn_fim (its end: where the slot resumes), atualizado_em; written
                           in the same transaction as the rows it describes
    raw_razao._eventos_cdc what the capture reported: a column added or dropped on the source, a
                           snapshot taken, an invalidated slot, a truncate
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from .settings import DATASET, EVENTS_TABLE, STATE_TABLE

I = sql.Identifier
log = logging.getLogger("mirante.loaders.razao")

#: metadata columns of every changelog, after the source's
META_COLUMNS = (
    ("_lsn", "pg_lsn not null"),
    ("_commit_lsn", "pg_lsn not null"),
    ("_commit_em", "timestamptz"),
    ("_xid", "bigint"),
    ("_ordem", "integer not null"),
    ("_operacao", "text not null"),
)
META_NAMES = tuple(name for name, _ in META_COLUMNS)


def ensure_state(conn: psycopg.Connection) -> None:
    conn.execute(
        sql.SQL("""create table if not exists {}.{} (
                       slot           text primary key,
                       lsn_confirmado pg_lsn not null,
                       lsn_fim        pg_lsn not null,
                       atualizado_em  timestamptz not null)""").format(I(DATASET), I(STATE_TABLE))
    )
    conn.execute(
        sql.SQL("""create table if not exists {}.{} (
                       id_evento    bigint generated always as identity primary key,
                       slot         text not null,
                       tipo         text not null,
                       tabela       text,
                       coluna       text,
                       detalhe      text,
                       lsn          pg_lsn,
                       detectado_em timestamptz not null default now())""").format(
            I(DATASET), I(EVENTS_TABLE)
        )
    )


def read_state(conn: psycopg.Connection, slot: str) -> tuple[str, str] | None:
    """(lsn_confirmado, lsn_fim) of `slot`, or None before its first snapshot."""
    row = conn.execute(
        sql.SQL("select lsn_confirmado::text, lsn_fim::text from {}.{} where slot = %s").format(
            I(DATASET), I(STATE_TABLE)
        ),
        (slot,),
    ).fetchone()
    return (row[0], row[1]) if row else None


def write_state(conn: psycopg.Connection, slot: str, confirmed: str, end: str) -> None:
    conn.execute(
        sql.SQL("""insert into {}.{} values (%s, %s, %s, now())
                   on conflict (slot) do update set lsn_confirmado = excluded.lsn_confirmado,
                       lsn_fim = excluded.lsn_fim, atualizado_em = excluded.atualizado_em""").format(
            I(DATASET), I(STATE_TABLE)
        ),
        (slot, confirmed, end),
    )


def event(
    conn: psycopg.Connection,
    slot: str,
    tipo: str,
    tabela: str | None = None,
    coluna: str | None = None,
    detalhe: str | None = None,
    lsn: str | None = None,
) -> None:
    """Record an event (in the caller's transaction) and log it as a warning."""
    where = ".".join(p for p in (tabela, coluna) if p)
    log.warning(" ".join(p for p in ("razao capture:", tipo, where, detalhe or "") if p))
    conn.execute(
        sql.SQL(
            "insert into {}.{} (slot, tipo, tabela, coluna, detalhe, lsn) values (%s, %s, %s, %s, %s, %s)"
        ).format(I(DATASET), I(EVENTS_TABLE)),
        (slot, tipo, tabela, coluna, detalhe, lsn),
    )


def columns(conn: psycopg.Connection, table: str) -> dict[str, str] | None:
    """Source columns of a changelog (name -> type), or None when it does not exist yet."""
    rows = conn.execute(
        """select a.attname, format_type(a.atttypid, a.atttypmod)
           from pg_attribute a
           where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
           order by a.attnum""",
        (f"{DATASET}.{table}",),
    ).fetchall()
    if not rows:
        return None
    return {name: kind for name, kind in rows if name not in META_NAMES and name != "_capturado_em"}


def ensure_table(
    conn: psycopg.Connection, slot: str, table: str, source: dict[str, str], lsn: str | None
) -> dict[str, str]:
    """The changelog of `table` with every column of `source` (name -> type): created when
    missing; a column the source gained is added (and reported); one it lost stays, nullable (and
    is reported once). Returns the changelog's source columns."""
    current = columns(conn, table)
    if current is None:
        defs = [sql.SQL("{} {}").format(I(c), sql.SQL(kind)) for c, kind in source.items()]
        defs += [sql.SQL("{} {}").format(I(c), sql.SQL(kind)) for c, kind in META_COLUMNS]
        defs.append(sql.SQL("_capturado_em timestamptz not null default now()"))
        conn.execute(
            sql.SQL("create table {}.{} ({})").format(I(DATASET), I(table), sql.SQL(", ").join(defs))
        )
        conn.execute(
            sql.SQL("create unique index on {}.{} (_commit_lsn, _ordem)").format(I(DATASET), I(table))
        )
        return dict(source)
    for name, kind in source.items():
        if name not in current:
            conn.execute(
                sql.SQL("alter table {}.{} add column {} {}").format(
                    I(DATASET), I(table), I(name), sql.SQL(kind)
                )
            )
            event(conn, slot, "coluna_adicionada", table, name, f"{kind}: new column on the source", lsn)
            current[name] = kind
        elif current[name] != kind and not _reported(conn, slot, "tipo_alterado", table, name):
            event(
                conn,
                slot,
                "tipo_alterado",
                table,
                name,
                f"{current[name]} -> {kind} (raw keeps {current[name]})",
                lsn,
            )
    for name in current:
        if name not in source and not _reported(conn, slot, "coluna_removida", table, name):
            event(
                conn,
                slot,
                "coluna_removida",
                table,
                name,
                "dropped on the source: kept in raw, null from now",
                lsn,
            )
    return current


def _reported(conn: psycopg.Connection, slot: str, tipo: str, table: str, column: str) -> bool:
    return (
        conn.execute(
            sql.SQL(
                "select 1 from {}.{} where slot = %s and tipo = %s and tabela = %s and coluna = %s"
            ).format(I(DATASET), I(EVENTS_TABLE)),
            (slot, tipo, table, column),
        ).fetchone()
        is not None
    )


def delete_present(
    conn: psycopg.Connection,
    table: str,
    keys: list[str],
    lsn: str,
    commit_em,
    xid: int | None,
    first_ordem: int,
    keep_snapshot_at: str | None = None,
) -> int:
    """Write a 'delete' at `lsn` for every key the changelog still holds (latest change not a
    delete), except those in the snapshot taken at `keep_snapshot_at`: what a truncate does, and
    what a new snapshot says of the rows that vanished while no slot followed the source. Returns
    how many were written (ordem from `first_ordem`)."""
    key_list = sql.SQL(", ").join(map(I, keys))
    joined = sql.SQL(" and ").join(sql.SQL("s.{0} = f.{0}").format(I(k)) for k in keys)
    keep = (
        sql.SQL(
            "and not exists (select 1 from {}.{} s where s._commit_lsn = %(snap)s "
            "and s._operacao = 'snapshot' and {})"
        ).format(I(DATASET), I(table), joined)
        if keep_snapshot_at
        else sql.SQL("")
    )
    query = sql.SQL("""
        insert into {t} ({keys}, _lsn, _commit_lsn, _commit_em, _xid, _ordem, _operacao)
        select {keys}, %(lsn)s, %(lsn)s, %(em)s, %(xid)s,
               %(first)s - 1 + row_number() over (order by {keys}), 'delete'
        from (
            select distinct on ({keys}) {keys}, _operacao, _commit_lsn
            from {t} where _commit_lsn < %(lsn)s
            order by {keys}, _commit_lsn desc, _ordem desc
        ) f
        where f._operacao <> 'delete' {keep}""").format(
        t=sql.SQL("{}.{}").format(I(DATASET), I(table)), keys=key_list, keep=keep
    )
    cur = conn.execute(
        query, {"lsn": lsn, "em": commit_em, "xid": xid, "first": first_ordem, "snap": keep_snapshot_at}
    )
    return cur.rowcount
