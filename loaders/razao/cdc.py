"""One capture: drain the replication slot up to the source's current WAL position into raw_razao.

    capture()  first call: create the slot exporting a snapshot, copy the five tables in that
               snapshot (operation 'snapshot' at the slot's consistent point) and record the state,
               all in one raw transaction; then, every call: start replication from the stored
               position, decode pgoutput, write each micro-batch of transactions (in commit order,
               with their LSNs) and the new state in ONE raw transaction, and only after its commit
               tell the slot (feedback flush_lsn) that it may forget them.

Exactly once, by construction:
  - a crash before the raw commit loses nothing: the slot was not confirmed, it re-sends;
  - a crash after the raw commit but before the feedback duplicates nothing: the re-sent
    transactions have a commit LSN <= lsn_confirmado and are skipped;
  - a crash in the middle of the first snapshot leaves a slot without state: it is dropped and the
    snapshot starts over (nothing was committed);
  - a slot the server invalidated (it held back more WAL than max_slot_wal_keep_size) or that
    vanished is replaced by a new snapshot, which also writes a delete for every key the changelog
    holds that the source no longer has.

`STAGE` is called at the points the fault drills kill the process (tests/faults/razao_driver.py).
"""

from __future__ import annotations

import logging
import select
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from . import pgoutput, raw
from .settings import BATCH_CHANGES, DATASET, DRAIN_TIMEOUT_S, TABLES, RazaoSettings, read_settings

I = sql.Identifier
log = logging.getLogger("mirante.loaders.razao")


def STAGE(name: str) -> None:  # noqa: N802 - a hook the fault drills replace
    """Named point of a capture (snapshot_copied, decoded, committed): a no-op, except in drills."""


@dataclass
class CaptureResult:
    slot: str
    #: whether this call took a snapshot (first run, or the slot was lost)
    snapshot: bool = False
    #: rows written per raw table (snapshot rows included)
    rows: dict[str, int] = field(default_factory=dict)
    transactions: int = 0
    #: transactions the slot re-sent that raw already held (after a crash before the feedback)
    skipped: int = 0
    lsn_confirmado: str | None = None
    events: list[str] = field(default_factory=list)
    #: WAL the slot still holds back after the capture (bytes)
    retained_wal_bytes: int | None = None


@dataclass
class _Pending:
    table: str
    values: dict
    lsn: int
    ordem: int
    operation: str


def _source(settings: RazaoSettings, **kw) -> psycopg.Connection:
    return psycopg.connect(settings.url(), connect_timeout=15, **kw)


def check_source(conn: psycopg.Connection, settings: RazaoSettings) -> None:
    """The source can serve the capture: logical decoding on, the publication exists."""
    from mirante import db

    problem = db.logical_decoding_problem(conn)
    if problem:
        raise RuntimeError(f"source {settings.host}:{settings.port}/{settings.database}: {problem}")
    if not conn.execute(
        "select 1 from pg_publication where pubname = %s", (settings.publication,)
    ).fetchone():
        raise RuntimeError(
            f"publication {settings.publication!r} is missing in {settings.database}: the source's owner "
            f"creates it (create publication {settings.publication} for table {', '.join(TABLES)})"
        )


def slot_info(conn: psycopg.Connection, slot: str) -> dict | None:
    row = conn.execute(
        """select slot_name, database, plugin, active, active_pid, wal_status, invalidation_reason::text,
                  confirmed_flush_lsn::text,
                  pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint,
                  pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint
           from pg_replication_slots where slot_name = %s""",
        (slot,),
    ).fetchone()
    if row is None:
        return None
    keys = (
        "slot",
        "database",
        "plugin",
        "active",
        "active_pid",
        "wal_status",
        "invalidation_reason",
        "confirmed",
        "retained",
        "retained_restart",
    )
    return dict(zip(keys, row, strict=True))


def retained_wal(settings: RazaoSettings) -> int | None:
    """Bytes of WAL not yet confirmed by the capture (pg_current_wal_lsn() - confirmed_flush_lsn):
    what the slot holds back for it; None without a slot."""
    with _source(settings, autocommit=True) as conn:
        info = slot_info(conn, settings.slot)
    return None if info is None else info["retained"]


def _drop_slot(conn: psycopg.Connection, slot: str, timeout: float = 30.0) -> None:
    """Drop the slot, waiting for the walsender of a killed capture to let go of it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("select pg_drop_replication_slot(%s)", (slot,))
            return
        except psycopg.errors.UndefinedObject:
            return
        except psycopg.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _source_columns(conn: psycopg.Connection, table: str) -> tuple[dict[str, str], list[str]]:
    cols = conn.execute(
        """select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a
           where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum""",
        (f"public.{table}",),
    ).fetchall()
    keys = conn.execute(
        """select a.attname from pg_index i
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
           where i.indrelid = %s::regclass and i.indisprimary order by a.attnum""",
        (f"public.{table}",),
    ).fetchall()
    return dict(cols), [k for (k,) in keys]


def _replication_connection(settings: RazaoSettings):
    import psycopg2
    import psycopg2.extras

    return psycopg2.connect(
        settings.url(), connection_factory=psycopg2.extras.LogicalReplicationConnection, connect_timeout=15
    )


def _snapshot(settings: RazaoSettings, target: psycopg.Connection, previous: tuple | None, result) -> None:
    """Create the slot with an exported snapshot and copy every table in it (one raw transaction
    with the state); `previous` is the stored state of a lost slot (keys gone meanwhile get a delete)."""
    repl = _replication_connection(settings)
    try:
        cur = repl.cursor()
        cur.execute(f"CREATE_REPLICATION_SLOT \"{settings.slot}\" LOGICAL pgoutput (SNAPSHOT 'export')")
        _name, consistent, snapshot_name, _plugin = cur.fetchone()
        with _source(settings, autocommit=True) as src:
            src.execute("begin isolation level repeatable read read only")
            src.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot_name)))
            (commit_em,) = src.execute("select now()").fetchone()
            ordem = 0
            for table in TABLES:
                source_cols, keys = _source_columns(src, table)
                raw.ensure_table(target, settings.slot, table, source_cols, consistent)
                names = list(source_cols)
                select_list = sql.SQL(", ").join(map(I, names))
                order = sql.SQL(", ").join(map(I, keys or names[:1]))
                copy_out = sql.SQL(
                    "copy (select {cols}, {lsn}::pg_lsn, {lsn}::pg_lsn, {em}::timestamptz, null::bigint, "
                    "{first} + row_number() over (order by {order}), 'snapshot' from public.{t}) to stdout"
                ).format(
                    cols=select_list,
                    lsn=sql.Literal(consistent),
                    em=sql.Literal(commit_em),
                    first=sql.Literal(ordem),
                    order=order,
                    t=I(table),
                )
                copy_in = sql.SQL("copy {}.{} ({}) from stdin").format(
                    I(DATASET), I(table), sql.SQL(", ").join(map(I, [*names, *raw.META_NAMES]))
                )
                with src.cursor().copy(copy_out) as out, target.cursor().copy(copy_in) as inp:
                    for chunk in out:
                        inp.write(chunk)
                (n,) = target.execute(
                    sql.SQL(
                        "select count(*) from {}.{} where _commit_lsn = %s and _operacao = 'snapshot'"
                    ).format(I(DATASET), I(table)),
                    (consistent,),
                ).fetchone()
                ordem += n
                result.rows[table] = result.rows.get(table, 0) + n
                if previous is not None:
                    gone = raw.delete_present(
                        target,
                        table,
                        keys,
                        consistent,
                        commit_em,
                        None,
                        ordem + 1,
                        keep_snapshot_at=consistent,
                    )
                    ordem += gone
                    result.rows[table] += gone
                STAGE("snapshot_copied")
            src.execute("rollback")
        raw.event(
            target,
            settings.slot,
            "snapshot",
            detalhe=f"{ordem} rows at the slot's consistent point"
            + (" (the previous slot was lost: new snapshot)" if previous else ""),
            lsn=consistent,
        )
        raw.write_state(target, settings.slot, consistent, consistent)
        target.commit()
        result.snapshot = True
        result.lsn_confirmado = consistent
    finally:
        repl.close()


class _Decoder:
    """pgoutput messages -> rows of raw tables, one transaction at a time."""

    def __init__(
        self,
        settings: RazaoSettings,
        target: psycopg.Connection,
        confirmed: str,
        primary_keys: dict[str, list[str]],
    ):
        self.settings = settings
        #: the source's primary keys (with REPLICA IDENTITY FULL pgoutput flags every column as key)
        self.primary_keys = primary_keys
        self.target = target
        self.confirmed = pgoutput.lsn_int(confirmed)
        self.relations: dict[int, pgoutput.Relation] = {}
        #: raw columns per table (loaded lazily); relations whose drift is not applied yet
        self.raw_columns: dict[str, dict[str, str]] = {}
        self.drift: list[pgoutput.Relation] = []
        self.txn: pgoutput.Begin | None = None
        self.txn_rows: list[_Pending] = []
        self.truncates: list[tuple[str, int]] = []
        self.ordem = 0
        #: committed transactions waiting for the next raw commit
        self.batch: list[tuple[pgoutput.Begin, pgoutput.Commit, list[_Pending], list]] = []
        self.batch_changes = 0
        self.skipped = 0
        self.ignored: set[str] = set()

    def feed(self, payload: bytes, data_start: int) -> None:
        msg = pgoutput.decode(payload)
        if isinstance(msg, pgoutput.Begin):
            self.txn, self.txn_rows, self.truncates, self.ordem = msg, [], [], 0
        elif isinstance(msg, pgoutput.Relation):
            self.relations[msg.oid] = msg
            if msg.name in TABLES:
                self.drift.append(msg)
        elif isinstance(msg, pgoutput.Change):
            rel = self.relations[msg.relation_oid]
            if rel.name not in TABLES:  # published on the source but not captured: said once
                if rel.name not in self.ignored:
                    self.ignored.add(rel.name)
                    log.warning(
                        f"razao capture: changes of {rel.namespace}.{rel.name} ignored (not in TABLES)"
                    )
                return
            names = [c.name for c in rel.columns]
            old = dict(zip(names, msg.old, strict=True)) if msg.old is not None else None
            if msg.operation == "delete":
                self._row(rel.name, old, data_start, "delete")
                return
            new = dict(zip(names, msg.new, strict=True))
            for name, value in new.items():
                if value is pgoutput.UNCHANGED:
                    new[name] = old.get(name) if old else None
            keys = self.primary_keys.get(rel.name, [])
            if msg.operation == "update" and old and keys and any(old[k] != new[k] for k in keys):
                self._row(rel.name, old, data_start, "delete")  # the key changed: the old one is gone
            self._row(rel.name, new, data_start, msg.operation)
        elif isinstance(msg, pgoutput.Truncate):
            for oid in msg.relation_oids:
                if self.relations[oid].name in TABLES:
                    self.ordem += 1
                    self.truncates.append((self.relations[oid].name, data_start))
        elif isinstance(msg, pgoutput.Commit):
            begin, self.txn = self.txn, None
            if msg.commit_lsn <= self.confirmed:
                self.skipped += 1  # already in raw: a crash came between the raw commit and the feedback
                return
            self.batch.append((begin, msg, self.txn_rows, self.truncates))
            self.batch_changes += len(self.txn_rows) + 1

    def _row(self, table: str, values: dict, lsn: int, operation: str) -> None:
        self.ordem += 1
        self.txn_rows.append(_Pending(table, values, lsn, self.ordem, operation))

    def _columns(self, table: str) -> dict[str, str]:
        if table not in self.raw_columns:
            self.raw_columns[table] = raw.columns(self.target, table) or {}
        return self.raw_columns[table]

    def _apply_drift(self, lsn: str) -> None:
        for rel in self.drift:
            table = rel.name
            types = dict(
                self.target.execute(
                    "select c.name, format_type(c.oid, c.typmod) from unnest(%s::text[], %s::oid[], %s::int[])"
                    " as c(name, oid, typmod)",
                    (
                        [c.name for c in rel.columns],
                        [c.type_oid for c in rel.columns],
                        [c.typmod for c in rel.columns],
                    ),
                ).fetchall()
            )
            source = {c.name: types[c.name] for c in rel.columns}
            self.raw_columns[table] = raw.ensure_table(self.target, self.settings.slot, table, source, lsn)
        self.drift = []

    def flush(self, result: CaptureResult) -> int | None:
        """Write the batch and the state in one raw transaction; returns the end LSN to confirm."""
        if not self.batch:
            return None
        last_commit = self.batch[-1][1]
        self._apply_drift(pgoutput.lsn_text(last_commit.commit_lsn))
        by_table: dict[str, list[tuple]] = {}
        for begin, commit, rows, truncates in self.batch:
            commit_lsn = pgoutput.lsn_text(commit.commit_lsn)
            for row in rows:
                cols = self._columns(row.table)
                values = [row.values.get(c) for c in cols]
                by_table.setdefault(row.table, []).append(
                    (
                        *values,
                        pgoutput.lsn_text(row.lsn),
                        commit_lsn,
                        begin.commit_time,
                        begin.xid,
                        row.ordem,
                        row.operation,
                    )
                )
            if truncates:
                self._write(by_table, result)
                by_table = {}
                for table, _lsn in truncates:
                    keys = self.primary_keys[table]
                    first = max((r.ordem for r in rows), default=0) + 1
                    n = raw.delete_present(
                        self.target, table, keys, commit_lsn, begin.commit_time, begin.xid, first
                    )
                    result.rows[table] = result.rows.get(table, 0) + n
                    raw.event(
                        self.target,
                        self.settings.slot,
                        "truncate",
                        table,
                        detalhe=f"{n} keys deleted",
                        lsn=commit_lsn,
                    )
        self._write(by_table, result)
        STAGE("decoded")
        raw.write_state(
            self.target,
            self.settings.slot,
            pgoutput.lsn_text(last_commit.commit_lsn),
            pgoutput.lsn_text(last_commit.end_lsn),
        )
        self.target.commit()
        result.transactions += len(self.batch)
        result.lsn_confirmado = pgoutput.lsn_text(last_commit.commit_lsn)
        self.confirmed = last_commit.commit_lsn
        self.batch, self.batch_changes = [], 0
        STAGE("committed")
        return last_commit.end_lsn

    def _write(self, by_table: dict[str, list[tuple]], result: CaptureResult) -> None:
        for table, rows in by_table.items():
            cols = [*self._columns(table), *raw.META_NAMES]
            stmt = sql.SQL("copy {}.{} ({}) from stdin").format(
                I(DATASET), I(table), sql.SQL(", ").join(map(I, cols))
            )
            with self.target.cursor().copy(stmt) as cp:
                for row in rows:
                    cp.write_row(row)
            result.rows[table] = result.rows.get(table, 0) + len(rows)


def capture(
    settings: RazaoSettings | None = None,
    srv=None,
    *,
    timeout_s: float = DRAIN_TIMEOUT_S,
    batch_changes: int = BATCH_CHANGES,
) -> CaptureResult:
    """Drain the slot up to the source's WAL position at the start of the call (a micro-batch run,
    not a daemon): see the module docstring. Raw rows are written as the loader role."""
    from mirante import db

    srv = srv or db.running_server()
    settings = settings or read_settings(srv)
    result = CaptureResult(slot=settings.slot)
    with psycopg.connect(srv.url("loader", settings.target_database), connect_timeout=15) as target:
        # one capture of a slot at a time (a second one would wait here, then find nothing to do)
        target.execute("select pg_advisory_lock(hashtext(%s))", (f"mirante.razao:{settings.slot}",))
        target.commit()
        raw.ensure_state(target)
        target.commit()
        state = raw.read_state(target, settings.slot)
        with _source(settings, autocommit=True) as src:
            check_source(src, settings)
            info = slot_info(src, settings.slot)
            if info is not None and (info["database"], info["plugin"]) != (settings.database, "pgoutput"):
                raise RuntimeError(
                    f"replication slot {settings.slot!r} exists for database {info['database']!r} "
                    f"(plugin {info['plugin']}), not {settings.database!r}: another capture owns that name; "
                    "set MIRANTE_RAZAO_SLOT to a name of its own (docs/cdc.md)"
                )
            if info is not None and (info["wal_status"] == "lost" or info["invalidation_reason"]):
                reason = info["invalidation_reason"] or "wal_removed"
                log.warning(f"slot {settings.slot} was invalidated ({reason}): taking a new snapshot")
                _drop_slot(src, settings.slot)
                raw.event(target, settings.slot, "slot_invalidado", detalhe=reason)
                target.commit()
                result.events.append(f"slot_invalidado: {reason}")
                info = None
            elif info is not None and state is None:
                # a first snapshot that never committed (killed midway): start it over
                _drop_slot(src, settings.slot)
                info = None
            elif info is None and state is not None:
                raw.event(target, settings.slot, "slot_ausente", detalhe="the slot vanished: new snapshot")
                target.commit()
                result.events.append("slot_ausente")
        if info is None:
            _snapshot(settings, target, state, result)
            state = raw.read_state(target, settings.slot)
            target.commit()
        _stream(settings, target, state, result, timeout_s, batch_changes)
        target.execute("select pg_advisory_unlock(hashtext(%s))", (f"mirante.razao:{settings.slot}",))
        target.commit()
    result.retained_wal_bytes = retained_wal(settings)
    return result


def _start(cur, settings: RazaoSettings, start_lsn: str, timeout: float = 30.0) -> None:
    """START_REPLICATION, waiting for a killed capture's walsender to release the slot."""
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            cur.start_replication(
                slot_name=settings.slot,
                decode=False,
                start_lsn=start_lsn,
                options={"proto_version": "1", "publication_names": settings.publication},
            )
            return
        except psycopg2.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _stream(settings, target, state, result: CaptureResult, timeout_s: float, batch_changes: int) -> None:
    confirmed, end = state
    with _source(settings, autocommit=True) as src:
        primary_keys = {table: _source_columns(src, table)[1] for table in TABLES}
        (goal,) = src.execute("select pg_current_wal_flush_lsn()::text").fetchone()
    goal_int = pgoutput.lsn_int(goal)
    decoder = _Decoder(settings, target, confirmed, primary_keys)
    repl = _replication_connection(settings)
    try:
        cur = repl.cursor()
        # from the slot's own confirmed position (start_lsn 0): after a crash between the raw commit
        # and the feedback the slot re-sends what raw holds, and the decoder skips it by commit LSN
        _start(cur, settings, "0/0")
        deadline = time.monotonic() + timeout_s
        asked = 0.0
        while True:
            msg = cur.read_message()
            if msg is not None:
                decoder.feed(msg.payload, msg.data_start)
                if decoder.txn is None and decoder.batch_changes >= batch_changes:
                    _confirm(cur, decoder.flush(result))
                continue
            if decoder.txn is None and cur.wal_end >= goal_int and asked:
                break  # everything up to the goal was sent and read
            if time.monotonic() > deadline:
                log.warning(
                    f"razao capture: stopped after {timeout_s:g} s short of {goal}; the next run goes on"
                )
                break
            now = time.monotonic()
            if now - asked > 0.5:
                cur.send_feedback(reply=True)  # ask for a keepalive: where the walsender stands
                asked = now
            select.select([repl], [], [], 0.5)
        _confirm(cur, decoder.flush(result))
        if decoder.txn is None and cur.wal_end > pgoutput.lsn_int(end):
            # nothing of ours is pending before wal_end: let the slot move past other databases' WAL
            cur.send_feedback(flush_lsn=cur.wal_end, force=True)
        result.skipped = decoder.skipped
        if result.lsn_confirmado is None:
            result.lsn_confirmado = pgoutput.lsn_text(decoder.confirmed)
    finally:
        repl.close()


def _confirm(cur, end_lsn: int | None) -> None:
    """Feedback after the raw commit: the slot may drop what raw now holds."""
    if end_lsn is not None:
        cur.send_feedback(flush_lsn=end_lsn, force=True)
