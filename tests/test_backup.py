"""`mirante db backup` / `mirante db restore` (mirante/backup.py) on the test server: a small
database of the module's own with a loader-owned table in raw_snis, backed up, changed, restored
into a new database and over itself, rows compared by count and checksum; owners and grants as
`mirante db setup` makes them; a non-empty database refused without --force; the file mode 600."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from mirante import backup, cli, config

from .helpers import own_database

SOURCE = "mirante_backup_src"
RESTORED = "mirante_backup_restored"
ROWS = """select count(*), md5(coalesce(string_agg(t::text, '|' order by t.id), ''))
          from raw_snis.amostra t"""


def _rows(srv, database: str) -> tuple[int, str]:
    with psycopg.connect(srv.admin(database)) as conn:
        return conn.execute(ROWS).fetchone()


def _drop(srv, *names: str) -> None:
    with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def source(server):
    with own_database(server, SOURCE) as srv:
        # as the loader, as dlt would: the table is the loader's, the transformer reads it by
        # the default privileges `mirante db setup` granted
        with psycopg.connect(srv.url("loader", SOURCE)) as conn:
            conn.execute(
                """create table raw_snis.amostra as
                   select g as id, 'prestador ' || g as nome, (g * 1.5)::numeric(10, 2) as valor,
                          date '2021-01-01' + g as dia
                   from generate_series(1, 500) g"""
            )
            conn.execute("alter table raw_snis.amostra add primary key (id)")
        yield srv
    _drop(server, RESTORED, f"{RESTORED}_restoring", f"{SOURCE}_restoring")


def test_backup_then_restore_into_a_new_database_and_over_the_old_one(source, capsys, monkeypatch):
    srv = source
    commands = []
    run = backup._run
    monkeypatch.setattr(
        backup, "_run", lambda command, *a, **k: (commands.append(command), run(command, *a, **k))
    )
    before = _rows(srv, SOURCE)
    assert before[0] == 500

    assert cli.main(["db", "backup"]) == 0  # MIRANTE_DB is the module's database (own_database)
    printed = capsys.readouterr().out
    path = next(config.home().glob(f"backups/{SOURCE}-*.dump"))
    try:
        assert str(path) in printed
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
        assert not list(path.parent.glob(".*.partial"))

        with psycopg.connect(srv.admin(SOURCE), autocommit=True) as conn:
            conn.execute("delete from raw_snis.amostra where id % 3 = 0")
            conn.execute("update raw_snis.amostra set valor = 0 where id < 50")
        changed = _rows(srv, SOURCE)
        assert changed != before

        # into a new database: the rows as backed up, owners and grants as setup makes them
        assert backup.restore(srv, path, RESTORED) >= 1
        assert _rows(srv, RESTORED) == before
        with psycopg.connect(srv.admin(RESTORED)) as conn:
            owner = conn.execute(
                "select tableowner from pg_tables where schemaname = 'raw_snis' and tablename = 'amostra'"
            ).fetchone()[0]
            assert owner == config.role_name("loader")
            assert conn.execute(
                "select has_table_privilege(%s, 'raw_snis.amostra', 'select'), "
                "has_database_privilege(%s, current_database(), 'connect'), "
                "has_database_privilege('public', current_database(), 'connect')",
                (config.role_name("transformer"), config.role_name("reader")),
            ).fetchone() == (True, True, False)
        with psycopg.connect(srv.url("transformer", RESTORED)) as conn:
            assert conn.execute("select count(*) from raw_snis.amostra").fetchone()[0] == 500

        # over a database that holds data: refused without --force, the data untouched
        with pytest.raises(backup.BackupError, match="not empty.*--force"):
            backup.restore(srv, path, SOURCE)
        assert cli.main(["db", "restore", str(path)]) == 1
        assert "not empty" in capsys.readouterr().err
        assert _rows(srv, SOURCE) == changed

        assert cli.main(["db", "restore", str(path), "--force"]) == 0
        assert _rows(srv, SOURCE) == before

        # the admin's password went to the children in PGPASSWORD, never on a command line
        assert {Path(c[0]).name for c in commands} == {"pg_dump", "pg_restore"}
        password = urlsplit(srv.admin()).password
        assert password and not [c for c in commands if any(password in arg for arg in c)]

        # a backup file is never overwritten
        with pytest.raises(backup.BackupError, match="exists"):
            backup.backup(srv, SOURCE, to=path)
    finally:
        path.unlink(missing_ok=True)


def test_a_file_that_is_no_backup_changes_nothing(source, tmp_path):
    bogus = tmp_path / "not-a-dump.dump"
    bogus.write_bytes(b"not a dump at all\n")
    before = _rows(source, SOURCE)
    with pytest.raises(backup.BackupError, match="pg_restore failed"):
        backup.restore(source, bogus, SOURCE, force=True)
    assert _rows(source, SOURCE) == before
