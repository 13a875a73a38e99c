"""Payment stream: event -> staging/mart latency at 100 events/s, micro-batches every minute.

    python bench/bench_eventos_latency.py [--taxa 100 --minutos 4 --intervalo 60]

0. loads the rest of the finance graph (history files, BCB series, the ledger by its slot) into the
   bench's database and builds the models the stream's descendants also read (prepare_finance);
1. starts the stream emulator in its own process (`python -m mirante.emulators.eventos_pagamento`,
   no backlog: every event's `ocorrido_em` is when it was published) at `--taxa` events/s;
2. empties raw_eventos_pagamento and the stream's staging table (database `mirante_bench`);
3. every `--intervalo` seconds for `--minutos`, does what the sensor's run does: the production
   ingester (`loaders.eventos_pagamento.ingest`: HTTP pages, parse, one transaction per batch),
   then `dbt build --select source:raw_eventos_pagamento+` (the raw asset's downstream: staging
   and every model added on it later, with their tests);
4. the latency of an event = when the build that made it visible ended - its `ocorrido_em`
   (every model of the build holds it then: staging and any mart downstream); also to raw (when
   its batch committed);
5. throughput: a backlog of `--backlog` events ingested from scratch in one run (what a run does
   after an outage), and the baseline (house rule): a raw `COPY ... FROM STDIN (csv)` of the same
   rows into a table of the same columns, timed, against the ingester's events/s.
Prints median, p95 and max latency, events/s ingested, peak RSS; target <= 120 s. Figures only:
nothing here asserts a time. Writes bench/out/bench_eventos_latency.json.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mirante import config

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "mirante_bench"
TOKEN = "bench-emulator-eventos-token"  # emulator credential, for this run only
TARGET_S = 120.0
SELECT = "source:raw_eventos_pagamento+"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def dbt(*args: str):
    from mirante.orchestration.resources import DBT_EXECUTABLE, DBT_PROJECT_DIR

    dirs = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    return subprocess.run(
        [str(DBT_EXECUTABLE), "--no-use-colors", *args, *dirs, "--target-path", "target/bench_eventos"],
        cwd=DBT_PROJECT_DIR,
        env=config.child_environment(),
        capture_output=True,
        text=True,
    )


def reset(srv) -> None:
    import psycopg

    from mirante import db

    with psycopg.connect(srv.admin(), autocommit=True) as conn:
        conn.execute("drop schema if exists raw_eventos_pagamento cascade")
        # the incremental models on the stream keep their highest offset: a stream restarted from
        # offset 1 needs them rebuilt (assert_lancamento_confere_fontes fails otherwise)
        conn.execute("drop table if exists staging.stg_eventos_pagamento__eventos cascade")
        conn.execute("drop table if exists marts.fct_lancamento cascade")
    db.setup(srv)


def copy_baseline(srv) -> dict:
    """COPY of the rows the ingester loaded (CSV in memory, not timed) into a table like theirs."""
    import psycopg

    with psycopg.connect(srv.url("loader")) as conn:
        buf = io.BytesIO()
        with conn.cursor().copy("copy raw_eventos_pagamento.eventos to stdout (format csv)") as out:
            for block in out:
                buf.write(block)
        data = buf.getvalue()
        conn.execute("drop table if exists raw_eventos_pagamento._bench_copy")
        conn.execute("create table raw_eventos_pagamento._bench_copy (like raw_eventos_pagamento.eventos)")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor().copy("copy raw_eventos_pagamento._bench_copy from stdin (format csv)") as copy:
            for i in range(0, len(data), 1 << 20):
                copy.write(data[i : i + (1 << 20)])
        conn.commit()
        seconds = time.perf_counter() - t0
        rows = conn.execute("select count(*) from raw_eventos_pagamento._bench_copy").fetchone()[0]
        conn.execute("drop table raw_eventos_pagamento._bench_copy")
        conn.commit()
    return {"rows": rows, "seconds": seconds}


def emulator(taxa: float, backlog: int) -> tuple[subprocess.Popen, str]:
    """The stream emulator in a process of its own; (process, base URL)."""
    cmd = [sys.executable, "-m", "mirante.emulators.eventos_pagamento", "--port", "0"]
    cmd += ["--taxa", str(taxa), "--backlog", str(backlog), "--token", TOKEN]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)
    proc.stdout.close()


def catch_up(args: argparse.Namespace, srv) -> dict:
    """Throughput: a backlog of `--backlog` events ingested from scratch in one run, and a raw COPY
    of the same rows."""
    from mirante.loaders.eventos_pagamento import ingest, read_settings

    reset(srv)
    proc, base_url = emulator(0, args.backlog)
    try:
        settings = read_settings(base_url=base_url, token=TOKEN, lote=args.lote, max_lotes=10_000)
        t0 = time.perf_counter()
        result = ingest(srv, settings)
        seconds = time.perf_counter() - t0
    finally:
        stop(proc)
    return {
        "events": result.eventos,
        "batches": len(result.lotes),
        "seconds": seconds,
        "copy": copy_baseline(srv),
    }


def run(args: argparse.Namespace, srv) -> dict:
    import psycopg

    from mirante.loaders.eventos_pagamento import ingest, read_settings

    reset(srv)
    proc, base_url = emulator(args.taxa, 0)
    ticks, raw_lat, model_lat = [], [], []
    ingested, ingest_s = 0, 0.0
    seen = 0
    try:
        settings = read_settings(base_url=base_url, token=TOKEN, lote=args.lote)
        start = time.time()
        for k in range(1, int(args.minutos * 60 / args.intervalo) + 1):
            time.sleep(max(0.0, start + k * args.intervalo - time.time()))
            t0 = time.time()
            result = ingest(srv, settings)
            t_raw = time.time()
            build = dbt("build", "--select", SELECT, "--indirect-selection", "cautious")
            t_end = time.time()
            if build.returncode != 0:
                raise RuntimeError(f"dbt build failed:\n{build.stdout[-3000:]}")
            with psycopg.connect(srv.url("transformer")) as conn:
                new = conn.execute(
                    "select deslocamento, extract(epoch from ocorrido_em)::float8 "
                    "from staging.stg_eventos_pagamento__eventos where deslocamento > %s",
                    (seen,),
                ).fetchall()
            seen = max([seen, *(n for n, _ in new)])
            raw_lat += [t_raw - t for _, t in new]
            model_lat += [t_end - t for _, t in new]
            ingested += result.eventos
            ingest_s += t_raw - t0
            tick = {
                "tick": k,
                "events": result.eventos,
                "batches": len(result.lotes),
                "ingest_s": round(t_raw - t0, 3),
                "dbt_build_s": round(t_end - t_raw, 2),
                "max_latency_s": round(max((t_end - t for _, t in new), default=0.0), 1),
            }
            ticks.append(tick)
            print(
                f"tick {k}: {tick['events']:,} events in {tick['batches']} batch(es), ingest {tick['ingest_s']:.2f} s, "
                f"dbt build {tick['dbt_build_s']:.1f} s, max latency {tick['max_latency_s']:.1f} s",
                flush=True,
            )
    finally:
        stop(proc)
    models = dbt(
        "--quiet", "ls", "--select", SELECT, "--resource-type", "model", "--output", "name"
    ).stdout.split()
    return {
        "ticks": ticks,
        "events": ingested,
        "ingest_seconds": ingest_s,
        "raw_latency": raw_lat,
        "model_latency": model_lat,
        "models": models,
    }


def prepare_finance(srv) -> None:
    """The finance graph the stream's marts also read, in the bench's database: the offline world's
    history files, BCB series and ledger (captured by its slot) loaded into raw, then every model
    the stream's descendants need (`dbt build --select @source:raw_eventos_pagamento`), so each
    tick's build reaches the marts (fct_lancamento, the cash flow, its forecast, the indicators)."""
    from mirante.emulators.world import offline
    from mirante.loaders import arquivos_financeiros, bcb, razao

    with offline(srv=srv):
        # pipelines of the bench's own: dlt keeps incremental cursors per pipeline, and the
        # make run database's would make these loads add nothing here
        arquivos_financeiros.LOADER.load(srv=srv, pipeline_name="bench_arquivos_financeiros")
        bcb.LOADER.load(srv=srv, pipeline_name="bench_bcb")
        settings = razao.read_settings(srv)
        razao.capture(settings, srv)
    build = dbt(
        "build", "--select", "@source:raw_eventos_pagamento", "--exclude", "source:raw_eventos_pagamento+"
    )
    if build.returncode != 0:
        raise RuntimeError(f"dbt build of the finance graph failed:\n{build.stdout[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--taxa", type=float, default=100.0, help="events per second the stream publishes")
    ap.add_argument("--minutos", type=float, default=4.0, help="how long the stream runs")
    ap.add_argument("--intervalo", type=float, default=60.0, help="seconds between runs (the sensor's 60)")
    ap.add_argument("--lote", type=int, default=5000, help="events per micro-batch")
    ap.add_argument(
        "--backlog", type=int, default=60_000, help="events of the catch-up run (10 min at 100/s)"
    )
    args = ap.parse_args(argv)

    config.export({"MIRANTE_DB": BENCH_DB})
    from mirante import db

    started = config.external_server() is None and not db.embedded_running()
    srv = db.setup()
    db.export_env(srv)
    try:
        prepare_finance(srv)
        r = run(args, srv)
        c = catch_up(args, srv)
    finally:
        if started:
            db.stop_embedded()

    lat, raw = r["model_latency"], r["raw_latency"]
    rps = c["events"] / c["seconds"]
    copy_rps = c["copy"]["rows"] / c["copy"]["seconds"]
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary = {
        "events": r["events"],
        "latency_s": {"median": statistics.median(lat), "p95": pct(lat, 0.95), "max": max(lat)},
        "raw_latency_s": {"median": statistics.median(raw), "p95": pct(raw, 0.95), "max": max(raw)},
        "live_events_per_s": r["events"] / r["ingest_seconds"] if r["ingest_seconds"] else 0.0,
        "catch_up": c,
        "ingest_events_per_s": rps,
        "copy_rows_per_s": copy_rps,
        "ratio_to_copy": rps / copy_rps,
        "peak_rss_mb": {"ingester": self_mb, "largest_child": child_mb},
        "models": r["models"],
    }
    print(
        f"\nPayment stream at {args.taxa:g} events/s for {args.minutos:g} min, a run every {args.intervalo:g} s "
        f"(ingest, then dbt build --select {SELECT}: {', '.join(r['models'])})\n"
    )
    print(f"{'event ->':<30}{'median s':>10}{'p95 s':>10}{'max s':>10}")
    for label, key in (("raw (batch committed)", "raw_latency_s"), ("every model of the build", "latency_s")):
        v = summary[key]
        print(f"{label:<30}{v['median']:>10.1f}{v['p95']:>10.1f}{v['max']:>10.1f}")
    verdict = "met" if summary["latency_s"]["max"] <= TARGET_S else "MISSED"
    print(f"target: every event in the models within {TARGET_S:.0f} s -> {verdict}")
    print(
        f"\nlive: {r['events']:,} events in {len(r['ticks'])} runs, {summary['live_events_per_s']:,.0f} events/s "
        f"while ingesting (arrival-bound: {args.taxa:g}/s arrive)"
    )
    print(
        f"catch-up: {c['events']:,} events in {c['batches']} batches, {c['seconds']:.1f} s = {rps:,.0f} events/s "
        f"(HTTP + parse + one transaction per batch); raw COPY of the same rows {copy_rps:,.0f} rows/s: "
        f"x{summary['ratio_to_copy']:.3f}"
    )
    print(
        f"peak RSS: ingester (this process) {self_mb:,.0f} MB; largest child (dbt, emulator) {child_mb:,.0f} MB"
    )
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_eventos_latency.json").write_text(
        json.dumps({"args": vars(args), "summary": summary, "ticks": r["ticks"]}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
