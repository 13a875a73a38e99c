"""ERP load (SAP Business One Service Layer-like) timed: cold full load and incremental reload.

    python bench/bench_erp.py [--pedidos-dia 50] [--inicio 2024-01-01] [--hoje 2025-12-31]
                              [--dias 10] [--page-size 500] [--repeat 3]

1. Starts the ERP emulator in a process of its own (`python -m mirante.emulators.erp`, a world
   bigger than the default one: --pedidos-dia orders per day from --inicio to --hoje), so the
   server does not share the loader's interpreter.
2. Cold load: empty raw_erp, `mirante.loaders.erp.LOADER.load` (login, nextLink paging with
   `Prefer: odata.maxpagesize`, merge on doc_entry) into a database of its own (mirante_bench_erp).
3. Advances the emulated clock --dias days (new orders and invoices, cancellations), then the
   incremental load (`$filter=UpdateDate ge '<last UpdateDate>'`).
Each phase --repeat times (a fresh emulator each time); prints rows (documents and lines), seconds
and rows/s per run and the median. Rows of a load = the rows dlt normalized in it (documents read,
including the re-read last day); the table totals are checked against the emulator's counts.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import requests

from mirante import config

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "mirante_bench_erp"
TABLES = ("orders", "orders__document_lines", "invoices", "invoices__document_lines")


def start_emulator(args) -> tuple[subprocess.Popen, str]:
    cmd = [
        sys.executable,
        "-m",
        "mirante.emulators.erp",
        "--port",
        "0",
        "--inicio",
        args.inicio,
        "--hoje",
        args.hoje,
        "--pedidos-dia",
        str(args.pedidos_dia),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "<base_url> (...)" once the documents are built
    if not line.startswith("http://"):
        proc.kill()
        raise RuntimeError(f"ERP emulator did not start: {line!r}")
    return proc, line.split()[0]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pedidos-dia", type=float, default=50.0)
    ap.add_argument("--inicio", default="2024-01-01")
    ap.add_argument("--hoje", default="2025-12-31")
    ap.add_argument("--dias", type=int, default=10)
    ap.add_argument("--page-size", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    config.export({"MIRANTE_DB": BENCH_DB})
    from mirante import db
    from mirante.emulators import erp
    from mirante.loaders.erp import LOADER
    from mirante.loaders.erp.settings import ErpSettings

    started = config.external_server() is None and not db.embedded_running()
    srv = db.setup()
    results: dict[str, list[tuple[dict[str, int], float]]] = {"cold": [], "incremental": []}
    try:
        for run in range(1, args.repeat + 1):
            proc, base_url = start_emulator(args)
            try:
                root = base_url.removesuffix("/b1s/v1")
                settings = ErpSettings(
                    base_url, erp.EMULATOR_COMPANY_DB, erp.EMULATOR_USERNAME, erp.EMULATOR_PASSWORD
                )
                with psycopg.connect(srv.admin(), autocommit=True) as conn:
                    conn.execute("drop schema if exists raw_erp cascade")
                    conn.execute("drop schema if exists raw_erp_staging cascade")
                db.setup(srv)
                name = f"erp_bench_{run}"
                shutil.rmtree(config.home() / "dlt" / name, ignore_errors=True)
                for phase in ("cold", "incremental"):
                    if phase == "incremental":
                        requests.post(
                            f"{root}/_emulator/advance?dias={args.dias}", timeout=600
                        ).raise_for_status()
                    t0 = time.perf_counter()
                    info = LOADER.load(settings, pipeline_name=name, page_size=args.page_size)
                    seconds = time.perf_counter() - t0
                    counts = info.pipeline.last_trace.last_normalize_info.row_counts
                    rows = {t: counts.get(t, 0) for t in TABLES}
                    results[phase].append((rows, seconds))
                    print(f"run {run} {phase:<11} {sum(rows.values()):>9,} rows {seconds:7.1f} s", flush=True)
                check(srv, root)
            finally:
                stop(proc)
    finally:
        if started:
            db.stop_embedded()

    print()
    print(
        f"ERP load, world {args.inicio}..{args.hoje} at {args.pedidos_dia:g} orders/day, "
        f"page size {args.page_size}, incremental after {args.dias} days; median of {args.repeat}"
    )
    header = f"{'phase':<12}{'orders':>9}{'o.lines':>9}{'invoices':>10}{'i.lines':>9}{'rows':>10}{'seconds':>9}{'rows/s':>9}"
    print(header)
    print("-" * len(header))
    for phase, runs in results.items():
        rows = runs[0][0]
        seconds = statistics.median(s for _, s in runs)
        total = sum(rows.values())
        print(
            f"{phase:<12}{rows['orders']:>9,}{rows['orders__document_lines']:>9,}{rows['invoices']:>10,}"
            f"{rows['invoices__document_lines']:>9,}{total:>10,}{seconds:>9.1f}{total / seconds:>9,.0f}"
        )
    print(
        "(seconds per run: "
        + "; ".join(f"{phase} " + ", ".join(f"{s:.1f}" for _, s in runs) for phase, runs in results.items())
        + ")"
    )
    return 0


def check(srv, root: str) -> None:
    """Raw tables hold exactly the emulator's documents (one row per DocEntry)."""
    served = requests.get(f"{root}/_emulator/stats", timeout=60).json()
    with psycopg.connect(srv.admin()) as conn:
        for table, key in (("orders", "orders"), ("invoices", "invoices")):
            n, distinct = conn.execute(
                f"select count(*), count(distinct doc_entry) from raw_erp.{table}"
            ).fetchone()
            if not n == distinct == served[key]:
                raise SystemExit(f"raw_erp.{table}: {n} rows, {distinct} ids, emulator serves {served[key]}")


if __name__ == "__main__":
    sys.exit(main())
