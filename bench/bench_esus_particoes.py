"""Raw e-SUS facts: a plain table, PARTITION BY HASH (id_municipio) or PARTITION BY RANGE (day)?

    python bench/bench_esus_particoes.py [--n 650] [--days 365] [--per-day 10] [--repeat 3]

Generates tb_fat_atendimento_individual (the largest raw fact table, its real columns and types)
for N municipalities x DAYS days x PER-DAY records, once, and copies the same rows into three
layouts of the raw table, each with the unique index the loader's upsert needs:
  plain         a table, unique (id_municipio, key)               (raw_esus before partitioning)
  hash          16 hash partitions on id_municipio, unique (id_municipio, key)        (chosen)
  range         monthly range partitions on co_dim_tempo, unique (id_municipio, key, co_dim_tempo)
                (a unique index on a partitioned table must hold the partition key)
  hash_include  hash, with co_dim_tempo as an INCLUDE column of the unique index (what range's
                index gives the day look-up for free)
loaded in the order daily pulls write rows (day after day, every municipality), then times,
median of --repeat runs each:
  cursor look-up   the latest day of every municipality, one query each (publish.py, first pulls;
                   the brief's "max date per municipality"), and the reconciliation's rows and
                   highest key per municipality, 100 municipalities per query
  daily insert     one new day for all N municipalities the way publish.py writes it: COPY into a
                   temporary table, then INSERT ... ON CONFLICT DO UPDATE (rolled back after)
  dbt read         the daily marts' incremental read (macro esus_corte_incremental): rows per
                   municipality and day over the whole table, then the rows of each municipality
                   from its cut-off (latest day - 3) on
Prints a table of medians (seconds). Uses its own database (mirante_bench_particoes), dropped after.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timedelta

import psycopg

from mirante import config

BENCH_DB = "mirante_bench_particoes"
TABLE = "tb_fat_atendimento_individual"
COLUMNS = {
    "co_seq_fat_atd_ind": "bigint not null",
    "co_dim_tempo": "bigint not null",
    "co_dim_unidade_saude_1": "bigint",
    "co_dim_equipe_1": "bigint",
    "co_dim_cbo_1": "bigint",
    "co_dim_profissional_1": "bigint",
    "co_dim_tipo_atendimento": "bigint",
    "co_dim_local_atendimento": "bigint",
    "co_dim_sexo": "bigint",
    "co_dim_faixa_etaria": "bigint",
    "co_fat_cidadao_pec": "bigint",
    "nu_cns": "character varying(15)",
    "nu_cpf_cidadao": "character varying(11)",
    "dt_inicial_atendimento": "timestamp without time zone",
    "id_municipio": "text not null",
    "_carregado_em": "timestamptz not null default now()",
    "_id_execucao": "text",
}
LAYOUTS = ("plain", "hash", "range", "hash_include")


def day_key(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def generate(conn, n: int, days: int, per_day: int, end: date) -> int:
    """The rows, once, in an unlogged table: municipality ids like IBGE codes, keys increasing with
    the day inside each municipality (the PEC's sequence), one row per record."""
    start = end - timedelta(days=days - 1)
    conn.execute("drop table if exists gerado")
    conn.execute(
        """create unlogged table gerado as
           select g.d * %(per)s + r                                            as co_seq_fat_atd_ind,
                  to_char(%(start)s::date + g.d, 'YYYYMMDD')::bigint          as co_dim_tempo,
                  1 + (r %% 5)::bigint as co_dim_unidade_saude_1, 1 + (r %% 7)::bigint as co_dim_equipe_1,
                  1 + (r %% 11)::bigint as co_dim_cbo_1, 1 + (r %% 13)::bigint as co_dim_profissional_1,
                  1 + (r %% 3)::bigint as co_dim_tipo_atendimento, 1::bigint as co_dim_local_atendimento,
                  1 + (r %% 2)::bigint as co_dim_sexo, 1 + (r %% 9)::bigint as co_dim_faixa_etaria,
                  (g.d * 7 + r) %% 5000 as co_fat_cidadao_pec,
                  lpad(((g.d * 7 + r) %% 5000)::text, 15, '7') as nu_cns,
                  lpad(((g.d * 7 + r) %% 5000)::text, 11, '1') as nu_cpf_cidadao,
                  (%(start)s::date + g.d)::timestamp + make_interval(mins => r)  as dt_inicial_atendimento,
                  (1100000 + m * 17)::text                                      as id_municipio
           from generate_series(1, %(n)s) m, generate_series(0, %(days)s - 1) g(d),
                generate_series(1, %(per)s) r""",
        {"n": n, "days": days, "per": per_day, "start": start},
    )
    return conn.execute("select count(*) from gerado").fetchone()[0]


def create_layout(conn, layout: str, first: date, last: date) -> None:
    """The table in schema bench_<layout>, empty, with its unique index."""
    from mirante.loaders.esus.settings import PARTITIONS

    schema = f"bench_{layout}"
    conn.execute(f"drop schema if exists {schema} cascade")
    conn.execute(f"create schema {schema}")
    defs = ", ".join(f"{c} {t}" for c, t in COLUMNS.items())
    t = f"{schema}.{TABLE}"
    if layout == "plain":
        conn.execute(f"create table {t} ({defs})")
        conn.execute(f"create unique index on {t} (id_municipio, co_seq_fat_atd_ind)")
    elif layout.startswith("hash"):
        conn.execute(f"create table {t} ({defs}) partition by hash (id_municipio)")
        for r in range(PARTITIONS):
            conn.execute(
                f"create table {t}_p{r:02d} partition of {t} for values with (modulus {PARTITIONS}, remainder {r})"
            )
        include = " include (co_dim_tempo)" if layout == "hash_include" else ""
        conn.execute(f"create unique index on {t} (id_municipio, co_seq_fat_atd_ind){include}")
    else:
        conn.execute(f"create table {t} ({defs}) partition by range (co_dim_tempo)")
        month = date(first.year, first.month, 1)
        while month <= last + timedelta(days=40):  # room for the new days
            following = (month + timedelta(days=32)).replace(day=1)
            conn.execute(
                f"create table {t}_{month:%Y%m} partition of {t} "
                f"for values from ({day_key(month)}) to ({day_key(following)})"
            )
            month = following
        conn.execute(f"create unique index on {t} (id_municipio, co_seq_fat_atd_ind, co_dim_tempo)")


def conflict_target(layout: str) -> str:
    return "id_municipio, co_seq_fat_atd_ind" + (", co_dim_tempo" if layout == "range" else "")


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def cursor_lookup(conn, layout: str, ids: list[str]) -> None:
    """The latest day of each municipality (publish.py, a municipality's first pull)."""
    query = f"select max(co_dim_tempo) from bench_{layout}.{TABLE} where id_municipio = %s"
    for ident in ids:
        conn.execute(query, (ident,)).fetchone()


def reconciliation(conn, layout: str, ids: list[str]) -> None:
    """Rows and highest key of each municipality, a batch of 100 at a time (publish.py)."""
    query = (
        f"select id_municipio, count(*), max(co_seq_fat_atd_ind) from bench_{layout}.{TABLE} "
        "where id_municipio = any(%s) group by 1"
    )
    for start in range(0, len(ids), 100):
        conn.execute(query, (ids[start : start + 100],)).fetchall()


def daily_insert(conn, layout: str, day_csv: bytes) -> None:
    """One day of every municipality, as publish.py writes rows into a table that has the
    municipality already: COPY into a temporary table, then the upsert. Rolled back."""
    data = [c for c in COLUMNS if not c.startswith("_")]
    cols = ", ".join(data)
    sets = ", ".join(f"{c} = excluded.{c}" for c in data if c != "id_municipio")
    with conn.transaction(force_rollback=True):
        conn.execute(
            f"create temp table estagio on commit drop as select {cols} from bench_{layout}.{TABLE} with no data"
        )
        with conn.cursor().copy(f"copy estagio ({cols}) from stdin with (format csv)") as copy:
            copy.write(day_csv)
        conn.execute("create index on estagio (id_municipio, co_seq_fat_atd_ind)")
        conn.execute("analyze estagio")
        conn.execute(
            f"""insert into bench_{layout}.{TABLE} as r ({cols}) select {cols} from estagio
                on conflict ({conflict_target(layout)}) do update set {sets}, _carregado_em = now()"""
        )


def dbt_read(conn, layout: str) -> None:
    conn.execute(
        f"""with por_dia as (
                select id_municipio, co_dim_tempo, count(*) as registros
                from bench_{layout}.{TABLE} group by 1, 2),
            corte as (
                select id_municipio, to_char(to_date(max(co_dim_tempo)::text, 'YYYYMMDD') - 3, 'YYYYMMDD')::bigint
                       as data_corte
                from por_dia group by 1)
            select count(*), sum(t.co_fat_cidadao_pec) from bench_{layout}.{TABLE} t
            join corte on corte.id_municipio = t.id_municipio
            where t.co_dim_tempo >= corte.data_corte"""
    ).fetchone()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=650, help="municipalities")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--per-day", type=int, default=10, help="records per municipality and day")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    config.export({"MIRANTE_DB": BENCH_DB})
    from mirante import db

    started = config.external_server() is None and not db.embedded_running()
    srv = db.setup()
    try:
        end = date.today() - timedelta(days=2)
        first = end - timedelta(days=args.days - 1)
        with psycopg.connect(srv.admin(BENCH_DB), autocommit=True) as conn:
            t = time.perf_counter()
            rows = generate(conn, args.n, args.days, args.per_day, end)
            print(
                f"{rows:,} rows generated ({args.n} municipalities x {args.days} days x {args.per_day}) "
                f"in {time.perf_counter() - t:.0f} s",
                flush=True,
            )
            ids = [r[0] for r in conn.execute("select distinct id_municipio from gerado order by 1")]
            new_day = end + timedelta(days=1)
            with conn.cursor().copy(
                f"""copy (select {args.days} * {args.per_day} + r, {day_key(new_day)}, 1, 1, 1, 1, 1, 1, 1, 1,
                                     r, lpad(r::text, 15, '7'), lpad(r::text, 11, '1'),
                                     '{new_day}'::timestamp, m
                              from unnest(%s::text[]) m, generate_series(1, {args.per_day}) r)
                        to stdout with (format csv)""",
                (ids,),
            ) as copy:
                day_csv = b"".join(bytes(block) for block in copy)
            cols = ", ".join(c for c in COLUMNS if not c.startswith("_"))
            for layout in LAYOUTS:
                create_layout(conn, layout, first, end)
                t = time.perf_counter()
                conn.execute(  # in the order daily pulls write them: day after day, every municipality
                    f"insert into bench_{layout}.{TABLE} ({cols}) select {cols} from gerado "
                    "order by co_dim_tempo, id_municipio, co_seq_fat_atd_ind"
                )
                conn.execute(f"vacuum analyze bench_{layout}.{TABLE}")
                print(f"{layout}: loaded in {time.perf_counter() - t:.1f} s", flush=True)
            conn.execute("drop table gerado")
            results: dict[str, dict[str, list[float]]] = {lay: {} for lay in LAYOUTS}
            for r in range(args.repeat):
                for layout in LAYOUTS:  # interleaved: a machine busy for a while weighs on every layout
                    res = results[layout]
                    res.setdefault("cursor", []).append(timed(cursor_lookup, conn, layout, ids))
                    res.setdefault("reconcile", []).append(timed(reconciliation, conn, layout, ids))
                    res.setdefault("insert", []).append(timed(daily_insert, conn, layout, day_csv))
                    res.setdefault("dbt", []).append(timed(dbt_read, conn, layout))
                    print(
                        f"  round {r + 1} {layout}: "
                        + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in res.items()),
                        flush=True,
                    )
            print()
            print(
                f"| layout ({rows:,} rows, {args.n} municipalities), median of {args.repeat} "
                f"| latest day per municipality ({args.n} queries) | rows and max key, batches of 100 "
                f"| daily insert ({args.n * args.per_day:,} rows) | dbt incremental read |"
            )
            print("|---|---|---|---|---|")
            for layout in LAYOUTS:
                med = {k: statistics.median(v) for k, v in results[layout].items()}
                print(
                    f"| {layout} | {med['cursor']:.2f} s | {med['reconcile']:.2f} s | {med['insert']:.2f} s "
                    f"| {med['dbt']:.2f} s |"
                )
        with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
            conn.execute(f"drop database if exists {BENCH_DB} with (force)")
        return 0
    finally:
        if started:
            db.stop_embedded()


if __name__ == "__main__":
    sys.exit(main())
