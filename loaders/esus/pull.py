"""Pull one municipality: retries with backoff on transient errors, none on permanent ones, and one
run-log row per table (raw_esus.execucoes), the history the old transmissor never kept."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import psycopg

from mirante import config, db
from mirante.pipelines import make_pipeline

from . import esus_source
from .registry import Municipio
from .settings import DATASET, FACTS, LOADER_FILE_FORMAT, TABLES, primary_key

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


def _cursors(pipeline) -> dict[str, int | None]:
    resources = pipeline.state.get("sources", {}).get("esus", {}).get("resources", {})
    out = {}
    for table in FACTS:
        inc = resources.get(table, {}).get("incremental", {}).get(primary_key(table), {})
        out[table] = inc.get("last_value")
    return out


def pull(municipio: Municipio, srv: config.Server | None = None, *, tables: list[str] | None = None,
         desde: date | None = None, ate: date | None = None, max_attempts: int = 4,
         backoff_seconds: float = 1.0, run_id: str | None = None, raise_on_error: bool = False) -> PullResult:
    """Pull one municipality's PEC database into raw_esus and log the run, table by table."""
    srv = srv or db.server()
    run_id = run_id or uuid.uuid4().hex
    backfill = desde is not None or ate is not None
    name = f"esus_{municipio.id_municipio}" + ("_reprocessamento" if backfill else "")
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    password = municipio.password()
    pipeline = make_pipeline(name, DATASET, srv)
    result = PullResult(municipio.id_municipio, "falha")
    before: dict[str, int | None] = {}
    for attempt in range(1, max_attempts + 1):
        result.attempts = attempt
        try:
            # local state is dropped and restored from the destination, where dlt commits it with
            # the data: cursors moved by a failed extract never survive, so a rerun leaves no gap
            pipeline.drop()
            pipeline.sync_destination()
            if attempt == 1:
                before = _cursors(pipeline)
            source = esus_source(municipio.id_municipio, municipio.url(password), tables=tables,
                                 desde=desde, ate=ate)
            pipeline.extract(source, loader_file_format=LOADER_FILE_FORMAT)
            pipeline.normalize()
            with _load_lock(srv):
                pipeline.load()
            counts = pipeline.last_trace.last_normalize_info.row_counts
            result.rows = {t: counts.get(t, 0) for t in (tables or TABLES)}
            result.status = "sucesso"
            result.error = result.error_kind = None
            break
        except Exception as exc:  # classified, logged, retried or reported
            result.error_kind = classify(exc)
            result.error = _root_message(exc, password)
            if result.error_kind == "permanente" or attempt == max_attempts:
                break
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
    after = _cursors(pipeline) if result.status == "sucesso" else before
    result.cursors = {t: (before.get(t), after.get(t)) for t in FACTS}
    result.seconds = time.monotonic() - t0
    write_run_log(srv, run_id, municipio.id_municipio, started, datetime.now(timezone.utc), result,
                  tables or list(TABLES), "reprocessamento" if backfill else "incremental")
    if raise_on_error and result.status != "sucesso":
        raise PullError(municipio, result.error_kind or "permanente", result.attempts, result.error or "")
    return result


class _load_lock:
    """Loads into the shared raw_esus tables one at a time: dlt merges through shared staging
    tables (raw_esus_staging), which two concurrent loads would overwrite. Extraction, the slow part,
    still runs concurrently."""

    def __init__(self, srv: config.Server):
        self.srv = srv

    def __enter__(self):
        self.conn = psycopg.connect(self.srv.url("loader"), autocommit=True)
        self.conn.execute("select pg_advisory_lock(hashtext('mirante.raw_esus.load'))")
        return self

    def __exit__(self, *exc):
        self.conn.close()  # releases the lock


def write_run_log(srv: config.Server, run_id: str, id_municipio: str, started: datetime, ended: datetime,
                  result: PullResult, tables: list[str], mode: str) -> None:
    rows = [
        (run_id, id_municipio, t, started, ended, result.rows.get(t, 0),
         result.cursors.get(t, (None, None))[0], result.cursors.get(t, (None, None))[1],
         result.status, result.error_kind, result.error, result.attempts, mode)
        for t in tables
    ]
    with psycopg.connect(srv.url("loader"), autocommit=True) as conn:
        conn.execute(RUN_LOG_DDL)
        with conn.cursor() as cur:
            cur.executemany(
                f"insert into {DATASET}.execucoes values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows)
