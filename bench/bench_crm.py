"""CRM load from the Ploomes-like emulator: a cold full load and an incremental one, timed.

    python bench/bench_crm.py [--inicio 2021-01-01 --hoje 2025-12-31 --clientes 40000
                               --negocios-dia 40 --advance 3 --repeat 3 --format csv]

Each round:
1. starts the emulator in its own process (`python -m mirante.emulators.crm`, so serving JSON does
   not share the loader's interpreter) over a larger world than the tests' (five years, more
   customers and deals), and touches each entity once so the emulator's first build of its
   records is not timed;
2. empties raw_crm and the pipeline state (database `mirante_bench`), then times the production
   loader (`mirante.loaders.crm.LOADER.load`: HTTP paging of 300 records, normalize, load, merge);
3. advances the emulated clock `--advance` days and times the incremental load (new deals and
   interactions, deals won or lost, stage moves, one day of lookback re-read and merged).
Prints records received from the API, rows landed in raw_crm, seconds and records/s, median of the
rounds. Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mirante import config

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "mirante_bench"
USER_KEY = "bench-emulator-crm-key"  # emulator credential, generated for this run only
TABLES = ("contacts", "contacts__phones", "deals", "interactions")


def _state(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/_emulator/state", timeout=30) as resp:
        return json.load(resp)


def _warm_up(base_url: str) -> None:
    for entity in ("Contacts", "Deals", "Interactions"):
        req = urllib.request.Request(f"{base_url}/{entity}?$top=1", headers={"User-Key": USER_KEY})
        urllib.request.urlopen(req, timeout=300).close()


def _counts(srv) -> dict[str, int]:
    import psycopg

    with psycopg.connect(srv.admin()) as conn:
        return {t: conn.execute(f"select count(*) from raw_crm.{t}").fetchone()[0] for t in TABLES}


def one_round(args: argparse.Namespace, srv) -> dict[str, dict]:
    import psycopg

    from mirante import db
    from mirante.loaders.crm import LOADER, read_settings

    cmd = [
        sys.executable,
        "-m",
        "mirante.emulators.crm",
        "--port",
        "0",
        "--user-key",
        USER_KEY,
        "--inicio",
        args.inicio,
        "--hoje",
        args.hoje,
        "--clientes",
        str(args.clientes),
        "--negocios-dia",
        str(args.negocios_dia),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        base_url = proc.stdout.readline().strip()
        _warm_up(base_url)
        with psycopg.connect(srv.admin(), autocommit=True) as conn:
            conn.execute("drop schema if exists raw_crm cascade")
            conn.execute("drop schema if exists raw_crm_staging cascade")
        db.setup(srv)
        shutil.rmtree(config.home() / "dlt" / "crm", ignore_errors=True)

        out = {}
        served = _state(base_url)["rows"]
        t0 = time.perf_counter()
        LOADER.load(read_settings(base_url, USER_KEY), srv=srv, loader_file_format=args.format)
        seconds = time.perf_counter() - t0
        records = _state(base_url)["rows"] - served
        out["cold"] = {
            "records": records,
            "rows": sum(_counts(srv).values()),
            "seconds": seconds,
            "tables": _counts(srv),
        }

        req = urllib.request.Request(
            f"{base_url}/_emulator/advance?dias={args.advance}", data=b"", method="POST"
        )
        urllib.request.urlopen(req, timeout=30).close()
        _warm_up(base_url)
        before = _counts(srv)
        served = _state(base_url)["rows"]
        t0 = time.perf_counter()
        LOADER.load(read_settings(base_url, USER_KEY), srv=srv, loader_file_format=args.format)
        seconds = time.perf_counter() - t0
        after = _counts(srv)
        out["incremental"] = {
            "records": _state(base_url)["rows"] - served,
            "rows": sum(after.values()) - sum(before.values()),
            "seconds": seconds,
            "tables": after,
        }
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inicio", default="2021-01-01")
    ap.add_argument("--hoje", default="2025-12-31")
    ap.add_argument("--clientes", type=int, default=40000)
    ap.add_argument(
        "--negocios-dia",
        type=float,
        default=40.0,
        help="below ~45: the world numbers deals ordinal*100 + n, unique under 100 a day",
    )
    ap.add_argument("--advance", type=int, default=3, help="days the clock moves before the incremental load")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--format",
        default="csv",
        choices=["csv", "insert_values", "jsonl"],
        help="dlt loader file format (the loader's default: csv)",
    )
    args = ap.parse_args(argv)

    config.export({"MIRANTE_DB": BENCH_DB})
    from mirante import db

    started = config.external_server() is None and not db.embedded_running()
    srv = db.setup()
    rounds = []
    try:
        for i in range(args.repeat):
            r = one_round(args, srv)
            rounds.append(r)
            print(
                f"round {i + 1}: cold {r['cold']['records']:,} records in {r['cold']['seconds']:.1f} s; "
                f"incremental {r['incremental']['records']:,} records in {r['incremental']['seconds']:.1f} s",
                flush=True,
            )
    finally:
        if started:
            db.stop_embedded()

    world = (
        f"{args.inicio}..{args.hoje}, {args.clientes:,} customers, {args.negocios_dia:g} deals/day, "
        f"loader file format {args.format}"
    )
    print(f"\nCRM load from the emulator ({world}); median of {args.repeat} rounds\n")
    print(f"{'phase':<22}{'API records':>12}{'rows landed':>13}{'seconds':>10}{'records/s':>11}")
    for phase, label in (("cold", "cold full load"), ("incremental", f"incremental (+{args.advance} days)")):
        seconds = statistics.median(r[phase]["seconds"] for r in rounds)
        records = rounds[-1][phase]["records"]
        rows = rounds[-1][phase]["rows"]
        print(f"{label:<22}{records:>12,}{rows:>13,}{seconds:>10.1f}{records / seconds:>11,.0f}")
    tables = rounds[-1]["cold"]["tables"]
    print("\nraw_crm after the cold load: " + ", ".join(f"{t} {n:,}" for t, n in tables.items()))
    print("(incremental 'rows landed' = net new rows; changed rows are merged in place)")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_crm.json").write_text(json.dumps({"args": vars(args), "rounds": rounds}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
