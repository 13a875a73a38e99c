"""`mirante run`: the whole asset graph, offline, on the embedded server, with a summary.

Starts what it needs (embedded PostgreSQL unless MIRANTE_DATABASE_URL is set, the IBGE emulator
unless MIRANTE_IBGE_BASE_URL is set), executes the `mirante_all` job of the same Definitions the
Dagster UI shows (runs are recorded in MIRANTE_HOME/dagster, visible in `make ui`), prints rows per
layer, quarantine, reconciliation and checks, and stops what it started.
"""

from __future__ import annotations

import os
import time

import psycopg

from mirante import config, db


def _count_tables(conn: psycopg.Connection, schemas: tuple[str, ...]) -> list[tuple[str, int]]:
    tables = conn.execute(
        """select table_schema, table_name from information_schema.tables
           where table_schema = any(%s) and table_type = 'BASE TABLE' and table_name not like '\\_dlt%%'
           order by 1, 2""", (list(schemas),)).fetchall()
    return [(f"{s}.{t}", conn.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]) for s, t in tables]


def summary(srv: config.Server, result) -> str:
    lines = []
    with psycopg.connect(srv.url("transformer")) as conn:
        lines.append("rows per raw table:")
        lines += [f"  {name:<45} {n:>9,}" for name, n in _count_tables(conn, config.RAW_SCHEMAS)]
        lines.append("rows per mart:")
        lines += [f"  {name:<45} {n:>9,}" for name, n in _count_tables(conn, (config.MARTS_SCHEMA,))]
        quarantined = 0
        if conn.execute("select to_regclass('raw_snis.quarentena')").fetchone()[0]:
            quarantined = conn.execute("select count(distinct (arquivo, linha)) from raw_snis.quarentena").fetchone()[0]
        lines.append(f"rows quarantined: {quarantined:,}")
        lines.append("reconciliation with each file's footer (columns matching / columns with a footer):")
        for arquivo, ok, n, rows in conn.execute(
                """select arquivo, count(*) filter (where status = 'ok'), count(*), max(linhas_carregadas)
                   from raw_snis.reconciliacao group by 1 order by 1"""):
            lines.append(f"  {arquivo:<45} {ok}/{n} ({rows:,} rows loaded){'' if ok == n else '  DIVERGES'}")
    evaluations = result.get_asset_check_evaluations()
    passed = sum(1 for e in evaluations if e.passed)
    lines.append(f"checks: {passed} passed, {len(evaluations) - passed} failed")
    for e in evaluations:
        if not e.passed:
            lines.append(f"  failed: {e.asset_key.to_user_string()} {e.check_name} ({e.severity.value})")
    lines.append(f"run: {'SUCCESS' if result.success else 'FAILURE'} ({result.run_id})")
    return "\n".join(lines)


def run_all(stop_server: bool = True) -> int:
    started_server = config.external_server() is None and not db.embedded_running()
    emulator = None
    t0 = time.monotonic()
    try:
        srv = db.setup()
        db.export_env(srv)
        dagster_home = config.home() / "dagster"
        dagster_home.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("DAGSTER_HOME", str(dagster_home))
        if not config.ibge_base_url():
            from mirante.emulators import ibge

            emulator = ibge.start()
            os.environ["MIRANTE_IBGE_BASE_URL"] = emulator.base_url
            print(f"IBGE emulator on {emulator.base_url}")

        from dagster import DagsterInstance

        from mirante.orchestration.definitions import defs

        job = defs.resolve_job_def("mirante_all")
        with DagsterInstance.get() as instance:
            result = job.execute_in_process(
                instance=instance, raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}})
        print(summary(srv, result))
        print(f"elapsed: {time.monotonic() - t0:.1f} s")
        return 0 if result.success else 1
    finally:
        if emulator is not None:
            emulator.stop()
            os.environ.pop("MIRANTE_IBGE_BASE_URL", None)
        if started_server and stop_server:
            db.stop_embedded()
