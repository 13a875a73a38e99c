"""Offline emulator of the e-SUS APS PEC databases: one PostgreSQL database per municipality.

This module is its command line, `python -m mirante.emulators.pec` (create, add-day, drop, list;
see the package's docstring). The line above is the --help description.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

from mirante import config
from mirante.emulators.pec.database import (
    DB_PREFIX,
    SOURCE_ROLE,
    add_day,
    create_many,
    database_name,
    drop_all,
    drop_municipio,
    list_municipios,
)
from mirante.emulators.pec.reference import selection
from mirante.emulators.pec.schema import FACT_TABLES


def _ids_arg(text: str) -> list[str]:
    return [i.strip() for i in text.split(",") if i.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mirante.emulators.pec", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create", help="(re)create PEC databases")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--n", type=int, help="the first N of the fixed selection (capitals by population first)"
    )
    which.add_argument("--ids", type=_ids_arg, help="comma-separated IBGE codes")
    c.add_argument("--days", type=int, default=730)
    c.add_argument("--end", type=date.fromisoformat, help="last day of the window (default yesterday)")
    c.add_argument("--per-day", type=float)
    c.add_argument("--seed", type=int)
    a = sub.add_parser("add-day", help="append one day's records")
    a.add_argument("--date", type=date.fromisoformat, required=True)
    a.add_argument("--ids", type=_ids_arg, help="default: every existing pec_ database")
    a.add_argument("--per-day", type=float)
    d = sub.add_parser("drop", help="drop PEC databases")
    dw = d.add_mutually_exclusive_group(required=True)
    dw.add_argument("--all", action="store_true", help="every pec_ database, the template and the role")
    dw.add_argument("--ids", type=_ids_arg)
    sub.add_parser("list", help="IBGE codes of the existing PEC databases")
    args = parser.parse_args(argv)

    from mirante import db

    srv = db.server()
    if args.cmd == "create":
        password = config.esus_password()
        if not password:
            parser.error(
                f"set MIRANTE_ESUS_PASSWORD (or `[esus] senha` in .dlt/secrets.toml) to the password "
                f"of role {SOURCE_ROLE}"
            )
        ids = args.ids or selection(args.n)
        kw = {
            k: v
            for k, v in (
                ("days", args.days),
                ("end", args.end),
                ("per_day", args.per_day),
                ("seed", args.seed),
            )
            if v is not None
        }
        t0 = time.perf_counter()
        result = create_many(srv, ids, password, **kw)
        for i, counts in result.items():
            print(
                f"{database_name(i)}: {sum(counts.values())} rows "
                f"({', '.join(f'{t}={n}' for t, n in counts.items() if t in FACT_TABLES)})"
            )
        print(
            f"{len(result)} databases in {time.perf_counter() - t0:.1f}s; loader URLs: "
            f"postgresql://{SOURCE_ROLE}:$MIRANTE_ESUS_PASSWORD@{srv.host}:{srv.port}/{DB_PREFIX}<id>"
        )
    elif args.cmd == "add-day":
        ids = args.ids or list_municipios(srv)
        for i in ids:
            counts = add_day(srv, i, args.date, args.per_day)
            print(f"{database_name(i)} {args.date}: " + ", ".join(f"{t}={n}" for t, n in counts.items()))
    elif args.cmd == "drop":
        if args.all:
            dropped = drop_all(srv)
        else:
            dropped = args.ids
            for i in dropped:
                drop_municipio(srv, i)
        print(f"dropped {len(dropped)} databases")
    else:
        for i in list_municipios(srv):
            print(i)
    return 0
