"""The e-SUS run log `raw_esus.execucoes`: one row per run, municipality and table, written before
anything is read (status `em_andamento`) and finished in the same transaction as the rows it
counts, so what it says committed is what committed.

A run killed at any point leaves its unfinished rows `em_andamento`; every run holds a session
advisory lock named after it while it lives, and the next run closes the rows of runs whose lock
is free (the process died, or its database connection did) as `interrompido`.
"""

from __future__ import annotations

import psycopg

from mirante.errors import mask

from .failures import INTERRUPTED
from .raw import LOCK_RUN
from .settings import DATASET

RUN_LOG_DDL = f"""
create table if not exists {DATASET}.execucoes (
    id_execucao       text        not null,
    id_municipio      text        not null,
    tabela            text        not null,
    inicio            timestamptz not null,
    fim               timestamptz,
    linhas            bigint      not null default 0,
    linhas_lidas      bigint,
    cursor_antes      bigint,
    cursor_depois     bigint,
    contagem_origem   bigint,
    chave_max_origem  bigint,
    contagem_raw      bigint,
    chave_max_raw     bigint,
    reconciliacao     text,
    status            text        not null,
    tipo_erro         text,
    codigo_erro       text,
    erro              text,
    tentativas        integer     not null default 0,
    modo              text        not null,
    primary key (id_execucao, id_municipio, tabela)
)"""

#: columns added since the first version of the table, and the checks of every version
_MIGRATION = [
    "alter table {t} alter column fim drop not null",
    "alter table {t} alter column linhas set default 0",
    "alter table {t} alter column tentativas set default 0",
    "alter table {t} add column if not exists linhas_lidas bigint",
    "alter table {t} add column if not exists contagem_origem bigint",
    "alter table {t} add column if not exists chave_max_origem bigint",
    "alter table {t} add column if not exists contagem_raw bigint",
    "alter table {t} add column if not exists chave_max_raw bigint",
    "alter table {t} add column if not exists reconciliacao text",
    "alter table {t} add column if not exists codigo_erro text",
    "alter table {t} drop constraint if exists execucoes_status_check",
    "alter table {t} drop constraint if exists execucoes_tipo_erro_check",
    "alter table {t} drop constraint if exists execucoes_modo_check",
    "alter table {t} drop constraint if exists execucoes_reconciliacao_check",
    "alter table {t} add constraint execucoes_status_check "
    "check (status in ('em_andamento', 'sucesso', 'falha', 'interrompido'))",
    "alter table {t} add constraint execucoes_tipo_erro_check check (tipo_erro in ('transitorio', 'permanente'))",
    "alter table {t} add constraint execucoes_modo_check check (modo in ('incremental', 'reprocessamento'))",
    "alter table {t} add constraint execucoes_reconciliacao_check check (reconciliacao in ('ok', 'divergente'))",
]
_TABLE = f"{DATASET}.execucoes"


def ensure(conn: psycopg.Connection) -> None:
    """Create or migrate the run log (idempotent; the caller holds the DDL lock)."""
    conn.execute(RUN_LOG_DDL)
    version = conn.execute(
        "select count(*) from pg_constraint where conrelid = %s::regclass and conname = 'execucoes_reconciliacao_check'",
        (_TABLE,),
    ).fetchone()[0]
    if not version:
        for statement in _MIGRATION:
            conn.execute(statement.format(t=_TABLE))


def lock_run(conn: psycopg.Connection, run_id: str) -> None:
    """Hold the lock that says this run is alive (for the connection's life)."""
    conn.execute("select pg_advisory_lock(%s, hashtext(%s))", (LOCK_RUN, run_id))


def close_interrupted(conn: psycopg.Connection, by_run: str) -> list[str]:
    """Close the unfinished rows of every run that is no longer alive as `interrompido`; returns
    those runs' ids."""
    closed = []
    stale = [
        r[0]
        for r in conn.execute(
            f"select distinct id_execucao from {_TABLE} where status = 'em_andamento' and id_execucao <> %s",
            (by_run,),
        )
    ]
    kind, code = INTERRUPTED
    for run_id in stale:
        if not conn.execute("select pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_RUN, run_id)).fetchone()[
            0
        ]:
            continue  # alive
        try:
            conn.execute(
                f"""update {_TABLE} set status = 'interrompido', fim = now(), tipo_erro = %s, codigo_erro = %s,
                           erro = %s
                    where id_execucao = %s and status = 'em_andamento'""",
                (
                    kind,
                    code,
                    f"the run stopped before it finished (killed, or its database connection was lost); "
                    f"nothing of it was committed for this municipality; closed by run {by_run}",
                    run_id,
                ),
            )
            closed.append(run_id)
        finally:
            conn.execute("select pg_advisory_unlock(%s, hashtext(%s))", (LOCK_RUN, run_id))
    return closed


def start(conn: psycopg.Connection, run_id: str, ids: list[str], tables: list[str], mode: str) -> None:
    """One `em_andamento` row per municipality and table, before anything is read."""
    with conn.cursor() as cur:
        cur.executemany(
            f"""insert into {_TABLE} (id_execucao, id_municipio, tabela, inicio, status, modo)
                values (%s, %s, %s, now(), 'em_andamento', %s) on conflict do nothing""",
            [(run_id, i, t, mode) for i in ids for t in tables],
        )


def fail(
    conn: psycopg.Connection,
    run_id: str,
    ident: str,
    kind: str,
    code: str,
    message: str,
    attempts: int,
    cursors: dict[str, int | None],
) -> None:
    """A municipality that did not load: its rows say why (nothing of it committed)."""
    conn.execute(
        f"""update {_TABLE} set status = 'falha', fim = now(), linhas = 0, tipo_erro = %s, codigo_erro = %s,
                   erro = %s, tentativas = %s
            where id_execucao = %s and id_municipio = %s""",
        (kind, code, mask(message), attempts, run_id, ident),
    )
    for table, cursor in cursors.items():
        conn.execute(
            f"""update {_TABLE} set cursor_antes = %s, cursor_depois = %s
                         where id_execucao = %s and id_municipio = %s and tabela = %s""",
            (cursor, cursor, run_id, ident, table),
        )
