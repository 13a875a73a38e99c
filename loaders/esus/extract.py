"""Read one municipality's PEC tables in one read-only snapshot: what changed since the last pull,
as CSV bytes ready for `COPY ... FROM STDIN`, plus what the reconciliation needs from the same
snapshot (rows and highest key of each whole source table).

What a daily pull reads of a table (see the README, "Primary care", for why):
- facts: rows after the key cursor, OR in the trailing window of days (co_dim_tempo), OR written
  by a transaction the previous pull's snapshot could not see (the row's `xmin` is not older than
  that snapshot's xmin horizon: late commits of lower keys, keys handed out by a sequence cache,
  and rows updated in place such as st_faleceu or st_ficha_inativa);
- dimensions: rows written since the horizon;
- everything, on a municipality's first pull or when the source's transaction ids went backwards
  (a restored or replaced server: the horizon means nothing there);
- plus, for a table whose last reconciliation diverged, every row of the key buckets whose count
  or key sum differs from raw_esus (the publish step replaces those buckets whole).
A day-range re-pull (`desde`/`ate`) reads the facts of those days and the dimensions whole.

The rows are never parsed here: `COPY (SELECT <id_municipio>, columns ...) TO STDOUT` produces the
CSV that the publish step copies into the analytical database, where PostgreSQL checks every value
against the raw table's types.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import psycopg
from psycopg import sql

from .failures import DeadlineExceeded
from .settings import BUCKET_SIZE, FACTS, TABLES, primary_key

#: seconds to wait for a source to accept a connection before the attempt counts as failed
CONNECT_TIMEOUT = 10
#: TCP keepalives on source connections: a peer that vanished is noticed in about a minute
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
_XID_SPAN = 1 << 32
_XID_HALF = 1 << 31


def day_key(d: date) -> int:
    """co_dim_tempo of a day: the PEC keys its time dimension as yyyymmdd."""
    return d.year * 10000 + d.month * 100 + d.day


def key_day(key: int) -> date:
    return date(key // 10000, key // 100 % 100, key % 100)


@dataclass
class TableState:
    """Where the last incremental pull of one municipality's table left off (raw_esus.cursores)."""

    chave_max: int | None = None
    ultimo_dia: int | None = None
    horizonte_xmin: int | None = None
    divergente: bool = False
    #: raw_esus's (rows, key sum) per key bucket, read only when `divergente`
    raw_buckets: dict[int, tuple[int, int]] | None = None


@dataclass
class TableRead:
    table: str
    data: bytes
    #: source column -> its type as PostgreSQL prints it (format_type): the drift check
    source_types: dict[str, str]
    #: rows and highest key of the whole source table in the snapshot (incremental pulls only)
    source_count: int | None = None
    source_max: int | None = None
    #: key buckets re-read whole to repair a divergence (replaced whole when published)
    repaired_buckets: list[int] = field(default_factory=list)
    #: the whole table was read (first pull or a source whose horizon is void)
    whole: bool = False


@dataclass
class Extraction:
    id_municipio: str
    #: transaction-id horizon (64 bits) of the snapshot: the next pull reads rows written from here on
    horizonte_xmin: int
    tables: dict[str, TableRead]
    seconds: float = 0.0

    @property
    def bytes(self) -> int:
        return sum(len(t.data) for t in self.tables.values())


def _xmin_since(horizon: int) -> sql.Composable:
    """Rows whose inserting or updating transaction is not older than `horizon` (a 64-bit txid):
    `xmin` holds 32 bits, compared modulo 2**32 like PostgreSQL compares transaction ids. A frozen
    row older than 2**31 transactions may compare as new and is re-read: harmless, merged."""
    return sql.SQL("((xmin::text::bigint - {} + {}) % {}) < {}").format(
        sql.Literal(horizon % _XID_SPAN),
        sql.Literal(_XID_SPAN),
        sql.Literal(_XID_SPAN),
        sql.Literal(_XID_HALF),
    )


def predicate(
    table: str,
    state: TableState | None,
    current_horizon: int,
    *,
    trailing_days: int,
    desde: date | None = None,
    ate: date | None = None,
    buckets: list[int] | None = None,
) -> tuple[sql.Composable | None, bool]:
    """(WHERE condition or None for the whole table, whether the whole table is read)."""
    columns = TABLES[table]
    key = sql.Identifier(primary_key(table))
    if desde is not None or ate is not None:  # a day-range re-pull: facts of those days, dimensions whole
        if table in FACTS and "co_dim_tempo" in columns:
            lo, hi = day_key(desde or date(1900, 1, 1)), day_key(ate or date(2999, 12, 31))
            return sql.SQL("co_dim_tempo between {} and {}").format(sql.Literal(lo), sql.Literal(hi)), False
        return None, True
    if state is None or state.horizonte_xmin is None or current_horizon < state.horizonte_xmin:
        return None, True
    parts: list[sql.Composable] = [_xmin_since(state.horizonte_xmin)]
    if table in FACTS:
        if state.chave_max is not None:
            parts.insert(0, sql.SQL("{} > {}").format(key, sql.Literal(int(state.chave_max))))
        if "co_dim_tempo" in columns and state.ultimo_dia is not None:
            start = key_day(state.ultimo_dia) - timedelta(days=trailing_days)
            parts.insert(1, sql.SQL("co_dim_tempo >= {}").format(sql.Literal(day_key(start))))
    if buckets:
        parts.append(
            sql.SQL("({} / {}) = any({})").format(key, sql.Literal(BUCKET_SIZE), sql.Literal(list(buckets)))
        )
    return sql.SQL(" or ").join(sql.SQL("({})").format(p) for p in parts), False


def source_types(conn: psycopg.Connection, tables: list[str]) -> dict[str, dict[str, str]]:
    """Type of each selected column of each table, from the source's catalogue in one query: a
    table or column missing from the source (a PEC version without it) fails here, by name."""
    found: dict[str, dict[str, str]] = {}
    for table, column, type_ in conn.execute(
        """select c.relname, a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a
               join pg_class c on c.oid = a.attrelid
               where c.relnamespace = 'public'::regnamespace and c.relname = any(%s)
                 and a.attnum > 0 and not a.attisdropped""",
        (tables,),
    ):
        found.setdefault(table, {})[column] = type_
    out = {}
    for table in tables:
        if table not in found:
            raise LookupError(f'relation "{table}" does not exist in the source database')
        missing = [c for c in TABLES[table] if c not in found[table]]
        if missing:
            raise LookupError(
                f'column "{missing[0]}" of relation "{table}" does not exist in the source database'
            )
        out[table] = {c: found[table][c] for c in TABLES[table]}
    return out


def _buckets(conn: psycopg.Connection, table: str) -> dict[int, tuple[int, int]]:
    key = sql.Identifier(primary_key(table))
    rows = conn.execute(
        sql.SQL("select {k} / {b}, count(*), sum({k}) from {t} group by 1").format(
            k=key, b=sql.Literal(BUCKET_SIZE), t=sql.Identifier(table)
        )
    )
    return {int(b): (int(n), int(s)) for b, n, s in rows}


def divergent_buckets(source: dict[int, tuple[int, int]], raw: dict[int, tuple[int, int]]) -> list[int]:
    """Key buckets whose (rows, key sum) differ between the source and raw_esus."""
    return sorted(b for b in set(source) | set(raw) if source.get(b) != raw.get(b))


def _copy_out(conn: psycopg.Connection, query: sql.Composable) -> bytes:
    buf = io.BytesIO()
    with conn.cursor().copy(sql.SQL("copy ({}) to stdout with (format csv)").format(query)) as copy:
        for block in copy:
            buf.write(block)
    return buf.getvalue()


class _Watchdog:
    """Cuts a source connection when the municipality's deadline passes: a cancel request first,
    then the socket itself, so even a server that stopped answering (no statement timeout can fire
    there) releases the thread."""

    def __init__(self, conn: psycopg.Connection, seconds: float):
        self.conn, self.fired = conn, False
        self._timer = threading.Timer(max(seconds, 0.0), self._cut)
        self._timer.daemon = True

    def _cut(self) -> None:
        self.fired = True
        try:
            self.conn.cancel_safe(timeout=2)
        except Exception:  # noqa: BLE001 - the socket is cut next anyway
            pass
        try:
            sock = socket.socket(fileno=self.conn.fileno())
            try:
                sock.shutdown(socket.SHUT_RDWR)
            finally:
                sock.detach()
        except Exception:  # noqa: BLE001 - already closed
            pass

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()


def extract(
    url: str,
    id_municipio: str,
    tables: list[str],
    states: dict[str, TableState | None],
    *,
    deadline: float,
    statement_timeout: float,
    trailing_days: int,
    desde: date | None = None,
    ate: date | None = None,
) -> Extraction:
    """Every table of one municipality, read in one read-only REPEATABLE READ snapshot.

    `deadline` (time.monotonic()) bounds the whole extraction: connection, statements and
    transfer; past it the connection is cut and DeadlineExceeded is raised."""
    t0 = time.monotonic()
    remaining = deadline - t0
    if remaining <= 0:
        raise DeadlineExceeded(f"no time left in the municipality's budget for {id_municipio}")
    timeout_ms = int(max(1.0, min(statement_timeout, remaining)) * 1000)
    conn = psycopg.connect(
        url,
        connect_timeout=max(1, int(min(CONNECT_TIMEOUT, remaining))),
        application_name="mirante-esus",
        options=f"-c statement_timeout={timeout_ms}",
        **KEEPALIVES,
    )
    watchdog = _Watchdog(conn, deadline - time.monotonic())
    try:
        with conn, watchdog:
            # the first statement takes the snapshot: its horizon and every read below share it
            conn.execute("set transaction isolation level repeatable read, read only")
            horizon = int(conn.execute("select txid_snapshot_xmin(txid_current_snapshot())").fetchone()[0])
            types = source_types(conn, tables)
            reconcile = desde is None and ate is None
            out: dict[str, TableRead] = {}
            for table in tables:
                state = states.get(table)
                repair: list[int] = []
                if reconcile and state is not None and state.divergente:
                    repair = divergent_buckets(_buckets(conn, table), state.raw_buckets or {})
                cond, whole = predicate(
                    table, state, horizon, trailing_days=trailing_days, desde=desde, ate=ate, buckets=repair
                )
                select = sql.SQL("select {}::text, {} from {}").format(
                    sql.Literal(id_municipio),
                    sql.SQL(", ").join(map(sql.Identifier, TABLES[table])),
                    sql.Identifier(table),
                )
                if cond is not None:
                    select = sql.SQL("{} where {}").format(select, cond)
                read = TableRead(
                    table, _copy_out(conn, select), types[table], repaired_buckets=repair, whole=whole
                )
                if reconcile:
                    read.source_count, read.source_max = conn.execute(
                        sql.SQL("select count(*), max({}) from {}").format(
                            sql.Identifier(primary_key(table)), sql.Identifier(table)
                        )
                    ).fetchone()
                out[table] = read
    except Exception as exc:
        if watchdog.fired:
            raise DeadlineExceeded(
                f"the pull of {id_municipio} passed its budget and its source connection was cut"
            ) from exc
        raise
    return Extraction(id_municipio, horizon, out, time.monotonic() - t0)
