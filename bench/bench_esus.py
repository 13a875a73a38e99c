"""e-SUS PEC pull of many municipalities: cold and daily incremental, against a raw pipe.

    python bench/bench_esus.py [--n 650] [--concurrency 4]

1. Creates N emulated municipal PEC databases on the server (mirante.emulators.pec; 2 years each)
   and a registry listing them.
2. Cold pull: every municipality with the production loader, the path of the daily Dagster run
   (mirante.loaders.esus.pull.pull_many: `COPY (SELECT ...) TO STDOUT` as CSV, --concurrency
   municipalities extracted at a time, one transaction per batch of 100: first rows copied straight
   into raw_esus, later ones upserted through a temporary table; cursors, reconciliation and run
   log in the same transaction), wall time and rows/s.
3. Baseline, same run, same rows: for each municipality and table, a raw
   `COPY (SELECT <same columns>) TO STDOUT` piped into `COPY raw_copy.<table> FROM STDIN`, with
   the same concurrency.
4. One new day of records in every database (add_day), then the daily incremental pull, wall time.
Steps 2-4 are one round, repeated (--repeat 3, raw_esus dropped before each cold pull); prints each
round and a table of medians with rows/s, the ratio to the raw pipe, and whether the daily pull of N
municipalities stays within 10 minutes.
5. One more day, pulled the way production does it: the Dagster job `esus_pull` in one run over the
   N partitions (a registry listing the N databases), checks included; wall time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import psycopg

from mirante import config

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "mirante_bench"
PASSWORD = "bench-pec-source"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=650)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument(
        "--batch-size", type=int, default=None, help="municipalities per transaction (default: the loader's)"
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="rounds (cold, raw pipe, new day, daily); medians reported"
    )
    ap.add_argument(
        "--no-dagster",
        dest="dagster",
        action="store_false",
        help="skip the last step: one more day, pulled by the daily Dagster run",
    )
    ap.add_argument("--keep", action="store_true", help="keep the source databases afterwards")
    args = ap.parse_args()
    config.export({"MIRANTE_DB": BENCH_DB})
    config.export({"MIRANTE_ESUS_PASSWORD": PASSWORD})
    from mirante import db
    from mirante.emulators import pec
    from mirante.loaders.esus import registry
    from mirante.loaders.esus.pull import pull_many
    from mirante.loaders.esus.settings import TABLES

    started = config.external_server() is None and not db.embedded_running()
    srv = db.setup()
    db.export_env(srv)
    try:
        ids = pec.selection(args.n)
        end = date.today() - timedelta(days=2)
        t0 = time.perf_counter()
        existing = set(pec.list_municipios(srv))
        todo = [i for i in ids if i not in existing]
        pec.create_many(srv, todo, PASSWORD, end=end)
        with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
            pec.ensure_source_role(conn, PASSWORD)
        print(
            f"{len(ids)} source databases ready ({len(todo)} created) in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        munis = [
            registry.Municipio(
                i, i, "", f"postgresql://{pec.SOURCE_ROLE}@127.0.0.1:{srv.port}/{pec.database_name(i)}"
            )
            for i in ids
        ]

        def reset():
            with psycopg.connect(srv.admin(), autocommit=True) as conn:
                for schema in ("raw_esus", "raw_esus_staging", "raw_copy"):
                    conn.execute(f"drop schema if exists {schema} cascade")
            db.setup(srv)

        def sweep(label: str):
            t = time.perf_counter()
            options = {"batch_size": args.batch_size} if args.batch_size else {}
            results = list(pull_many(munis, srv, workers=args.concurrency, **options).values())
            wall = time.perf_counter() - t
            failed = [r.id_municipio for r in results if r.status != "sucesso"]
            rows = sum(sum(r.read.values()) for r in results)
            written = sum(sum(r.rows.values()) for r in results)
            print(
                f"  {label}: {rows:,} rows read ({written:,} written) from {len(munis)} municipalities in "
                f"{wall:.1f} s ({rows / wall:,.0f} rows/s), failed: {failed or 'none'}",
                flush=True,
            )
            return rows, wall

        rounds = []
        for r in range(args.repeat):
            print(f"round {r + 1}/{args.repeat}", flush=True)
            reset()
            cold = sweep("cold pull")
            pipe = raw_pipe(srv, ids, TABLES, args.concurrency)
            print(
                f"  raw pipe: {pipe[0]:,} rows in {pipe[1]:.1f} s ({pipe[0] / pipe[1]:,.0f} rows/s)",
                flush=True,
            )
            t = time.perf_counter()
            for i in ids:
                pec.add_day(srv, i, end + timedelta(days=1 + r))
            print(
                f"  one new day added to {len(ids)} databases in {time.perf_counter() - t:.0f} s", flush=True
            )
            daily = sweep("daily incremental pull")
            ratio = (cold[0] / cold[1]) / (pipe[0] / pipe[1])
            print(f"  ratio cold / raw pipe: {ratio:.2f}", flush=True)
            rounds.append((cold, pipe, daily, ratio))

        med = lambda values: statistics.median(values)  # noqa: E731
        cold_rows, cold_wall = med([c[0] for c, *_ in rounds]), med([c[1] for c, *_ in rounds])
        pipe_rows, pipe_wall = med([p[0] for _, p, *_ in rounds]), med([p[1] for _, p, *_ in rounds])
        inc_rows, inc_wall = med([d[0] for *_, d, _ in rounds]), med([d[1] for *_, d, _ in rounds])
        ratio = med([x for *_, x in rounds])
        print()
        print(
            f"| pull of {len(ids)} municipalities, concurrency {args.concurrency}, median of {args.repeat} "
            "| rows | wall time | rows/s | x raw pipe |"
        )
        print("|---|---|---|---|---|")
        print(
            f"| raw `COPY (SELECT ...) TO STDOUT` -> `COPY FROM STDIN` | {pipe_rows:,.0f} | {pipe_wall:.1f} s | {pipe_rows / pipe_wall:,.0f} | 1.00 |"
        )
        print(
            f"| loader, cold (COPY out -> COPY in, one transaction per batch, run log) | {cold_rows:,.0f} | {cold_wall:.1f} s | {cold_rows / cold_wall:,.0f} | {ratio:.2f} |"
        )
        print(
            f"| loader, daily incremental (1 new day + trailing window + rows changed since the horizon; rows read) | {inc_rows:,.0f} | {inc_wall:.1f} s | {inc_rows / inc_wall:,.0f} | - |"
        )
        print(
            f"targets: >= 0.7x raw pipe rows/s -> {'met' if ratio >= 0.7 else 'NOT met'} ({ratio:.2f}); "
            f"daily pull of {len(ids)} <= 10 min -> {'met' if inc_wall <= 600 else 'NOT met'} ({inc_wall / 60:.1f} min)"
        )
        if args.dagster:
            day = end + timedelta(days=1 + args.repeat)
            t = time.perf_counter()
            for i in ids:
                pec.add_day(srv, i, day)
            print(
                f"one more new day added to {len(ids)} databases in {time.perf_counter() - t:.0f} s",
                flush=True,
            )
            dagster_daily(srv, munis)
        if not args.keep:
            for i in ids:
                pec.drop_municipio(srv, i)
        return 0
    finally:
        if started:
            db.stop_embedded()


def dagster_daily(srv, munis) -> None:
    """The daily pull as production runs it: the `esus_pull` job over every partition of a registry
    listing the N databases, in one Dagster run (what the `esus_daily` schedule launches), with the
    run's checks (lateness, volume, GE suites on the raw facts)."""

    from mirante.loaders.esus import registry

    path = config.home() / "bench_registry.toml"
    registry.write(path, munis)
    config.export({"MIRANTE_ESUS_REGISTRY": str(path)})  # read when the definitions are imported
    from dagster import DagsterInstance

    from mirante.orchestration.definitions import defs
    from mirante.orchestration.defs.atencao_primaria import all_partitions_tags, municipios

    assert len(municipios.get_partition_keys()) == len(munis)
    t = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("esus_pull").execute_in_process(
            instance=instance, tags=all_partitions_tags(), raise_on_error=False
        )
    wall = time.perf_counter() - t
    print(
        f"Dagster daily run (job esus_pull over {len(munis)} partitions, checks included): "
        f"{'SUCCESS' if result.success else 'FAILURE'} in {wall:.1f} s ({wall / 60:.1f} min)",
        flush=True,
    )


def raw_pipe(srv, ids, tables, concurrency):
    from mirante.emulators import pec

    with psycopg.connect(srv.admin(), autocommit=True) as conn:
        conn.execute("create schema raw_copy")
        for t in tables:
            conn.execute(f"create table raw_copy.{t} as select * from raw_esus.{t} where false")

    def one(ident):
        with (
            psycopg.connect(srv.admin(pec.database_name(ident))) as src,
            psycopg.connect(srv.admin(), autocommit=True) as dst,
        ):
            for t, cols in tables.items():
                collist = ", ".join(cols)
                with (
                    src.cursor().copy(f"copy (select {collist} from {t}) to stdout") as out,
                    dst.cursor().copy(f"copy raw_copy.{t} ({collist}) from stdin") as inp,
                ):
                    for block in out:
                        inp.write(block)

    t = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, ids))
    wall = time.perf_counter() - t
    with psycopg.connect(srv.admin()) as c:
        rows = sum(c.execute(f"select count(*) from raw_copy.{t}").fetchone()[0] for t in tables)
        c.execute("drop schema raw_copy cascade")
        c.commit()
    return rows, wall


if __name__ == "__main__":
    sys.exit(main())
