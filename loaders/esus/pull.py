"""Pull municipalities: retries with backoff on transient errors, none on permanent ones, one dlt
load per batch of municipalities, and one run-log row per municipality and table
(raw_esus.execucoes), the history the old transmissor never kept."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import psycopg
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from mirante import config, db
from mirante.pipelines import make_pipeline

from . import esus_source
from .extract import extract
from .registry import Municipio
from .settings import BATCH_SIZE, DATASET, DEFAULT_CONCURRENCY, FACTS, LOADER_FILE_FORMAT, TABLES, primary_key

#: substrings of errors worth retrying: the source may come back
TRANSIENT = ("connection refused", "could not connect", "timeout", "timed out", "server closed the connection",
             "connection reset", "the database system is starting up", "the database system is shutting down",
             "too many clients", "no route to host", "temporarily unavailable", "terminating connection")
#: errors that a retry cannot fix: say so at once
PERMANENT = ("password authentication failed", "no password", "does not exist", "permission denied",
             "undefinedtable", "undefinedcolumn", "invalid catalog name")

RUN_LOG_DDL = f"""
create table if not exists {DATASET}.execucoes (
    id_execucao      text        not null,
    id_municipio     text        not null,
    tabela           text        not null,
    inicio           timestamptz not null,
    fim              timestamptz not null,
    linhas           bigint      not null,
    cursor_antes     bigint,
    cursor_depois    bigint,
    status           text        not null check (status in ('sucesso', 'falha')),
    tipo_erro        text        check (tipo_erro in ('transitorio', 'permanente')),
    erro             text,
    tentativas       integer     not null,
    modo             text        not null check (modo in ('incremental', 'reprocessamento')),
    primary key (id_execucao, id_municipio, tabela)
)"""


class PullError(RuntimeError):
    def __init__(self, municipio: Municipio, kind: str, attempts: int, message: str):
        retry = "not retried (permanent)" if kind == "permanente" else f"gave up after {attempts} attempts"
        super().__init__(f"e-SUS pull of {municipio.nome} ({municipio.id_municipio}) failed, "
                         f"{retry}: {message}")
        self.kind = kind
        self.attempts = attempts


@dataclass
class PullResult:
    id_municipio: str
    status: str
    rows: dict[str, int] = field(default_factory=dict)
    cursors: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    attempts: int = 1
    error: str | None = None
    error_kind: str | None = None
    seconds: float = 0.0


def classify(exc: BaseException) -> str:
    """'permanente' or 'transitorio', from the whole chain of causes."""
    texts = []
    e: BaseException | None = exc
    while e is not None and len(texts) < 10:
        texts.append(f"{type(e).__name__} {e}".lower())
        e = e.__cause__ or e.__context__
    text = " ".join(texts)
    if any(p in text for p in PERMANENT):
        return "permanente"
    if any(t in text for t in TRANSIENT):
        return "transitorio"
    return "permanente"


def _root_message(exc: BaseException, secret: str) -> str:
    e = exc
    while (e.__cause__ or e.__context__) is not None:
        e = e.__cause__ or e.__context__
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg.replace(secret, "***")[:500]


def destination_cursors(srv: config.Server, ids: list[str], tables: list[str]) -> dict[str, dict[str, int]]:
    """id_municipio -> fact table -> highest sequence key already in raw_esus.

    The cursor is read from the loaded data itself, so it can never run ahead of what landed: a
    pull that failed anywhere before its load committed leaves it where it was, and the rerun
    starts from there (no gap); the merge on (key, id_municipio) makes any overlap harmless (no
    duplicate). Pulls of the same municipality from different runs share it."""
    out: dict[str, dict[str, int]] = {i: {} for i in ids}
    with psycopg.connect(srv.url("loader"), autocommit=True) as conn:
        for table in tables:
            if table not in FACTS or conn.execute(
                    "select to_regclass(%s)", (f"{DATASET}.{table}",)).fetchone()[0] is None:
                continue
            pk = primary_key(table)
            for ident, value in conn.execute(
                    f"""select m.id, (select max({pk}) from {DATASET}.{table} t where t.id_municipio = m.id)
                        from unnest(%s::text[]) as m(id)""", (ids,)):
                if value is not None:
                    out[ident][table] = value
    return out


def ensure_indexes(conn: psycopg.Connection, tables: list[str]) -> None:
    """A unique index on (id_municipio, key) of every raw_esus table: it serves the cursor look-up
    and the merge's delete, and it makes a duplicate impossible rather than merely unlikely."""
    for table in tables:
        conn.execute(f"create unique index if not exists {table}__municipio_chave "
                     f"on {DATASET}.{table} (id_municipio, {primary_key(table)})")


def _extract_one(municipio: Municipio, tables: list[str], cursors: dict[str, int], desde, ate,
                 max_attempts: int, backoff_seconds: float, result: PullResult) -> dict | None:
    """Extract one municipality with retries on transient errors; None when it failed."""
    password = ""
    for attempt in range(1, max_attempts + 1):
        result.attempts = attempt
        try:
            password = municipio.password()
            return extract(municipio.url(password), municipio.id_municipio, tables, cursors, desde, ate)
        except Exception as exc:  # classified, logged, retried or reported
            result.error_kind = classify(exc)
            result.error = _root_message(exc, password)
            if result.error_kind == "permanente" or attempt == max_attempts:
                return None
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
    return None


def pull(municipio: Municipio, srv: config.Server | None = None, *, tables: list[str] | None = None,
         desde: date | None = None, ate: date | None = None, max_attempts: int = 4,
         backoff_seconds: float = 1.0, run_id: str | None = None, raise_on_error: bool = False) -> PullResult:
    """Pull one municipality's PEC database into raw_esus and log the run, table by table."""
    result = pull_many([municipio], srv, tables=tables, desde=desde, ate=ate, max_attempts=max_attempts,
                       backoff_seconds=backoff_seconds, run_id=run_id)[municipio.id_municipio]
    if raise_on_error and result.status != "sucesso":
        raise PullError(municipio, result.error_kind or "permanente", result.attempts, result.error or "")
    return result


def pull_many(municipios: list[Municipio], srv: config.Server | None = None, *,
              tables: list[str] | None = None, desde: date | None = None, ate: date | None = None,
              max_attempts: int = 4, backoff_seconds: float = 1.0, run_id: str | None = None,
              workers: int = DEFAULT_CONCURRENCY, batch_size: int = BATCH_SIZE,
              progress=None) -> dict[str, PullResult]:
    """Pull many municipalities: each batch is extracted `workers` municipalities at a time (each
    with its own retries), then loaded by ONE dlt load (one merge or append per table for the
    whole batch) while the next batch is being extracted. A municipality that fails is left out of
    its batch's load and logged as failed; the others load."""
    srv = srv or db.server()
    run_id = run_id or uuid.uuid4().hex
    tables = list(tables or TABLES)
    municipios = list({m.id_municipio: m for m in municipios}.values())
    batches = [municipios[i:i + batch_size] for i in range(0, len(municipios), batch_size)]
    results: dict[str, PullResult] = {}
    options = (srv, tables, desde, ate, max_attempts, backoff_seconds, workers)
    with ThreadPoolExecutor(1) as prefetch:
        pending = prefetch.submit(_extract_batch, batches[0], *options) if batches else None
        for k in range(len(batches)):
            extracted_batch = pending.result()
            if k + 1 < len(batches):
                pending = prefetch.submit(_extract_batch, batches[k + 1], *options)
            results.update(_load_batch(extracted_batch, srv, tables, desde, ate, max_attempts,
                                       backoff_seconds, run_id))
            if progress:
                progress(len(results), len(municipios))
    return results


@dataclass
class _Batch:
    started: datetime
    t0: float
    before: dict[str, dict[str, int]]
    results: dict[str, PullResult]
    extracted: dict[str, dict[str, pa.Table]]


def _extract_batch(batch: list[Municipio], srv: config.Server, tables: list[str], desde, ate,
                   max_attempts: int, backoff_seconds: float, workers: int) -> _Batch:
    backfill = desde is not None or ate is not None
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    ids = [m.id_municipio for m in batch]
    before = destination_cursors(srv, ids, tables)
    results = {i: PullResult(i, "falha") for i in ids}

    def one(m: Municipio):
        return m.id_municipio, _extract_one(m, tables, {} if backfill else before[m.id_municipio],
                                            desde, ate, max_attempts, backoff_seconds, results[m.id_municipio])

    with ThreadPoolExecutor(max(1, min(workers, len(batch)))) as pool:
        extracted = {i: data for i, data in pool.map(one, batch) if data is not None}
    return _Batch(started, t0, before, results, extracted)


def _load_batch(b: _Batch, srv: config.Server, tables: list[str], desde, ate, max_attempts: int,
                backoff_seconds: float, run_id: str) -> dict[str, PullResult]:
    backfill = desde is not None or ate is not None
    started, t0, before, results, extracted = b.started, b.t0, b.before, b.results, b.extracted
    if extracted:
        append = frozenset() if backfill else _appendable(srv, tables, list(extracted))
        error = _load(srv, extracted, tables, max_attempts, backoff_seconds, append)
        for ident, data in extracted.items():
            r = results[ident]
            if error is None:
                r.status = "sucesso"
                r.error = r.error_kind = None
                r.rows = {t: data[t].num_rows for t in tables}
            else:
                r.error_kind, r.error = error
    for ident, r in results.items():
        for t in FACTS:
            if t not in tables:
                continue
            cur = before[ident].get(t)
            after = cur
            if r.status == "sucesso" and not backfill and extracted[ident][t].num_rows:
                after = max(cur or 0, pa.compute.max(extracted[ident][t][primary_key(t)]).as_py())
            r.cursors[t] = (cur, after)
        r.seconds = time.monotonic() - t0
    write_run_log(srv, run_id, started, datetime.now(timezone.utc), list(results.values()), tables,
                  "reprocessamento" if backfill else "incremental")
    return results


def _appendable(srv: config.Server, tables: list[str], ids: list[str]) -> frozenset[str]:
    """Tables whose extracted rows cannot be in raw_esus yet, so they are appended rather than
    merged (see esus_source): tables not created yet, facts read after their cursor, and
    dimensions of municipalities that have none loaded (a first pull). An existing table is
    appended to only once its unique index exists (created right after each load)."""
    out = set()
    with psycopg.connect(srv.url("loader"), autocommit=True) as conn:
        for table in tables:
            if conn.execute("select to_regclass(%s) is null", (f"{DATASET}.{table}",)).fetchone()[0]:
                out.add(table)
                continue
            if not conn.execute("select to_regclass(%s) is not null",
                                (f"{DATASET}.{table}__municipio_chave",)).fetchone()[0]:
                continue
            if table in FACTS or not conn.execute(
                    f"select exists (select 1 from {DATASET}.{table} where id_municipio = any(%s))",
                    (ids,)).fetchone()[0]:
                out.add(table)
    return frozenset(out)


def _load(srv: config.Server, extracted: dict[str, dict], tables: list[str], max_attempts: int,
          backoff_seconds: float, append: frozenset[str]) -> tuple[str, str] | None:
    """One dlt load of a batch; None on success, else (error kind, message)."""
    by_table = {t: [extracted[i][t] for i in extracted] for t in tables}
    # a pipeline per load: concurrent runs never share a working folder; nothing in its local
    # state matters (cursors come from the destination), so it is dropped afterwards
    pipeline = make_pipeline(f"esus_{uuid.uuid4().hex[:12]}", DATASET, srv)
    error: tuple[str, str] | None = None
    try:
        pipeline.extract(esus_source(by_table, append), loader_file_format=LOADER_FILE_FORMAT)
        pipeline.normalize()
        loaded = [t for t, parts in by_table.items() if any(p.num_rows for p in parts)]
        for attempt in range(1, max_attempts + 1):
            try:
                with _load_lock(srv) as lock:
                    pipeline.load()
                    ensure_indexes(lock.conn, loaded)
                return None
            except Exception as exc:
                error = (classify(exc), _root_message(exc, ""))
                if error[0] == "permanente" or attempt == max_attempts:
                    break
                time.sleep(backoff_seconds * 2 ** (attempt - 1))
    except Exception as exc:
        error = (classify(exc), _root_message(exc, ""))
    finally:
        pipeline.drop()
    return error


class _load_lock:
    """Loads into the shared raw_esus tables one at a time: dlt merges through shared staging
    tables (raw_esus_staging), which two concurrent loads would overwrite. Extraction, the slow part,
    still runs concurrently; a batch of municipalities is one load."""

    def __init__(self, srv: config.Server):
        self.srv = srv

    def __enter__(self):
        self.conn = psycopg.connect(self.srv.url("loader"), autocommit=True)
        self.conn.execute("select pg_advisory_lock(hashtext('mirante.raw_esus.load'))")
        return self

    def __exit__(self, *exc):
        self.conn.close()  # releases the lock


def write_run_log(srv: config.Server, run_id: str, started: datetime, ended: datetime,
                  results: list[PullResult], tables: list[str], mode: str) -> None:
    rows = [
        (run_id, r.id_municipio, t, started, ended, r.rows.get(t, 0),
         r.cursors.get(t, (None, None))[0], r.cursors.get(t, (None, None))[1],
         r.status, r.error_kind, r.error, r.attempts, mode)
        for r in results for t in tables
    ]
    with psycopg.connect(srv.url("loader"), autocommit=True) as conn:
        conn.execute(RUN_LOG_DDL)
        with conn.cursor() as cur:
            cur.executemany(
                f"insert into {DATASET}.execucoes values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows)
