"""The e-SUS pull past one machine: in process vs 1 and 2 Celery workers (`mirante worker`).

    python bench/bench_celery.py [--n 100] [--repeat 3] [--lotes 4]

1. Creates N emulated municipal PEC databases (mirante.emulators.pec; kept with --keep) and a
   registry listing them; a Dagster instance on disk and a Redis server (Debian's redis-server) of
   the bench's own.
2. For each way of running: the job `esus_pull` in process (one step: what MIRANTE_EXECUTOR
   in_process runs daily), the batch job `esus_pull_lotes` (MIRANTE_ESUS_LOTES steps) in process,
   then on 1 and on 2 workers (MIRANTE_EXECUTOR=celery): a warm-up run (the workers import the code
   once per pool process), then --repeat cold pulls (raw_esus dropped before each), each launched
   by `dagster job execute` as a deployment launches it. The figure is the run's own duration
   (start to end in the instance), not the launcher's start-up.
3. Prints each run, then the medians, the ratio to the in-process batch job and the resident memory
   of each worker (its main process and its pool) after its runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mirante import config  # noqa: E402
from tests.celery_support import execute_job, redis_server, rss_mb, workers  # noqa: E402

BENCH_DB = "mirante_bench_celery"
PASSWORD = "bench-pec-source"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100, help="municipalities (emulated PEC databases)")
    ap.add_argument("--repeat", type=int, default=3, help="cold pulls per way of running (median)")
    ap.add_argument("--lotes", type=int, default=4, help="MIRANTE_ESUS_LOTES: steps of the batch job")
    ap.add_argument("--keep", action="store_true", help="keep the source databases afterwards")
    args = ap.parse_args()
    config.export({"MIRANTE_DB": BENCH_DB, "MIRANTE_ESUS_PASSWORD": PASSWORD})
    config.export({"MIRANTE_ESUS_LOTES": str(args.lotes)})
    from dagster import DagsterInstance, RunsFilter

    from mirante import db
    from mirante.emulators import pec
    from mirante.loaders.esus import registry
    from mirante.orchestration import instance as dagster_instance

    started = config.external_server() is None and not db.embedded_running()
    srv = db.setup()
    db.export_env(srv)
    ids = pec.selection(args.n)
    try:
        t0 = time.perf_counter()
        todo = [i for i in ids if i not in set(pec.list_municipios(srv))]
        pec.create_many(srv, todo, PASSWORD, end=date.today() - timedelta(days=2))
        with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
            pec.ensure_source_role(conn, PASSWORD)
        print(f"{len(ids)} source databases ready ({len(todo)} created) in {time.perf_counter() - t0:.0f} s")
        path = config.home() / "bench_celery_registry.toml"
        registry.write(
            path,
            [
                registry.Municipio(
                    i, i, "", f"postgresql://{pec.SOURCE_ROLE}@127.0.0.1:{srv.port}/{pec.database_name(i)}"
                )
                for i in ids
            ],
        )
        config.export({"MIRANTE_ESUS_REGISTRY": str(path)})
        from mirante.orchestration.defs.atencao_primaria import all_partitions_tags

        def reset() -> None:
            with psycopg.connect(srv.admin(), autocommit=True) as conn:
                for schema in ("raw_esus", "raw_esus_staging"):
                    conn.execute(f"drop schema if exists {schema} cascade")
            db.setup(srv)

        def rows() -> int:
            with psycopg.connect(srv.admin()) as conn:
                return conn.execute("select coalesce(sum(linhas), 0) from raw_esus.execucoes").fetchone()[0]

        with tempfile.TemporaryDirectory(prefix="bench-celery-") as tmp:
            home = Path(tmp) / "dagster"
            os.environ["DAGSTER_HOME"] = str(home)
            dagster_instance.prepare(home)
            with redis_server(Path(tmp) / "redis") as url, DagsterInstance.get() as instance:

                def measure(label: str, job: str, env: dict, tags: dict | None = None) -> list[float]:
                    times = []
                    for r in range(args.repeat + 1):
                        reset()
                        done = execute_job(job, env, timeout=3600, tags=tags)
                        if done.returncode != 0:
                            raise RuntimeError(
                                f"{label}: run failed\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
                            )
                        run = instance.get_runs(RunsFilter(job_name=job), limit=1)[0]
                        record = instance.get_run_record_by_id(run.run_id)
                        seconds = record.end_time - record.start_time
                        kind = "warm-up" if r == 0 else f"round {r}"
                        print(f"  {label}, {kind}: {rows():,} rows written in {seconds:.1f} s", flush=True)
                        if r:
                            times.append(seconds)
                    return times

                base = {**os.environ, "MIRANTE_REDIS_URL": url}
                results, memory = {}, {}
                inproc = {**base, "MIRANTE_EXECUTOR": "in_process"}
                results["esus_pull, in process (1 step)"] = measure(
                    "esus_pull in process", "esus_pull", inproc, all_partitions_tags()
                )
                results[f"esus_pull_lotes, in process ({args.lotes} steps)"] = measure(
                    "esus_pull_lotes in process", "esus_pull_lotes", inproc
                )
                celery = {**base, "MIRANTE_EXECUTOR": "celery"}
                for n in (1, 2):
                    with workers(n, celery, Path(tmp)) as started:
                        label = f"esus_pull_lotes, {n} Celery worker{'s' if n > 1 else ''}"
                        results[label] = measure(label, "esus_pull_lotes", celery)
                        memory[n] = [rss_mb(proc.pid) for _, proc, _ in started]

        reference = statistics.median(results[f"esus_pull_lotes, in process ({args.lotes} steps)"])
        print()
        print(
            f"| e-SUS cold pull of {len(ids)} municipalities ({rows():,} rows), median of {args.repeat} "
            "| run wall time | x in process (batch job) |"
        )
        print("|---|---|---|")
        for label, times in results.items():
            med = statistics.median(times)
            print(f"| {label} | {med:.1f} s | {reference / med:.2f} |")
        for n, values in memory.items():
            print(
                f"resident memory with {n} worker(s), each (main process + pool of 1): "
                + ", ".join(f"{v:.0f} MB" for v in values)
            )
        print(f"load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
        return 0
    finally:
        if not args.keep:
            for i in ids:
                pec.drop_municipio(srv, i)
        if started:
            db.stop_embedded()


if __name__ == "__main__":
    sys.exit(main())
