"""Pull municipalities' PEC databases into raw_esus: batches of municipalities extracted a few at
a time (each within its own wall-clock budget, retried with backoff on transient errors, never on
permanent ones) and published one batch per transaction while the next batch is extracted.

Guarantees, whatever stops a run (kill -9, the database restarting, a publish failing, retries
running out), because nothing is written outside one batch transaction:
- raw_esus, its cursors (raw_esus.cursores) and the run log's counts move together or not at all;
- the next incremental pull reads from where the last COMMITTED one left off, so it fills any gap;
- every run leaves run-log rows (`em_andamento` at start, closed as `interrompido` by the next run
  if it died);
- two pulls of one municipality never overlap (an advisory lock per municipality).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import psycopg

from mirante import config, db
from mirante.errors import root_message

from . import raw, runlog
from .extract import Extraction, TableState, extract
from .failures import PERMANENT, TRANSIENT, DeadlineExceeded, InUse, classify
from .publish import Published, TableResult, publish
from .registry import Municipio
from .settings import BATCH_SIZE, DEFAULT_CONCURRENCY, FACTS, TABLES

__all__ = ["pull", "pull_many", "PullResult", "PullError", "classify"]


class PullError(RuntimeError):
    def __init__(self, municipio: Municipio, kind: str, attempts: int, message: str, code: str | None = None):
        retry = "not retried (permanent)" if kind == PERMANENT else f"gave up after {attempts} attempts"
        super().__init__(
            f"e-SUS pull of {municipio.nome} ({municipio.id_municipio}) failed, {retry}: {message}"
        )
        self.kind, self.code, self.attempts = kind, code, attempts


@dataclass
class PullResult:
    id_municipio: str
    status: str  # sucesso | falha
    #: rows written per table (inserted, changed or deleted), as committed
    rows: dict[str, int] = field(default_factory=dict)
    #: rows read from the source per table
    read: dict[str, int] = field(default_factory=dict)
    #: fact table -> (cursor before, cursor after)
    cursors: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    #: table -> 'ok' | 'divergente' (incremental pulls)
    reconciliation: dict[str, str | None] = field(default_factory=dict)
    attempts: int = 1
    error: str | None = None
    error_kind: str | None = None
    error_code: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class _Options:
    tables: list[str]
    desde: date | None
    ate: date | None
    max_attempts: int
    backoff_seconds: float
    budget: float
    statement_timeout: float
    trailing_days: int
    workers: int

    @property
    def mode(self) -> str:
        return "reprocessamento" if self.desde is not None or self.ate is not None else "incremental"


@dataclass
class _Failure:
    kind: str
    code: str
    message: str
    attempts: int


@dataclass
class _Batch:
    """One batch between extraction and publication: the connection holding its municipalities'
    locks, the state each extraction started from, what was read and what failed."""

    lock_conn: psycopg.Connection | None
    states: dict[str, dict[str, TableState]]
    extractions: dict[str, Extraction] = field(default_factory=dict)
    failures: dict[str, _Failure] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    t0: float = field(default_factory=time.monotonic)

    def release(self) -> None:
        if self.lock_conn is not None:
            self.lock_conn.close()  # releases the municipalities' locks
            self.lock_conn = None


class _Run:
    """The run's own connection: it holds the lock that says the run is alive and writes the run
    log's start and failure rows (reconnecting once if the database restarted meanwhile)."""

    def __init__(self, srv: config.Server, run_id: str):
        self.srv, self.run_id, self._conn = srv, run_id, None

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(
                self.srv.url("loader"), autocommit=True, application_name="mirante-esus-run"
            )
            runlog.lock_run(self._conn, self.run_id)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def pull(
    municipio: Municipio, srv: config.Server | None = None, *, raise_on_error: bool = False, **options
) -> PullResult:
    """Pull one municipality (the same path as many, a batch of one)."""
    result = pull_many([municipio], srv, **options)[municipio.id_municipio]
    if raise_on_error and result.status != "sucesso":
        raise PullError(
            municipio, result.error_kind or PERMANENT, result.attempts, result.error or "", result.error_code
        )
    return result


def pull_many(
    municipios: list[Municipio],
    srv: config.Server | None = None,
    *,
    tables: list[str] | None = None,
    desde: date | None = None,
    ate: date | None = None,
    max_attempts: int = 4,
    backoff_seconds: float = 1.0,
    run_id: str | None = None,
    workers: int = DEFAULT_CONCURRENCY,
    batch_size: int = BATCH_SIZE,
    budget: float | None = None,
    statement_timeout: float | None = None,
    trailing_days: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, PullResult]:
    """Pull many municipalities; a municipality that fails never stops the others.

    `budget` (default MIRANTE_ESUS_PRAZO_MUNICIPIO_S) bounds each municipality's extraction, all
    attempts together; `statement_timeout` (MIRANTE_ESUS_STATEMENT_TIMEOUT_S) each statement on a
    source; `trailing_days` (MIRANTE_ESUS_JANELA_DIAS) the days re-read on a daily pull."""
    srv = srv or db.server()
    run_id = run_id or uuid.uuid4().hex
    opts = _Options(
        tables=list(tables or TABLES),
        desde=desde,
        ate=ate,
        max_attempts=max(1, max_attempts),
        backoff_seconds=backoff_seconds,
        budget=budget or config.esus_municipality_budget(),
        statement_timeout=statement_timeout or config.esus_statement_timeout(),
        trailing_days=trailing_days or config.esus_trailing_days(),
        workers=max(1, workers),
    )
    municipios = list({m.id_municipio: m for m in municipios}.values())
    ids = [m.id_municipio for m in municipios]
    batches = [municipios[i : i + batch_size] for i in range(0, len(municipios), batch_size)]
    results: dict[str, PullResult] = {}
    run = _Run(srv, run_id)
    try:
        with run.conn.transaction():
            run.conn.execute("select pg_advisory_xact_lock(%s, 0)", (raw.LOCK_DDL,))
            runlog.ensure(run.conn)
            run.conn.execute(raw.CURSORS_DDL)
        runlog.close_interrupted(run.conn, run_id)
        runlog.start(run.conn, run_id, ids, opts.tables, opts.mode)
        with ThreadPoolExecutor(1, thread_name_prefix="esus-prefetch") as prefetch:
            pending = prefetch.submit(_extract_batch, batches[0], srv, opts) if batches else None
            for k in range(len(batches)):
                batch = pending.result()
                if k + 1 < len(batches):
                    pending = prefetch.submit(_extract_batch, batches[k + 1], srv, opts)
                try:
                    results.update(_publish_batch(batch, batches[k], srv, run, opts))
                finally:
                    batch.release()
                if progress:
                    progress(len(results), len(municipios))
    finally:
        run.close()
    return results


# --------------------------------------------------------------------------------------------
# extraction


def _extract_batch(batch: list[Municipio], srv: config.Server, opts: _Options) -> _Batch:
    """Lock the batch's municipalities, read where each left off, extract them `workers` at a
    time; a municipality another run holds is waited for, within its budget."""
    lock_conn = psycopg.connect(srv.url("loader"), autocommit=True, application_name="mirante-esus-locks")
    by_id = {m.id_municipio: m for m in batch}
    held, busy = [], []
    for ident in sorted(by_id):
        got = lock_conn.execute(
            "select pg_try_advisory_lock(%s, %s)", (raw.LOCK_MUNICIPIO, int(ident))
        ).fetchone()[0]
        (held if got else busy).append(ident)
    out = _Batch(lock_conn, raw.read_states(lock_conn, held, opts.tables) if held else {})
    lock = threading.Lock()

    def one(ident: str) -> None:
        data, failure, attempts = _extract_one(by_id[ident], out.states.get(ident, {}), opts, srv)
        with lock:
            out.attempts[ident] = attempts
            if data is not None:
                out.extractions[ident] = data
            else:
                out.failures[ident] = failure

    with ThreadPoolExecutor(
        max(1, min(opts.workers, len(held) or 1)), thread_name_prefix="esus-extract"
    ) as pool:
        list(pool.map(one, held))
    for ident in busy:  # another run is pulling it: wait for its publication, within the budget
        try:
            with lock_conn.transaction():
                lock_conn.execute(f"set local lock_timeout = '{int(opts.budget * 1000)}ms'")
                lock_conn.execute("select pg_advisory_lock(%s, %s)", (raw.LOCK_MUNICIPIO, int(ident)))
        except psycopg.errors.LockNotAvailable:
            exc = InUse(f"municipality {ident} is in use by another run (waited {opts.budget:.0f} s)")
            out.failures[ident] = _Failure(TRANSIENT, "em_uso", str(exc), 0)
            out.attempts[ident] = 0
            continue
        out.states.update(raw.read_states(lock_conn, [ident], opts.tables))
        one(ident)
    return out


def _extract_one(
    m: Municipio, states: dict[str, TableState], opts: _Options, srv: config.Server
) -> tuple[Extraction | None, _Failure | None, int]:
    """Extract one municipality with retries on transient errors, all within its budget."""
    deadline = time.monotonic() + opts.budget
    password = ""
    failure = None
    for attempt in range(1, opts.max_attempts + 1):
        try:
            password = m.password()
            data = extract(
                m.url(password, srv),
                m.id_municipio,
                opts.tables,
                states,
                deadline=deadline,
                statement_timeout=opts.statement_timeout,
                trailing_days=opts.trailing_days,
                desde=opts.desde,
                ate=opts.ate,
            )
            return data, None, attempt
        except Exception as exc:  # classified, logged, retried or reported
            kind, code = classify(exc)
            failure = _Failure(kind, code, root_message(exc, [password]), attempt)
            wait = opts.backoff_seconds * 2 ** (attempt - 1)
            if kind == PERMANENT or attempt == opts.max_attempts or time.monotonic() + wait >= deadline:
                if isinstance(exc, DeadlineExceeded) or time.monotonic() + wait >= deadline:
                    failure.message = (
                        f"{failure.message} (budget of {opts.budget:.0f} s for the municipality "
                        f"spent after {attempt} attempt(s))"
                    )
                return None, failure, attempt
            time.sleep(wait)
    return None, failure, opts.max_attempts


# --------------------------------------------------------------------------------------------
# publication


def _publish_batch(
    batch: _Batch, municipios: list[Municipio], srv: config.Server, run: _Run, opts: _Options
) -> dict[str, PullResult]:
    """Publish what was extracted (one transaction, retried on transient errors; on a permanent
    one, municipality by municipality so one bad source cannot fail the others), then log the
    failures."""
    published = Published()
    extractions = [
        batch.extractions[m.id_municipio] for m in municipios if m.id_municipio in batch.extractions
    ]
    if extractions:
        failure = _publish_with_retries(extractions, batch, srv, run.run_id, opts, published)
        if failure is not None and failure.kind == PERMANENT and len(extractions) > 1:
            for ext in extractions:
                alone = _publish_with_retries([ext], batch, srv, run.run_id, opts, published)
                if alone is not None:
                    batch.failures[ext.id_municipio] = alone
        elif failure is not None:
            for ext in extractions:
                batch.failures[ext.id_municipio] = failure
    for ident, failure in batch.failures.items():
        cursors = {t: s.chave_max for t, s in batch.states.get(ident, {}).items() if t in FACTS}
        runlog.fail(
            run.conn,
            run.run_id,
            ident,
            failure.kind,
            failure.code,
            failure.message,
            batch.attempts.get(ident, failure.attempts),
            cursors,
        )
    return {m.id_municipio: _result(m.id_municipio, batch, published, opts) for m in municipios}


def _publish_with_retries(
    extractions: list[Extraction],
    batch: _Batch,
    srv: config.Server,
    run_id: str,
    opts: _Options,
    published: Published,
) -> _Failure | None:
    attempts = {e.id_municipio: batch.attempts.get(e.id_municipio, 1) for e in extractions}
    for attempt in range(1, opts.max_attempts + 1):
        try:
            with psycopg.connect(
                srv.url("loader"), autocommit=True, application_name="mirante-esus-publish"
            ) as conn:
                done = publish(conn, extractions, batch.states, opts.tables, run_id, opts.mode, attempts)
            published.by_municipio.update(done.by_municipio)
            return None
        except Exception as exc:  # the transaction rolled back: nothing of this attempt is in raw_esus
            kind, code = classify(exc)
            failure = _Failure(kind, code, f"publishing to raw_esus failed: {root_message(exc)}", attempt)
            if kind == PERMANENT or attempt == opts.max_attempts:
                return failure
            time.sleep(opts.backoff_seconds * 2 ** (attempt - 1))
    return failure


def _result(ident: str, batch: _Batch, published: Published, opts: _Options) -> PullResult:
    seconds = time.monotonic() - batch.t0
    failure = batch.failures.get(ident)
    states = batch.states.get(ident, {})
    if failure is not None or ident not in published.by_municipio:
        failure = failure or _Failure(PERMANENT, "desconhecido", "not published", 0)
        cursors = {t: (states[t].chave_max if t in states else None,) * 2 for t in opts.tables if t in FACTS}
        return PullResult(
            ident,
            "falha",
            {t: 0 for t in opts.tables},
            {},
            cursors,
            {},
            batch.attempts.get(ident, failure.attempts),
            failure.message,
            failure.kind,
            failure.code,
            seconds,
        )
    tables: dict[str, TableResult] = published.by_municipio[ident]
    cursors = {}
    for t in opts.tables:
        if t in FACTS:
            r = tables.get(t)
            before = r.cursor_before if r else None
            cursors[t] = (before, r.cursor_after if r and opts.mode == "incremental" else before)
    return PullResult(
        ident,
        "sucesso",
        {t: tables[t].written if t in tables else 0 for t in opts.tables},
        {t: tables[t].read if t in tables else 0 for t in opts.tables},
        cursors,
        {t: tables[t].reconciled for t in tables},
        batch.attempts.get(ident, 1),
        seconds=seconds,
    )
