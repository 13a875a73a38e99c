"""The database side: the source role, the template, one pec_<id> database per municipality
filled with COPY, a day's records appended (or held in an open transaction), rows changed in
place, listing and dropping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from urllib.parse import quote

import psycopg
from psycopg import sql

from mirante.emulators.pec.generator import Cidadao, Gerador, _day_rng, generate
from mirante.emulators.pec.mundo import _tempo_key, _tempo_row, build_world
from mirante.emulators.pec.reference import _check_id, default_per_day, default_seed
from mirante.emulators.pec.schema import (
    _COLUMN_SETS,
    COLUMN_NAMES,
    FACT_TABLES,
    TABLES,
    _ddl_version,
    _pk,
    ddl,
)

#: the login role the loader reads every PEC database with (CONNECT + SELECT only)
SOURCE_ROLE = "pec_leitura"
#: the database holding the empty schema, cloned for each municipality
TEMPLATE_DB = "pec_template"
DB_PREFIX = "pec_"
#: prefix of the database comments written by the emulator (metadata read back by add_day)
_TAG = "mirante-pec-emulator"
_LOCK_KEY = 7_245_330_001  # advisory lock: template creation / one add_day per database

I = sql.Identifier


def database_name(id_municipio: str) -> str:
    return f"{DB_PREFIX}{id_municipio}"


def connection_url(srv, id_municipio: str, password: str) -> str:
    """TCP URL the loader uses for one municipality (role pec_leitura, password auth, TLS checked
    against the server's CA as for every other connection to it)."""
    from mirante import config

    return config.with_params(
        f"postgresql://{SOURCE_ROLE}:{quote(password, safe='')}@{srv.host}:{srv.port}/"
        f"{database_name(id_municipio)}",
        config.esus_ssl(srv.host, srv.port, srv),
    )


def _admin(srv, database: str = "postgres", **kw) -> psycopg.Connection:
    return psycopg.connect(srv.admin(database), autocommit=True, **kw)


def ensure_source_role(conn: psycopg.Connection, password: str) -> None:
    """Create the read-only login role, or reset its password."""
    if not password:
        raise ValueError(f"a password for role {SOURCE_ROLE} is required")
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (SOURCE_ROLE,)).fetchone()
    conn.execute(
        sql.SQL("{} role {} login nosuperuser nocreatedb nocreaterole noreplication password {}").format(
            sql.SQL("alter" if exists else "create"), I(SOURCE_ROLE), sql.Literal(password)
        )
    )
    conn.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(I(SOURCE_ROLE)))


def _db_comment(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute(
        "select shobj_description(oid, 'pg_database') from pg_database where datname = %s", (name,)
    ).fetchone()
    return row[0] if row else None


def ensure_template(srv) -> None:
    """Create (or rebuild when the DDL changed) the template database holding the empty schema."""
    tag = f"{_TAG} template {_ddl_version()}"
    with _admin(srv) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            if _db_comment(conn, TEMPLATE_DB) == tag:
                return
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(I(TEMPLATE_DB)))
            conn.execute(
                sql.SQL("create database {} template template0 encoding 'UTF8'").format(I(TEMPLATE_DB))
            )
            conn.execute(sql.SQL("revoke all on database {} from public").format(I(TEMPLATE_DB)))
            with _admin(srv, TEMPLATE_DB) as tconn:
                tconn.execute(ddl())
            conn.execute(sql.SQL("comment on database {} is {}").format(I(TEMPLATE_DB), sql.Literal(tag)))
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _copy(conn: psycopg.Connection, table: str, rows: Sequence[tuple]) -> None:
    if not rows:
        return
    stmt = sql.SQL("copy {} ({}) from stdin").format(
        I(table), sql.SQL(", ").join(map(I, COLUMN_NAMES[table]))
    )
    with conn.cursor() as cur, cur.copy(stmt) as cp:
        for row in rows:
            cp.write_row(row)


def _setval(conn: psycopg.Connection, next_ids: dict[str, int]) -> None:
    for table, nxt in next_ids.items():
        if nxt > 1:
            conn.execute("select setval(%s, %s, true)", (f"seq_{table}", nxt - 1))


def create_municipio(
    srv,
    id_municipio: str,
    password: str | None,
    *,
    days: int = 730,
    end: date | None = None,
    per_day: float | None = None,
    seed: int | None = None,
) -> dict[str, int]:
    """(Re)create pec_<id> from the template, grant the source role, fill it; rows per table.

    `password` (re)sets the source role's password; None leaves the role as it is (it must exist).
    """
    rows, meta = generate(id_municipio, days=days, end=end, per_day=per_day, seed=seed)
    _prepare(srv, password)
    return _write_database(srv, _check_id(id_municipio), rows, meta)


def _prepare(srv, password: str | None) -> None:
    with _admin(srv) as conn:
        if password is not None:
            ensure_source_role(conn, password)
        elif not conn.execute("select 1 from pg_roles where rolname = %s", (SOURCE_ROLE,)).fetchone():
            raise ValueError(f"role {SOURCE_ROLE} does not exist: pass its password")
    ensure_template(srv)


def _write_database(srv, id_municipio: str, rows: dict[str, list[tuple]], meta: dict) -> dict[str, int]:
    name = database_name(id_municipio)
    with _admin(srv) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(I(name)))
        conn.execute(sql.SQL("create database {} template {}").format(I(name), I(TEMPLATE_DB)))
        conn.execute(
            sql.SQL("comment on database {} is {}").format(I(name), sql.Literal(f"{_TAG} {json.dumps(meta)}"))
        )
        conn.execute(sql.SQL("revoke all on database {} from public").format(I(name)))
        conn.execute(sql.SQL("grant connect on database {} to {}").format(I(name), I(SOURCE_ROLE)))
    with psycopg.connect(srv.admin(name)) as conn:
        conn.execute("set local synchronous_commit = off")
        conn.execute(sql.SQL("grant usage on schema public to {}").format(I(SOURCE_ROLE)))
        conn.execute(sql.SQL("grant select on all tables in schema public to {}").format(I(SOURCE_ROLE)))
        for table, table_rows in rows.items():
            _copy(conn, table, table_rows)
        _setval(conn, {t: len(rows[t]) + 1 for t in FACT_TABLES})
    return {t: len(r) for t, r in rows.items()}


def create_many(srv, ids: Sequence[str], password: str | None, **kw) -> dict[str, dict[str, int]]:
    """create_municipio for every id, in order (role and template prepared once); rows per table
    per id. Sequential on purpose: generating in parallel processes or threads measured slower on
    2 cores, where the server's COPY and CREATE DATABASE compete for the same CPUs."""
    ids = [_check_id(i) for i in ids]
    _prepare(srv, password)
    return {i: _write_database(srv, i, *generate(i, **kw)) for i in ids}


def _meta(conn: psycopg.Connection) -> dict:
    row = conn.execute(
        "select shobj_description(oid, 'pg_database') from pg_database where datname = current_database()"
    ).fetchone()
    comment = (row and row[0]) or ""
    if comment.startswith(_TAG + " "):
        try:
            return json.loads(comment[len(_TAG) + 1 :])
        except ValueError:
            pass
    return {}


def _load_citizens(conn: psycopg.Connection) -> list[Cidadao]:
    rows = conn.execute("""
        select c.co_seq_fat_cidadao_pec, c.co_cidadao, c.no_cidadao, c.co_dim_sexo, c.co_dim_tempo_nascimento,
               c.nu_cns, c.nu_cpf_cidadao, c.nu_telefone_celular, c.co_dim_unidade_saude_vinc,
               c.co_dim_equipe_vinc, cad.nu_uuid_ficha,
               (select max(a.co_seq_fat_cad_individual) from tb_fat_cad_individual a
                where a.co_fat_cidadao_pec = c.co_seq_fat_cidadao_pec and a.st_ficha_inativa = 0)
        from tb_fat_cidadao_pec c
        left join (select distinct on (co_fat_cidadao_pec) co_fat_cidadao_pec, nu_uuid_ficha
                   from tb_fat_cad_individual order by co_fat_cidadao_pec, co_seq_fat_cad_individual) cad
               on cad.co_fat_cidadao_pec = c.co_seq_fat_cidadao_pec
        where c.st_deletar = 0 and c.st_faleceu = 0
        order by c.co_seq_fat_cidadao_pec""").fetchall()
    return [
        Cidadao(
            r[0],
            r[1],
            r[2],
            r[3],
            date(r[4] // 10000, r[4] // 100 % 100, r[4] % 100),
            r[5],
            r[6],
            r[7],
            r[8],
            r[9],
            r[10],
            r[11],
        )
        for r in rows
    ]


def _next_ids(conn: psycopg.Connection) -> dict[str, int]:
    out = {}
    for table in FACT_TABLES:
        last, called = conn.execute(
            sql.SQL("select last_value, is_called from {}").format(I(f"seq_{table}"))
        ).fetchone()
        out[table] = last + 1 if called else last
    return out


def _day(
    conn: psycopg.Connection, id_municipio: str, day: date, per_day: float | None
) -> tuple[Gerador, list[tuple]]:
    """A day's generator run against the database's current state, and the tb_dim_tempo rows the
    day needs that the database lacks (the caller holds the per-database lock)."""
    meta = _meta(conn)
    seed = int(meta.get("seed", default_seed(id_municipio)))
    if per_day is None:
        per_day = meta.get("per_day", default_per_day(id_municipio))
    key = _tempo_key(day)
    batch = sum(
        conn.execute(
            sql.SQL("select count(*) from {} where co_dim_tempo = %s").format(I(t)), (key,)
        ).fetchone()[0]
        for t in FACT_TABLES
        if t != "tb_fat_cidadao_pec"
    )
    g = Gerador(build_world(id_municipio, seed), _load_citizens(conn), _next_ids(conn))
    g.dia(_day_rng(seed, day, batch), day, per_day)
    known = {
        r[0]
        for r in conn.execute(
            "select co_seq_dim_tempo from tb_dim_tempo where co_seq_dim_tempo = any(%s)", (sorted(g.tempo),)
        )
    }
    return g, [_tempo_row(k) for k in sorted(g.tempo - known)]


def _apply_updates(conn: psycopg.Connection, updates: list[tuple[str, int, dict]]) -> None:
    for table, key, values in updates:
        conn.execute(
            sql.SQL("update {} set {} where {} = %s").format(
                I(table), sql.SQL(", ").join(sql.SQL("{} = %s").format(I(c)) for c in values), I(_pk(table))
            ),
            [*values.values(), key],
        )


def _counts(g: Gerador, novos_tempo: list[tuple]) -> dict[str, int]:
    return (
        {"tb_dim_tempo": len(novos_tempo)}
        | {t: len(g.rows[t]) for t in FACT_TABLES}
        | {"atualizacoes": len(g.updates)}
    )


def add_day(srv, id_municipio: str, day: date, per_day: float | None = None) -> dict[str, int]:
    """Append one day's new records to pec_<id> (sequences continue; tb_dim_tempo rows added when
    missing; maybe a few new citizens) and apply the day's changes to existing rows (fichas
    superseded by a new cadastro get st_ficha_inativa = 1, deaths st_faleceu = 1). Returns rows
    added per table and `atualizacoes`, the rows changed in place."""
    id_municipio = _check_id(id_municipio)
    if isinstance(day, datetime):
        day = day.date()
    with psycopg.connect(srv.admin(database_name(id_municipio))) as conn:
        conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        g, novos_tempo = _day(conn, id_municipio, day, per_day)
        conn.execute("set local synchronous_commit = off")
        _copy(conn, "tb_dim_tempo", novos_tempo)
        for table in FACT_TABLES:
            _copy(conn, table, g.rows[table])
        _apply_updates(conn, g.updates)
        _setval(conn, g.next_ids)
    return _counts(g, novos_tempo)


@contextmanager
def pending_day(srv, id_municipio: str, day: date, per_day: float | None = None) -> Iterator[dict[str, int]]:
    """A day's records written in a transaction that stays open while the block runs, committed
    when it ends (rolled back if it raises): an out-of-order commit. Their keys are taken at once,
    so records added meanwhile (add_day, another pending day) get HIGHER keys and may commit
    first, as concurrent PEC sessions and their sequence caches do; a `day` in the past is a late
    ficha on top of that. Yields the counts add_day returns.

    The day's changes to existing rows (inactivated fichas, deaths) commit at once with the key
    reservation: the open transaction only inserts, so it holds no lock another writer could wait
    on."""
    id_municipio = _check_id(id_municipio)
    name = database_name(id_municipio)
    with psycopg.connect(srv.admin(name)) as reserve:  # short: generate, reserve keys, add the days
        reserve.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        g, novos_tempo = _day(reserve, id_municipio, day, per_day)
        _copy(reserve, "tb_dim_tempo", novos_tempo)
        _apply_updates(reserve, g.updates)
        _setval(reserve, g.next_ids)
    conn = psycopg.connect(srv.admin(name))
    try:
        for table in FACT_TABLES:
            _copy(conn, table, g.rows[table])
        yield _counts(g, novos_tempo)
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()
    finally:
        conn.close()


def update_rows(srv, id_municipio: str, table: str, keys: Sequence[int], **values) -> int:
    """Change columns of existing rows in place (e.g. a corrected co_dim_cbo_1), committed at once;
    returns the rows changed."""
    if table not in TABLES or not set(values) <= _COLUMN_SETS[table]:
        raise ValueError(f"unknown table or columns: {table} {sorted(values)}")
    with psycopg.connect(srv.admin(database_name(_check_id(id_municipio)))) as conn:
        return conn.execute(
            sql.SQL("update {} set {} where {} = any(%s)").format(
                I(table), sql.SQL(", ").join(sql.SQL("{} = %s").format(I(c)) for c in values), I(_pk(table))
            ),
            [*values.values(), list(keys)],
        ).rowcount


def list_municipios(srv) -> list[str]:
    """IBGE codes of the existing pec_<id> databases."""
    with _admin(srv) as conn:
        rows = conn.execute(
            "select datname from pg_database where datname ~ '^pec_[0-9]+$' order by 1"
        ).fetchall()
    return [r[0][len(DB_PREFIX) :] for r in rows]


def drop_municipio(srv, id_municipio: str) -> None:
    with _admin(srv) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(I(database_name(str(id_municipio))))
        )


def drop_all(srv, *, template: bool = True, role: bool = True) -> list[str]:
    """Drop every pec_<id> database, then (by default) the template and the source role."""
    ids = list_municipios(srv)
    for i in ids:
        drop_municipio(srv, i)
    with _admin(srv) as conn:
        if template:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(I(TEMPLATE_DB)))
        if role:
            conn.execute(sql.SQL("drop role if exists {}").format(I(SOURCE_ROLE)))
    return ids
