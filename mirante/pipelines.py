"""dlt pipelines of Mirante: Postgres destination as the loader role, state under MIRANTE_HOME,
and the lock that keeps two runs of one pipeline apart.

Two runs of one dlt pipeline at once share its working folder (MIRANTE_HOME/dlt/<name>: state,
pending load packages) and the merge staging tables of its dataset (`<dataset>_staging`): one
can load or delete the other's packages and truncate the staging table the other is merging
from. So every run, extract, normalize and load of a pipeline made by `make_pipeline` holds
`exclusive("dlt:<pipeline>", "dataset:<dataset>")`: PostgreSQL session advisory locks in the
analytical database, taken by a connection of its own and released when it closes, or when the
process dies (a kill -9 leaves no stale lock behind). They hold for every caller, Dagster runs of
any instance, the CLI, tests and benchmarks alike; Dagster's concurrency pools (one slot per
pipeline, see docs/concurrency.md) keep a second run from even starting its step, and this lock
is what remains true when two processes do not share a Dagster instance.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dlt
import psycopg

from mirante import config, db

log = logging.getLogger(__name__)

#: advisory-lock namespace (first int of the two-int form) of the run locks; the e-SUS loader
#: uses 7_245_331..7_245_333 (loaders/esus/raw.py)
LOCK_NAMESPACE = 7_245_340

_held = threading.local()


def lock_key(name: str) -> int:
    """The second int of a lock: a stable non-negative 31-bit hash of its name."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


@dataclass
class Held:
    """The locks a caller holds, how long it waited for them (0 when they were free) and who held
    them when it started waiting."""

    names: tuple[str, ...]
    waited_s: float
    blocked_by: list[str]


def _holders(conn: psycopg.Connection, key: int) -> list[str]:
    rows = conn.execute(
        """select a.pid, a.application_name, a.backend_start from pg_locks l
           join pg_stat_activity a on a.pid = l.pid
           where l.locktype = 'advisory' and l.granted and l.classid = %s and l.objid = %s and l.objsubid = 2""",
        (LOCK_NAMESPACE, key),
    ).fetchall()
    return [f"pid {pid} ({app or 'no name'}, connected {start:%H:%M:%S})" for pid, app, start in rows]


@contextmanager
def exclusive(
    *names: str,
    srv: config.Server | None = None,
    role: str = "loader",
    timeout_s: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Held]:
    """Hold the named locks (in the order given: callers name them in one fixed order) for the
    duration of the block; wait for whoever holds one of them, at most `timeout_s` (default
    MIRANTE_DLT_LOCK_TIMEOUT_S), reporting the wait through `on_wait` (default: this module's
    logger). Re-entrant within a thread: a block nested in another that holds the same names
    (dlt's `run` calls `extract`, `normalize` and `load`) takes nothing more."""
    held: dict[str, int] = _held.__dict__.setdefault("names", {})
    needed = [n for n in names if not held.get(n)]
    if not needed:
        for n in names:
            held[n] += 1
        try:
            yield Held(tuple(names), 0.0, [])
        finally:
            for n in names:
                held[n] -= 1
        return
    srv = srv or db.server()
    timeout_s = config.dlt_lock_timeout() if timeout_s is None else timeout_s
    on_wait = on_wait or log.warning
    conn = psycopg.connect(
        srv.url(role), autocommit=True, application_name=f"mirante-lock {' '.join(needed)}"[:63]
    )
    t0 = time.monotonic()
    blocked_by: list[str] = []
    blocked = False
    try:
        conn.execute(f"set lock_timeout = '{int(timeout_s * 1000)}ms'")
        for name in needed:
            key = lock_key(name)
            if not conn.execute("select pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, key)).fetchone()[0]:
                blocked = True
                holders = _holders(conn, key)
                blocked_by += holders
                on_wait(
                    f"waiting for lock {name!r} (held by {', '.join(holders) or 'another session'}), "
                    f"at most {timeout_s:.0f} s"
                )
                conn.execute("select pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, key))
        waited = time.monotonic() - t0 if blocked else 0.0
        if blocked:
            on_wait(f"got lock {', '.join(needed)} after {waited:.1f} s")
        for n in names:
            held[n] = held.get(n, 0) + 1
        try:
            yield Held(tuple(names), waited, blocked_by)
        finally:
            for n in names:
                held[n] -= 1
    finally:
        conn.close()  # ends the session: releases its advisory locks


def pipeline_locks(pipeline: dlt.Pipeline) -> tuple[str, ...]:
    """The locks of a dlt pipeline: its working folder (by name), then its dataset's staging."""
    return f"dlt:{pipeline.pipeline_name}", f"dataset:{pipeline.dataset_name}"


def _guard(pipeline: dlt.Pipeline, srv: config.Server | None) -> dlt.Pipeline:
    """Make run, extract, normalize and load of this pipeline object hold its locks."""
    names = pipeline_locks(pipeline)
    for step in ("run", "extract", "normalize", "load"):
        method = getattr(pipeline, step)

        @functools.wraps(method)
        def locked(*args, __method=method, **kwargs):
            with exclusive(*names, srv=srv):
                return __method(*args, **kwargs)

        setattr(pipeline, step, locked)
    return pipeline


#: the schema contract of every raw table: new tables and columns may appear (dlt adds them; the
#: drift shows in the schema and the load info), a column changing type fails the load
SCHEMA_CONTRACT = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}

#: dlt's writer settings for bulk Arrow loads (docs/stack-notes.md, "dlt writer settings for bulk
#: Arrow loads"): gzip at level 9 costs most of the load time on 2 cores and buys nothing on loopback.
WRITER_ENV = {
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    "NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION": "true",
    # Arrow rows carry the load id too (raw tables keep file, line and load id)
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    # big tables split into several load files, loaded in parallel (~1.3x for parquet: docs/stack-notes.md)
    "DATA_WRITER__FILE_MAX_ITEMS": "100000",
}


def destination(srv: config.Server | None = None):
    srv = srv or db.server()
    return dlt.destinations.postgres(credentials=srv.url("loader"))


def make_pipeline(pipeline_name: str, dataset_name: str, srv: config.Server | None = None) -> dlt.Pipeline:
    """A pipeline writing `dataset_name` (= Postgres schema = dbt source) as mirante_loader; its
    run, extract, normalize and load hold the pipeline's locks (`exclusive`)."""
    config.export_defaults(WRITER_ENV)  # dlt reads its writer settings from the environment
    pipelines_dir = config.home() / "dlt"
    pipelines_dir.mkdir(parents=True, exist_ok=True)
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination(srv),
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir),
        progress="log" if config.dlt_progress() else None,
    )
    return _guard(pipeline, srv)


def retrying_session(
    *, max_attempts: int, backoff_factor: float, max_retry_delay: float, request_timeout: float
):
    """dlt's retrying `requests` session for the REST sources: 429, 5xx and connection errors
    retried with exponential backoff (`backoff_factor * 2**n`, at most `max_retry_delay` s),
    Retry-After honoured; other errors are left to the caller (the REST client's response hooks
    raise them after the retries, e.g. a rejected credential at once)."""
    from dlt.sources.helpers.requests import Client

    return Client(
        request_timeout=request_timeout,
        raise_for_status=False,
        request_max_attempts=max_attempts,
        request_backoff_factor=backoff_factor,
        request_max_retry_delay=max_retry_delay,
        respect_retry_after_header=True,
    ).session


#: what to do with the load packages a killed run left behind (see `settle_pending`)
RESUME, DROP = "resume", "drop"


def settle_pending(pipeline: dlt.Pipeline, policy: str) -> dlt.Pipeline:
    """Finish or abort the load packages a killed run left behind, before a new run.

    Why: a run killed in normalize or load leaves its package on disk, and dlt's own `run` would
    then load that package and return *without extracting the new data*; the run would report
    success with yesterday's data. Every dlt loader calls this before `run`, with its policy for
    packages whose load has not begun:

    - `resume`: normalize and load them (a package exists only once its extract completed, so it
      is whole). Right when the next run may not re-read the same data: an incremental source
      whose cursor already moved past it, or a run limited to some files.
    - `drop`: abort them. Right when the next run re-extracts everything anyway.

    A package whose load began (a job started, completed or failed) is aborted whatever the
    policy: dlt re-runs an interrupted job from its start, so a job whose transaction committed
    just before the kill would be applied twice (a duplicate `_dlt_id` that fails the package for
    good, seen in the ERP drill, or doubled child rows). Aborting (`Pipeline.abort_packages`)
    records the package as aborted, deletes the later ones and rewinds the local state and schemas
    to before it, so the next run reads its data again (an incremental cursor included) and the
    merge applies it once. dlt never restores a state from the destination that an unfinished
    package wrote (it reads the state of completed loads only).

    Returns the pipeline, so call sites can wrap `make_pipeline(...)`.
    """
    if policy not in (RESUME, DROP):
        raise ValueError(f"unknown policy for pending dlt packages: {policy!r}")
    if not pipeline.has_pending_data:
        return pipeline
    # under the pipeline's locks: a run of the same pipeline elsewhere must not see half-settled packages
    with exclusive(*pipeline_locks(pipeline)):
        _settle(pipeline, policy)
    return pipeline


def _settle(pipeline: dlt.Pipeline, policy: str) -> None:
    from dlt.common.storages.load_package import PackageStorage

    if not pipeline.has_pending_data:  # settled by another process while this one waited
        return
    import logging

    extracted = list(pipeline.list_extracted_load_packages())
    normalized = list(pipeline.list_normalized_load_packages())
    begun = []
    for load_id in normalized:
        info = pipeline.get_load_package_info(load_id)
        if PackageStorage.is_package_partially_loaded(info) or any(
            info.jobs[s] for s in ("started_jobs", "completed_jobs", "failed_jobs")
        ):
            begun.append(load_id)
    action = "dropping" if policy == DROP or begun else "resuming"
    logging.getLogger(__name__).warning(
        "pipeline %s: %s the packages of an interrupted run (extracted %s, normalized %s, load begun %s)",
        pipeline.pipeline_name,
        action,
        extracted,
        normalized,
        begun,
    )
    if action == "dropping":
        pipeline.abort_packages()
    else:
        if extracted:
            pipeline.normalize()
        if pipeline.list_normalized_load_packages():
            pipeline.load()
