"""Publish a batch of extracted municipalities in ONE transaction: every table's rows, the cursors
they move, the reconciliation with the sources and the run-log rows. A pull killed or failing at
any point before COMMIT leaves raw_esus, its cursors and its run log exactly as they were; after
COMMIT all of it is there. Nothing lives on disk between extraction and publication (no load
package to resume or lose).

Per table:
- a municipality's first rows (nothing of it in the raw table yet) are copied straight into it;
- otherwise the rows go through a temporary table and are upserted on (id_municipio, key): a row
  re-read unchanged (trailing window, horizon overlap) is left alone, a changed one is updated, a
  new one inserted; rows of repaired key buckets that the source no longer has are deleted;
- then raw's rows and highest key per municipality are compared with the source's, read in the
  extraction's snapshot (`reconciliacao` in the run log; a divergence marks the cursor, and the
  next pull repairs the diverging key buckets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from .extract import Extraction, TableState
from .raw import ensure_tables, table_name
from .settings import BUCKET_SIZE, DATASET, TABLES, primary_key

I = sql.Identifier


@dataclass
class TableResult:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    cursor_before: int | None = None
    cursor_after: int | None = None
    source_count: int | None = None
    source_max: int | None = None
    raw_count: int | None = None
    raw_max: int | None = None
    #: latest co_dim_tempo of the municipality's rows (the trailing window counts back from it)
    ultimo_dia: int | None = None

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.deleted

    @property
    def reconciled(self) -> str | None:
        if self.source_count is None:
            return None
        ok = self.source_count == self.raw_count and self.source_max == self.raw_max
        return "ok" if ok else "divergente"


@dataclass
class Published:
    by_municipio: dict[str, dict[str, TableResult]] = field(default_factory=dict)


def _copy_in(conn: psycopg.Connection, target: sql.Composable, columns: list[str], data: bytes) -> int:
    with conn.cursor() as cur:
        with cur.copy(
            sql.SQL("copy {} ({}) from stdin with (format csv)").format(
                target, sql.SQL(", ").join(map(I, columns))
            )
        ) as copy:
            view = memoryview(data)
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])
        return cur.rowcount


def publish(
    conn: psycopg.Connection,
    extractions: list[Extraction],
    states: dict[str, dict[str, TableState]],
    tables: list[str],
    run_id: str,
    mode: str,
    attempts: dict[str, int],
) -> Published:
    """Write the batch in one transaction (the caller's connection, not in a transaction yet)."""
    out = Published({e.id_municipio: {} for e in extractions})
    incremental = mode == "incremental"
    with conn.transaction():
        conn.execute("select set_config('mirante.id_execucao', %s, true)", (run_id,))
        if _already_published(conn, run_id, extractions, out):
            return out  # an earlier attempt committed, but its COMMIT's answer was lost
        seen_types: set = set()
        for ext in extractions:
            types = {t: r.source_types for t, r in ext.tables.items()}
            signature = tuple(sorted((t, tuple(c.items())) for t, c in types.items()))
            if signature not in seen_types:
                seen_types.add(signature)
                ensure_tables(conn, types)
        for table in tables:
            batch = [e for e in extractions if table in e.tables]
            if batch:
                _publish_table(conn, table, batch, states, out, incremental)
        ids = [e.id_municipio for e in extractions]
        if incremental:
            _move_cursors(conn, extractions, out, run_id)
        _finish_run_log(conn, run_id, ids, out, attempts, incremental)
    return out


def _publish_table(
    conn: psycopg.Connection,
    table: str,
    batch: list[Extraction],
    states: dict[str, dict[str, TableState]],
    out: Published,
    incremental: bool,
) -> None:
    target = table_name(table)
    key = primary_key(table)
    columns = ["id_municipio", *TABLES[table]]
    ids = [e.id_municipio for e in batch]
    empty = {
        r[0]
        for r in conn.execute(
            sql.SQL(
                "select m from unnest(%s::text[]) m where not exists "
                "(select 1 from {} t where t.id_municipio = m)"
            ).format(target),
            (ids,),
        )
    }
    staged = [e for e in batch if e.id_municipio not in empty]
    for ext in batch:
        read = ext.tables[table]
        result = out.by_municipio[ext.id_municipio].setdefault(table, TableResult())
        state = states.get(ext.id_municipio, {}).get(table)
        result.cursor_before = state.chave_max if state else None
        result.source_count, result.source_max = read.source_count, read.source_max
        if ext.id_municipio in empty:
            result.read = _copy_in(conn, target, columns, read.data)
            result.inserted = result.read
    if staged:
        stage = I(f"_stage_{table}")
        conn.execute(
            sql.SQL("create temp table {} on commit drop as select {} from {} with no data").format(
                stage, sql.SQL(", ").join(map(I, columns)), target
            )
        )
        for ext in staged:
            out.by_municipio[ext.id_municipio][table].read = _copy_in(
                conn, stage, columns, ext.tables[table].data
            )
        conn.execute(sql.SQL("create index on {} (id_municipio, {})").format(stage, I(key)))
        conn.execute(sql.SQL("analyze {}").format(stage))
        for ext in staged:
            buckets = ext.tables[table].repaired_buckets
            if buckets:
                n = conn.execute(
                    sql.SQL("""delete from {t} r where r.id_municipio = %s and (r.{k} / {b}) = any(%s)
                               and not exists (select 1 from {s} s where s.id_municipio = r.id_municipio
                                               and s.{k} = r.{k})""").format(
                        t=target, k=I(key), b=sql.Literal(BUCKET_SIZE), s=stage
                    ),
                    (ext.id_municipio, buckets),
                ).rowcount
                out.by_municipio[ext.id_municipio][table].deleted = n
        data_columns = TABLES[table]
        upsert = sql.SQL(
            """with escrito as (
                   insert into {t} as r ({cols}) select {cols} from {s}
                   on conflict (id_municipio, {k}) do update
                   set {sets}, _carregado_em = now(), _id_execucao = excluded._id_execucao
                   where ({old}) is distinct from ({new})
                   returning r.id_municipio, r.{k} as chave),
               -- new or changed: the statement's snapshot still shows the table before the insert
               -- (a partitioned table cannot return xmax from a routed insert)
               marcado as (
                   select e.id_municipio,
                          not exists (select 1 from {t} a where a.id_municipio = e.id_municipio
                                      and a.{k} = e.chave) as novo
                   from escrito e)
               select id_municipio, count(*) filter (where novo), count(*) filter (where not novo)
               from marcado group by 1"""
        ).format(
            t=target,
            s=stage,
            k=I(key),
            cols=sql.SQL(", ").join(map(I, columns)),
            sets=sql.SQL(", ").join(sql.SQL("{} = excluded.{}").format(I(c), I(c)) for c in data_columns),
            old=sql.SQL(", ").join(sql.SQL("r.{}").format(I(c)) for c in data_columns),
            new=sql.SQL(", ").join(sql.SQL("excluded.{}").format(I(c)) for c in data_columns),
        )
        for ident, inserted, updated in conn.execute(upsert):
            result = out.by_municipio[ident][table]
            result.inserted, result.updated = inserted, updated
    # raw as it now stands, for the reconciliation and the cursors
    has_day = "co_dim_tempo" in TABLES[table]
    for ident, count, max_key in conn.execute(
        sql.SQL(
            "select id_municipio, count(*), max({}) from {} where id_municipio = any(%s) group by 1"
        ).format(I(key), target),
        (ids,),
    ):
        result = out.by_municipio[ident][table]
        result.raw_count, result.raw_max = count, max_key
    for ident in ids:
        result = out.by_municipio[ident][table]
        if result.raw_count is None:
            result.raw_count = 0
    if incremental and has_day:
        # latest day of each municipality's rows read now (first pulls: of all its rows)
        days = {}
        if staged:
            days.update(
                conn.execute(
                    sql.SQL("select id_municipio, max(co_dim_tempo) from {} group by 1").format(
                        I(f"_stage_{table}")
                    )
                ).fetchall()
            )
        first = [i for i in ids if i in empty]
        if first:
            days.update(
                conn.execute(
                    sql.SQL(
                        "select id_municipio, max(co_dim_tempo) from {} where id_municipio = any(%s) group by 1"
                    ).format(target),
                    (first,),
                ).fetchall()
            )
        for ident in ids:
            state = states.get(ident, {}).get(table)
            previous = state.ultimo_dia if state else None
            new = days.get(ident)
            out.by_municipio[ident][table].ultimo_dia = max(
                (d for d in (previous, new) if d is not None), default=None
            )


def _already_published(
    conn: psycopg.Connection, run_id: str, extractions: list[Extraction], out: Published
) -> bool:
    """Whether this batch of this run is already in the run log as published; then `out` is
    filled from it (a retry after a COMMIT whose answer was lost must not publish twice)."""
    ids = [e.id_municipio for e in extractions]
    rows = conn.execute(
        f"""select id_municipio, tabela, linhas, linhas_lidas, cursor_antes, cursor_depois, contagem_origem,
                   chave_max_origem, contagem_raw, chave_max_raw
            from {DATASET}.execucoes where id_execucao = %s and id_municipio = any(%s) and status = 'sucesso'""",
        (run_id, ids),
    ).fetchall()
    if {r[0] for r in rows} != set(ids):
        return False
    for ident, table, written, read, before, after, sc, sm, rc, rm in rows:
        out.by_municipio[ident][table] = TableResult(read or 0, written, 0, 0, before, after, sc, sm, rc, rm)
    return True


def _move_cursors(
    conn: psycopg.Connection, extractions: list[Extraction], out: Published, run_id: str
) -> None:
    rows = []
    for ext in extractions:
        for table, result in out.by_municipio[ext.id_municipio].items():
            result.cursor_after = result.source_max if result.source_max is not None else result.cursor_before
            rows.append(
                (
                    ext.id_municipio,
                    table,
                    result.cursor_after,
                    result.ultimo_dia,
                    ext.horizonte_xmin,
                    result.reconciled == "divergente",
                    run_id,
                )
            )
    with conn.cursor() as cur:
        cur.executemany(
            f"""insert into {DATASET}.cursores as c
                    (id_municipio, tabela, chave_max, ultimo_dia, horizonte_xmin, divergente, id_execucao)
                values (%s, %s, %s, %s, %s, %s, %s)
                on conflict (id_municipio, tabela) do update
                set chave_max = excluded.chave_max, ultimo_dia = excluded.ultimo_dia,
                    horizonte_xmin = excluded.horizonte_xmin, divergente = excluded.divergente,
                    id_execucao = excluded.id_execucao, atualizado_em = now()""",
            rows,
        )


def _finish_run_log(
    conn: psycopg.Connection,
    run_id: str,
    ids: list[str],
    out: Published,
    attempts: dict[str, int],
    incremental: bool,
) -> None:
    rows = []
    for ident in ids:
        for table, r in out.by_municipio[ident].items():
            after = r.cursor_after if incremental else r.cursor_before
            rows.append(
                (
                    r.written,
                    r.read,
                    r.cursor_before,
                    after,
                    r.source_count,
                    r.source_max,
                    r.raw_count,
                    r.raw_max,
                    r.reconciled,
                    attempts.get(ident, 1),
                    run_id,
                    ident,
                    table,
                )
            )
    with conn.cursor() as cur:
        cur.executemany(
            f"""update {DATASET}.execucoes set status = 'sucesso', fim = now(), linhas = %s, linhas_lidas = %s,
                       cursor_antes = %s, cursor_depois = %s, contagem_origem = %s, chave_max_origem = %s,
                       contagem_raw = %s, chave_max_raw = %s, reconciliacao = %s, tentativas = %s,
                       tipo_erro = null, codigo_erro = null, erro = null
                where id_execucao = %s and id_municipio = %s and tabela = %s""",
            rows,
        )
    finished = conn.execute(
        f"""select count(*) from {DATASET}.execucoes where id_execucao = %s and id_municipio = any(%s)
            and status = 'sucesso'""",
        (run_id, ids),
    ).fetchone()[0]
    if finished != len(rows):  # the rows start() wrote are gone: publishing would leave no trace
        raise RuntimeError(f"run log of {run_id} lacks rows for this batch ({finished} of {len(rows)} found)")
