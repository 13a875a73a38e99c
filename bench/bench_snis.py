"""SNIS loader throughput against a raw COPY of the same parsed rows, same server, same run.

    python bench/bench_snis.py [--rows 1000000] [--repeat 3]

1. Generates an export in the real format (UTF-16LE, ';', decimal comma, '.' thousands, trailing
   ';', 'TOTAL da AMOSTRA:' footer with the matching totals): the 1,871 real rows of the 2021 export
   repeated under new provider codes until --rows is reached.
2. Each round, in fresh subprocesses (peak RSS of each read with wait4):
   - loader: the production path (parse + dlt extract/normalize/load with merge into
     raw_snis.agua_esgoto_agregado, tables dropped before), timed end to end;
   - baseline: the same file parsed and written as CSV to disk (not timed), then only a raw
     `COPY ... FROM STDIN (FORMAT csv)` of those rows into a table of the same columns and types,
     timed.
3. Prints rows/s of each (median of the rounds), the ratio loader / COPY (median of the
   per-round ratios: rounds are interleaved so both see the same machine noise) and the loader's
   peak RSS (its own process, ru_maxrss from wait4; target < 1,500 MB: the loader streams).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from mirante import config

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BENCH_DB = "mirante_bench"
#: the loader's peak resident memory on the 1,000,000-row export must stay under this (issue 9)
PEAK_RSS_TARGET_MB = 1500


def _br(value: Decimal) -> str:
    """Brazilian number format of the export: '.' thousands, ',' decimals (2 places if fractional)."""
    sign = "-" if value < 0 else ""
    q = abs(value).quantize(Decimal("0.01"))
    whole, frac = f"{q:f}".split(".")
    groups = f"{int(whole):,}".replace(",", ".")
    return f"{sign}{groups},{frac}"


def generate(rows: int) -> Path:
    from mirante.config import shared_data_dir

    src = shared_data_dir() / "snis" / "agua-esgoto-agregado_2021.utf16.csv"
    reps = math.ceil(rows / 1871)
    path = OUT / f"agregado_2021_x{reps}.csv"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    text = src.read_bytes().decode("utf-16-le")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    while not lines[-1].strip():
        lines.pop()
    header, body, footer = lines[0], lines[1:-1], lines[-1]
    split_body = [line.split(";") for line in body]
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write((header + "\r\n").encode("utf-16-le"))
        for k in range(reps):
            block = []
            for fields in split_body:
                f = fields.copy()
                f[4] = f"{k + 1}{f[4]}"  # new provider code, unique per copy
                block.append(";".join(f))
            fh.write(("\r\n".join(block) + "\r\n").encode("utf-16-le"))
        out_footer = []
        for value in footer.split(";"):
            v = value.strip()
            if re.fullmatch(r"-?[\d.]+(,\d+)?", v):
                out_footer.append(_br(Decimal(v.replace(".", "").replace(",", ".")) * reps))
            else:
                out_footer.append(value)
        fh.write((";".join(out_footer) + "\r\n").encode("utf-16-le"))
    tmp.rename(path)
    return path


def child_loader(path: str) -> dict:
    from mirante import db
    from mirante.loaders.snis import LOADER_FILE_FORMAT, snis_source
    from mirante.pipelines import make_pipeline

    srv = db.server()
    t0 = time.perf_counter()
    pipeline = make_pipeline("snis_bench", "raw_snis", srv)
    pipeline.run(
        snis_source(directory=str(Path(path).parent), files=[Path(path).name]),
        loader_file_format=LOADER_FILE_FORMAT,
    )
    elapsed = time.perf_counter() - t0
    import psycopg

    with psycopg.connect(srv.url("loader")) as conn:
        rows = conn.execute("select count(*) from raw_snis.agua_esgoto_agregado").fetchone()[0]
        ok = conn.execute(
            "select count(*) filter (where status = 'ok'), count(*) from raw_snis.reconciliacao "
            "where arquivo = %s",
            (Path(path).name,),
        ).fetchone()
    steps = {
        s.step: round((s.finished_at - s.started_at).total_seconds(), 2)
        for s in pipeline.last_trace.steps
        if s.finished_at
    }
    return {"rows": rows, "seconds": elapsed, "steps": steps, "reconciled": f"{ok[0]}/{ok[1]}"}


def child_copy(path: str) -> dict:
    import psycopg
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from mirante import db
    from mirante.loaders.snis.parser import open_export

    srv = db.server()
    # the parsed rows as CSV on disk (streamed, not timed), then only the COPY is timed
    stream = open_export(path)
    rows_csv = OUT / "copy_rows.csv"
    schema = None
    rows = 0
    with rows_csv.open("wb") as fh:
        for table in stream.batches():
            schema = schema or table.schema
            rows += table.num_rows
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False))
            del table
    types = {pa.types.is_decimal: "numeric(38,2)", pa.types.is_integer: "bigint"}
    cols = ", ".join(
        f'"{f.name}" ' + next((t for test, t in types.items() if test(f.type)), "text") for f in schema
    )
    try:
        with psycopg.connect(srv.url("loader"), autocommit=True) as conn:
            conn.execute("drop table if exists raw_snis._bench_copy")
            conn.execute(f"create table raw_snis._bench_copy ({cols})")
            t0 = time.perf_counter()
            with conn.cursor() as cur, rows_csv.open("rb") as fh:
                with cur.copy("copy raw_snis._bench_copy from stdin (format csv)") as copy:
                    while block := fh.read(1 << 20):
                        copy.write(block)
            elapsed = time.perf_counter() - t0
            loaded = conn.execute("select count(*) from raw_snis._bench_copy").fetchone()[0]
            conn.execute("drop table raw_snis._bench_copy")
    finally:
        rows_csv.unlink(missing_ok=True)
    return {"rows": loaded, "seconds": elapsed, "expected_rows": rows}


def run_child(kind: str, path: Path, env: dict) -> dict:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, str(path)], env=env, stdout=subprocess.PIPE, cwd=ROOT
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{kind} run failed (status {status})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def reset(srv) -> None:
    import shutil

    import psycopg

    from mirante import db

    with psycopg.connect(srv.admin(), autocommit=True) as conn:
        conn.execute("drop schema if exists raw_snis cascade")
        conn.execute("drop schema if exists raw_snis_staging cascade")
    db.setup(srv)
    shutil.rmtree(config.home() / "dlt" / "snis_bench", ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, path = args.child
        print(json.dumps(child_loader(path) if kind == "loader" else child_copy(path)))
        return 0

    config.export({"MIRANTE_DB": BENCH_DB})
    from mirante import db

    started = config.external_server() is None and not db.embedded_running()
    try:
        srv = db.setup()
        t0 = time.perf_counter()
        path = generate(args.rows)
        print(
            f"export: {path.name} ({path.stat().st_size / 1e9:.2f} GB, UTF-16LE) ready in "
            f"{time.perf_counter() - t0:.0f} s"
        )
        env = config.child_environment({"MIRANTE_DB": BENCH_DB})
        loaders, copies, ratios = [], [], []
        for r in range(args.repeat):
            reset(srv)
            lo = run_child("loader", path, env)
            co = run_child("copy", path, env)
            loaders.append(lo)
            copies.append(co)
            ratios.append((lo["rows"] / lo["seconds"]) / (co["rows"] / co["seconds"]))
            print(
                f"round {r + 1}: loader {lo['rows']:,} rows in {lo['seconds']:.1f} s {lo['steps']} "
                f"(reconciled {lo['reconciled']}, peak {lo['peak_rss_mb']:.0f} MB); "
                f"COPY {co['rows']:,} rows in {co['seconds']:.1f} s; ratio {ratios[-1]:.2f}",
                flush=True,
            )
        reset(srv)
        med = statistics.median
        lo_rps = med([x["rows"] / x["seconds"] for x in loaders])
        co_rps = med([x["rows"] / x["seconds"] for x in copies])
        print()
        print(
            f"| path (1 file, {loaders[0]['rows']:,} rows x 229 columns, median of {args.repeat}) | rows/s | x raw COPY | peak RSS |"
        )
        print("|---|---|---|---|")
        print(
            f"| raw COPY FROM STDIN (csv) of the parsed rows | {co_rps:,.0f} | 1.00 | {med([c['peak_rss_mb'] for c in copies]):,.0f} MB |"
        )
        print(
            f"| SNIS loader: parse + dlt (Arrow -> CSV -> COPY, merge) | {lo_rps:,.0f} | {med(ratios):.2f} | {med([x['peak_rss_mb'] for x in loaders]):,.0f} MB |"
        )
        peak = max(x["peak_rss_mb"] for x in loaders)
        print(f"target: loader >= 0.7x COPY rows/s -> {'met' if med(ratios) >= 0.7 else 'NOT met'}")
        print(
            f"loader peak RSS (highest of {args.repeat} rounds): {peak:,.0f} MB; target < {PEAK_RSS_TARGET_MB:,} MB "
            f"-> {'met' if peak < PEAK_RSS_TARGET_MB else 'NOT met'}"
        )
        return 0
    finally:
        if started:
            db.stop_embedded()


if __name__ == "__main__":
    sys.exit(main())
