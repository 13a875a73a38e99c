"""The ledger's change data capture (loaders/razao) against a real PostgreSQL with logical decoding:
a source database of the test's own (emulators/razao.py, a short history), its own slot, and a
warehouse database of the module's own, so the session's is never disturbed.

Every test checks the two properties that matter, computed from the data, not hard-coded:
- folding raw (latest change per key by (_commit_lsn, _ordem); a delete removes the key) gives the
  source tables exactly, column by column;
- no duplicate (one row per (_commit_lsn, _ordem)) and no gap (the changes in raw after the snapshot
  are exactly as many as the emulator made).
"""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mirante import db
from mirante.emulators import razao as emu
from mirante.loaders.razao import TABLES, cdc, read_settings

from .helpers import own_database

pytestmark = pytest.mark.integration

TARGET = "mirante_razao_teste"
DRIVER = Path(__file__).parent / "faults" / "razao_driver.py"
DAYS = 15


@pytest.fixture(scope="module")
def warehouse(server):
    with own_database(server, TARGET):
        yield server


@pytest.fixture
def ledger(warehouse, request):
    """A fresh source (DAYS days of history), an empty raw_razao and a slot of the test's own
    (dropped afterwards: a forgotten slot would hold WAL back on the session's server)."""
    name = "razao_t_" + request.node.name.split("[")[-1].rstrip("]").replace("test_", "")[:20].lower()
    name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    with psycopg.connect(warehouse.admin(TARGET), autocommit=True) as conn:
        conn.execute("drop schema if exists raw_razao cascade")
    db.setup(warehouse, database=TARGET)
    emu.create(warehouse, name, fim=emu.INICIO + timedelta(days=DAYS - 1))
    settings = read_settings(warehouse, database=name, slot=f"slot_{name}", target_database=TARGET)
    yield settings
    with psycopg.connect(warehouse.admin("postgres"), autocommit=True) as conn:
        conn.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = %s",
            (settings.slot,),
        )
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _source_rows(srv, settings, table: str) -> tuple[list[str], dict[tuple, tuple]]:
    with psycopg.connect(emu.app_url(srv, settings.database)) as conn:
        cur = conn.execute(sql.SQL("select * from {}").format(sql.Identifier(table)))
        names = [d.name for d in cur.description]
        key = cdc._source_columns(conn, table)[1]
        rows = cur.fetchall()
    idx = [names.index(k) for k in key]
    return names, {
        tuple(str(r[i]) for i in idx): tuple(None if v is None else str(v) for v in r) for r in rows
    }


def _folded(srv, table: str, names: list[str], key: list[str]) -> dict[tuple, tuple]:
    I = sql.Identifier
    cols = sql.SQL(", ").join(map(I, names))
    keys = sql.SQL(", ").join(map(I, key))
    query = sql.SQL("""select {cols}, _operacao from (
                         select distinct on ({keys}) * from raw_razao.{t}
                         order by {keys}, _commit_lsn desc, _ordem desc) f""").format(
        cols=cols, keys=keys, t=I(table)
    )
    with psycopg.connect(srv.admin(TARGET)) as conn:
        conn.execute("set timezone = 'UTC'")
        rows = conn.execute(query).fetchall()
    idx = [names.index(k) for k in key]
    return {
        tuple(str(r[i]) for i in idx): tuple(None if v is None else str(v) for v in r[:-1])
        for r in rows
        if r[-1] != "delete"
    }


def assert_raw_equals_source(srv, settings) -> None:
    for table in TABLES:
        names, source = _source_rows(srv, settings, table)
        with psycopg.connect(emu.app_url(srv, settings.database)) as conn:
            key = cdc._source_columns(conn, table)[1]
        folded = _folded(srv, table, names, key)
        missing, extra = source.keys() - folded.keys(), folded.keys() - source.keys()
        differ = [k for k in source.keys() & folded.keys() if source[k] != folded[k]]
        assert not (missing or extra or differ), (
            f"{table}: {len(missing)} missing, {len(extra)} extra, {len(differ)} differ "
            f"(e.g. {sorted(missing)[:3]} {sorted(extra)[:3]} {differ[:1]})"
        )
        assert source, f"{table} must have rows for the comparison to mean anything"


def changes_after_snapshot(srv) -> int:
    """Changes in raw after the snapshot, asserting that none is there twice."""
    total = 0
    with psycopg.connect(srv.admin(TARGET)) as conn:
        for table in TABLES:
            dup = conn.execute(
                sql.SQL(
                    "select count(*) from (select 1 from raw_razao.{} group by _commit_lsn, _ordem "
                    "having count(*) > 1) d"
                ).format(sql.Identifier(table))
            ).fetchone()[0]
            assert dup == 0, f"{table}: {dup} changes written twice"
            total += conn.execute(
                sql.SQL("select count(*) from raw_razao.{} where _operacao <> 'snapshot'").format(
                    sql.Identifier(table)
                )
            ).fetchone()[0]
    return total


def test_snapshot_then_changes_reach_raw_in_commit_order_with_their_lsn(ledger, warehouse):
    first = cdc.capture(ledger, warehouse)
    assert first.snapshot and first.transactions == 0
    assert_raw_equals_source(warehouse, ledger)
    made = emu.advance(warehouse, 3, ledger.database)
    # one transaction of our own, its order known: insert, update of that row, delete of another
    with psycopg.connect(emu.app_url(warehouse, ledger.database)) as conn:
        victim = conn.execute(
            "select id_recebivel from recebiveis where situacao = 'aberto' and id_recebivel not in "
            "(select id_recebivel from pagamentos where id_recebivel is not null) order by 1 limit 1"
        ).fetchone()[0]
        conn.execute(
            "insert into recebiveis values (999999, 1, 'NF-TESTE', 10.50, '2025-05-01', '2025-06-01', 'aberto', null)"
        )
        conn.execute("update recebiveis set valor = 11.25 where id_recebivel = 999999")
        conn.execute("delete from recebiveis where id_recebivel = %s", (victim,))
        (xid,) = conn.execute("select pg_current_xact_id()::text::bigint").fetchone()
    made += 3
    second = cdc.capture(ledger, warehouse)
    assert not second.snapshot and second.transactions == 4 and second.skipped == 0
    assert changes_after_snapshot(warehouse) == made
    assert_raw_equals_source(warehouse, ledger)
    with psycopg.connect(warehouse.admin(TARGET)) as conn:
        ours = conn.execute(
            "select _operacao, id_recebivel, valor::text, _ordem, _lsn - '0/0'::pg_lsn, _commit_lsn - '0/0'::pg_lsn"
            " from raw_razao.recebiveis"
            " where _xid = %s order by _ordem",
            (xid,),
        ).fetchall()
        # every transaction after the snapshot, in commit order: commit LSNs strictly increase with
        # the commit time, and within a transaction the change LSNs follow _ordem
        commits = conn.execute(
            """select _commit_lsn::text, min(_commit_em), count(distinct _xid) from (
                   select _commit_lsn, _commit_em, _xid from raw_razao.recebiveis where _operacao <> 'snapshot'
                   union all select _commit_lsn, _commit_em, _xid from raw_razao.pagaveis where _operacao <> 'snapshot')
               t group by _commit_lsn order by _commit_lsn"""
        ).fetchall()
        (state,) = conn.execute(
            "select lsn_confirmado::text from raw_razao._estado_cdc where slot = %s", (ledger.slot,)
        ).fetchone()
    assert [(op, ident, valor) for op, ident, valor, *_ in ours] == [
        ("insert", 999999, "10.50"),
        ("update", 999999, "11.25"),
        ("delete", victim, ours[2][2]),
    ]
    assert [o[3] for o in ours] == [1, 2, 3]
    assert ours[0][4] < ours[1][4] < ours[2][4] <= ours[0][5]  # change LSNs before the commit's
    assert len(commits) == 4 and all(n == 1 for *_, n in commits)
    assert [c[1] for c in commits] == sorted(c[1] for c in commits)
    assert state == commits[-1][0]
    # nothing new: a capture writes nothing
    assert cdc.capture(ledger, warehouse).transactions == 0
    assert changes_after_snapshot(warehouse) == made


@pytest.mark.parametrize("point", ["snapshot_copied", "decoded", "committed"])
def test_kill_9_at_each_stage_then_rerun_leaves_raw_equal_to_source(ledger, warehouse, point, tmp_path):
    made = 0
    if point != "snapshot_copied":
        cdc.capture(ledger, warehouse)  # the snapshot, cleanly
        made += emu.advance(warehouse, 4, ledger.database)  # ~100 changes: several batches of 25
    marker = tmp_path / "marker"
    proc = subprocess.run(
        [sys.executable, str(DRIVER), point, str(marker), ledger.database, ledger.slot, TARGET],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert marker.read_text() == point
    made += emu.advance(warehouse, 1, ledger.database)  # the source goes on meanwhile
    rerun = cdc.capture(ledger, warehouse)
    if point == "snapshot_copied":
        assert rerun.snapshot  # the half snapshot is thrown away and taken again (with the new day)
        with psycopg.connect(warehouse.admin(TARGET)) as conn:
            snaps = conn.execute(
                "select count(distinct _commit_lsn) from raw_razao.clientes where _operacao = 'snapshot'"
            )
            assert snaps.fetchone()[0] == 1
        made = emu.advance(warehouse, 1, ledger.database)  # then the new slot streams
        assert cdc.capture(ledger, warehouse).transactions == 1
    if point == "committed":
        assert rerun.skipped >= 1  # the slot re-sent the committed batch: skipped, not duplicated
    assert changes_after_snapshot(warehouse) == made
    assert_raw_equals_source(warehouse, ledger)


def test_the_slot_is_bounded_and_a_lost_slot_is_replaced_by_a_new_snapshot(ledger, warehouse):
    with psycopg.connect(warehouse.admin("postgres")) as conn:
        keep = conn.execute(
            "select setting::bigint, unit from pg_settings where name = 'max_slot_wal_keep_size'"
        ).fetchone()
        assert keep[0] > 0 and keep[1] == "MB"  # -1 would be unbounded
    cdc.capture(ledger, warehouse)
    emu.advance(warehouse, 3, ledger.database)
    result = cdc.capture(ledger, warehouse)
    # what the slot still holds back is the WAL written after its drain (raw's own commit): small
    assert result.retained_wal_bytes is not None and result.retained_wal_bytes < 4 * 1024 * 1024
    with psycopg.connect(emu.app_url(warehouse, ledger.database)) as src:
        info = cdc.slot_info(src, ledger.slot)
    assert info["wal_status"] in ("reserved", "extended") and not info["active"]
    # the slot is lost (an operator dropped it, or the server invalidated it past the bound) while
    # the source changes, rows deleted among them: the next capture takes a new snapshot that also
    # deletes in raw what vanished meanwhile
    with psycopg.connect(warehouse.admin("postgres"), autocommit=True) as conn:
        conn.execute("select pg_drop_replication_slot(%s)", (ledger.slot,))
    emu.advance(warehouse, 2, ledger.database)
    with psycopg.connect(emu.app_url(warehouse, ledger.database)) as conn:
        gone = conn.execute(
            "delete from pagamentos where id_pagamento in (select id_pagamento from pagamentos order by 1 limit 3)"
        ).rowcount
    assert gone == 3
    again = cdc.capture(ledger, warehouse)
    assert again.snapshot and "slot_ausente" in again.events
    assert_raw_equals_source(warehouse, ledger)
    with psycopg.connect(warehouse.admin(TARGET)) as conn:
        kinds = [k for (k,) in conn.execute("select tipo from raw_razao._eventos_cdc order by id_evento")]
    assert kinds.count("snapshot") == 2 and "slot_ausente" in kinds


def test_source_schema_drift_is_detected_and_reported(ledger, warehouse):
    cdc.capture(ledger, warehouse)
    with psycopg.connect(emu.app_url(warehouse, ledger.database)) as conn:
        conn.execute("alter table clientes add column segmento text")
        conn.execute("update clientes set segmento = 'varejo' where id_cliente = 1")
    with psycopg.connect(emu.app_url(warehouse, ledger.database)) as conn:
        conn.execute("alter table clientes drop column sigla_uf")
        conn.execute("update clientes set municipio = 'Natal' where id_cliente = 2")
    cdc.capture(ledger, warehouse)
    with psycopg.connect(warehouse.admin(TARGET)) as conn:
        events = conn.execute(
            "select tipo, tabela, coluna from raw_razao._eventos_cdc where tipo like 'coluna%' order by id_evento"
        ).fetchall()
        raw_cols = [
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'raw_razao' "
                "and table_name = 'clientes'"
            )
        ]
        last = conn.execute(
            "select segmento, sigla_uf, municipio from raw_razao.clientes where id_cliente = 2 "
            "order by _commit_lsn desc, _ordem desc limit 1"
        ).fetchone()
    assert ("coluna_adicionada", "clientes", "segmento") in events
    assert ("coluna_removida", "clientes", "sigla_uf") in events
    assert "segmento" in raw_cols and "sigla_uf" in raw_cols  # the dropped column stays, null from now
    assert last == (None, None, "Natal")
    assert_raw_equals_source(warehouse, ledger)


def test_staging_is_the_current_state_with_no_person_in_clear(ledger, warehouse):
    """dbt build of staging/razao (models and their tests) on the captured changelogs: each model
    equals its source table now, persons keep neither name nor CPF."""
    from .helpers import dbt_cli

    cdc.capture(ledger, warehouse)
    emu.advance(warehouse, 3, ledger.database)
    cdc.capture(ledger, warehouse)
    done = dbt_cli(
        "build", "--select", "path:models/staging/razao", "--indirect-selection", "cautious", target="razao"
    )
    assert done.returncode == 0, done.stdout[-3000:]
    with (
        psycopg.connect(emu.app_url(warehouse, ledger.database)) as src,
        psycopg.connect(warehouse.admin(TARGET)) as stg,
    ):
        for table, key in (("recebiveis", "id_recebivel"), ("pagaveis", "id_pagavel")):
            cols = f"{key}, valor::text, situacao, data_pagamento::text"
            q = f"select {cols} from {{}} order by 1"
            assert (
                stg.execute(q.format(f"staging.stg_razao__{table}")).fetchall()
                == src.execute(q.format(table)).fetchall()
            )
        pay = "select id_pagamento, natureza, valor::text, (pago_em at time zone 'America/Sao_Paulo')::date from {} order by 1"
        staged = stg.execute(
            "select id_pagamento, natureza, valor::text, data_pagamento from staging.stg_razao__pagamentos order by 1"
        ).fetchall()
        assert staged == src.execute(pay.format("pagamentos")).fetchall()
        people = stg.execute(
            "select cnpj_cliente, nome_cliente, documento_hash from staging.stg_razao__clientes "
            "where tipo_pessoa = 'fisica'"
        ).fetchall()
        cpfs = {r[0] for r in src.execute("select documento from clientes where tipo_pessoa = 'fisica'")}
        names = {r[0] for r in src.execute("select nome from clientes where tipo_pessoa = 'fisica'")}
        texts = [str(v) for row in stg.execute("select * from staging.stg_razao__clientes") for v in row]
    assert people and all(c is None and n is None and len(h) == 64 for c, n, h in people)
    digits = {c.replace(".", "").replace("-", "") for c in cpfs}
    assert not [t for t in texts if t in cpfs or t in digits or t in names]


def test_the_exporter_reports_the_slot_s_retained_wal(ledger, warehouse, monkeypatch):
    """mirante_razao_wal_retido_bytes / mirante_razao_slot_invalidado, read on the source as the
    capture role (orchestration/metrics.py)."""
    from mirante.orchestration.metrics import MiranteCollector

    monkeypatch.setenv("MIRANTE_RAZAO_DATABASE", ledger.database)
    monkeypatch.setenv("MIRANTE_RAZAO_SLOT", ledger.slot)
    collector = MiranteCollector(instance=None, cat=None, server=lambda: warehouse)
    assert [f.samples for f in collector._razao()] == [[], []]  # no slot yet: nothing to report
    cdc.capture(ledger, warehouse)
    emu.advance(warehouse, 2, ledger.database)  # WAL the slot has not confirmed yet
    retained, invalid = collector._razao()
    with psycopg.connect(emu.app_url(warehouse, ledger.database)) as conn:
        pending = cdc.slot_info(conn, ledger.slot)["retained"]
    assert [s.labels for s in retained.samples] == [{"slot": ledger.slot}]
    assert 0 < retained.samples[0].value <= pending
    assert [s.value for s in invalid.samples] == [0]
    cdc.capture(ledger, warehouse)
    (after, _) = collector._razao()
    # confirmed up to the drain's goal: what remains is WAL written after it (raw's own commit
    # here, the source and the warehouse sharing a server), confirmed by the next run
    assert after.samples[0].value < 1024 * 1024


@contextmanager
def own_embedded_server(monkeypatch):
    """A second embedded server under a MIRANTE_HOME of its own (its own CA), stopped and removed
    afterwards: for what must not touch the session's server (a restart, a tiny WAL bound)."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="mirante-razao-home-"))
    home.chmod(0o755)  # the server runs as its own OS user when the tests run as root
    monkeypatch.setenv("MIRANTE_HOME", str(home))
    for name in ("MIRANTE_PG_SSLROOTCERT", "MIRANTE_PG_SSLMODE"):  # the session's CA is not this one's
        monkeypatch.delenv(name, raising=False)
    try:
        yield db.start_embedded()
    finally:
        db.stop_embedded()
        shutil.rmtree(home, ignore_errors=True)


def test_a_server_started_without_logical_decoding_is_restarted_with_it(server, monkeypatch):
    """An embedded server started by an older Mirante (no wal_level=logical) is restarted with the
    logical decoding settings by the next start (mirante/db.py, like the TLS upgrade)."""
    with own_embedded_server(monkeypatch) as srv:

        def settings() -> dict:
            with psycopg.connect(srv.admin("postgres")) as conn:
                return dict(
                    conn.execute(
                        "select name, setting from pg_settings where name in ('wal_level', 'max_slot_wal_keep_size')"
                    ).fetchall()
                )

        assert settings()["wal_level"] == "logical"
        older = (
            f"-h 127.0.0.1 -p {srv.port} -k {db._socket_dir()} -c password_encryption=scram-sha-256 "
            f"-c max_connections=200 {db._ssl_options()}"
        )
        db._pg_ctl(["-w", "-t", "60", "-m", "fast", "-o", older, "restart"], db._system_user())
        assert settings() == {"wal_level": "replica", "max_slot_wal_keep_size": "-1"}
        with psycopg.connect(srv.admin("postgres")) as conn:
            assert "wal_level is 'replica'" in db.logical_decoding_problem(conn)
        srv = db.start_embedded()
        assert settings() == {"wal_level": "logical", "max_slot_wal_keep_size": "1024"}
        with psycopg.connect(srv.admin("postgres")) as conn:
            assert db.logical_decoding_problem(conn) is None


def test_a_slot_past_the_wal_bound_is_invalidated_and_the_capture_resnapshots(server, monkeypatch):
    """The bound for real: a server whose max_slot_wal_keep_size is 1 MB invalidates a slot the
    capture left behind as soon as WAL moves on and a checkpoint runs; the next capture drops it,
    reports it, and takes a new snapshot that also deletes what vanished meanwhile."""
    monkeypatch.setitem(db.LOGICAL_SETTINGS, "max_slot_wal_keep_size", "1MB")
    with own_embedded_server(monkeypatch) as srv:
        db.setup(srv, database=TARGET)
        monkeypatch.setenv("MIRANTE_DB", TARGET)
        emu.create(srv, "razao_t_bound", fim=emu.INICIO + timedelta(days=DAYS - 1))
        settings = read_settings(srv, database="razao_t_bound", target_database=TARGET)
        cdc.capture(settings, srv)
        emu.advance(srv, 2, settings.database)  # changes the slot will never deliver
        with psycopg.connect(emu.app_url(srv, settings.database)) as conn:
            conn.execute(
                "delete from pagamentos where id_pagamento in (select min(id_pagamento) from pagamentos)"
            )
        with psycopg.connect(srv.admin("postgres"), autocommit=True) as conn:
            for _ in range(3):  # the WAL moves past the bound: new segments, then a checkpoint
                conn.execute("create table if not exists wal_filler (x text)")
                conn.execute("insert into wal_filler select repeat('x', 1000) from generate_series(1, 2000)")
                conn.execute("select pg_switch_wal()")
            conn.execute("checkpoint")
            (status,) = conn.execute(
                "select wal_status from pg_replication_slots where slot_name = %s", (settings.slot,)
            ).fetchone()
        assert status == "lost"
        again = cdc.capture(settings, srv)
        assert again.snapshot and any(e.startswith("slot_invalidado") for e in again.events)
        assert_raw_equals_source(srv, settings)
        emu.advance(srv, 1, settings.database)  # and the new slot streams
        assert cdc.capture(settings, srv).transactions == 1
        assert_raw_equals_source(srv, settings)


def test_the_dagster_asset_drains_the_slot_and_reports_lineage(ledger, warehouse, monkeypatch, tmp_path):
    """The multi-asset raw_razao (orchestration/defs/financas_razao.py) run in process: one
    materialization per table with what it wrote, and an OpenLineage run from the source's tables
    to the changelogs."""
    import json

    from dagster import DagsterInstance, materialize

    from mirante.orchestration.defs.financas_razao import RAW_KEYS, raw_razao
    from mirante.orchestration.resources import Warehouse

    events_file = tmp_path / "events.jsonl"
    monkeypatch.setenv("MIRANTE_RAZAO_DATABASE", ledger.database)
    monkeypatch.setenv("MIRANTE_RAZAO_SLOT", ledger.slot)
    monkeypatch.setenv("MIRANTE_OPENLINEAGE_FILE", str(events_file))
    monkeypatch.delenv("MIRANTE_OPENLINEAGE_URL", raising=False)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([raw_razao], resources={"warehouse": Warehouse()}, instance=instance)
    assert result.success
    meta = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert set(meta) == set(RAW_KEYS.values())
    assert all(m["snapshot"].value for m in meta.values())
    with psycopg.connect(warehouse.admin(TARGET)) as conn:
        for table, key in RAW_KEYS.items():
            (n,) = conn.execute(
                sql.SQL("select count(*) from raw_razao.{}").format(sql.Identifier(table))
            ).fetchone()
            assert meta[key]["rows_loaded"].value == n > 0
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    (done,) = [e for e in events if e["job"]["name"] == "raw_razao" and e["eventType"] == "COMPLETE"]
    assert {i["name"] for i in done["inputs"]} == {f"{ledger.database}.public.{t}" for t in TABLES}
    outputs = {o["name"]: o["outputFacets"]["outputStatistics"]["rowCount"] for o in done["outputs"]}
    assert outputs == {f"{TARGET}.raw_razao.{t}": meta[k]["rows_loaded"].value for t, k in RAW_KEYS.items()}


def test_a_truncate_deletes_every_key_in_raw(ledger, warehouse):
    cdc.capture(ledger, warehouse)
    with psycopg.connect(emu.app_url(warehouse, ledger.database)) as conn:
        (before,) = conn.execute("select count(*) from pagamentos").fetchone()
        conn.execute("truncate pagamentos")
    emu.advance(warehouse, 1, ledger.database)  # new payments after the truncate
    result = cdc.capture(ledger, warehouse)
    assert result.rows["pagamentos"] > before  # a delete per key, then the day's new payments
    assert_raw_equals_source(warehouse, ledger)
    with psycopg.connect(warehouse.admin(TARGET)) as conn:
        (tipo,) = conn.execute("select tipo from raw_razao._eventos_cdc where tipo = 'truncate'").fetchone()
    assert tipo == "truncate"


def test_the_emulator_is_deterministic_with_a_modest_daily_rate(warehouse):
    """Same seed, same rows; ~15-30 published changes a day; the finance files' accounts and
    customers, a few persons with a valid CPF among mostly companies."""
    from mirante.emulators.arquivos_financeiros import CLIENTES, CONTAS

    names = ("razao_t_det_a", "razao_t_det_b")
    try:
        for name in names:
            emu.create(warehouse, name, fim=emu.INICIO + timedelta(days=9))
        rates = [emu.advance(warehouse, 10, name) / 10 for name in names]
        dumps = []
        for name in names:
            with psycopg.connect(emu.app_url(warehouse, name)) as conn:
                dumps.append(
                    {
                        t: conn.execute(
                            sql.SQL("select md5(string_agg(x::text, '|' order by x::text)) from {} x").format(
                                sql.Identifier(t)
                            )
                        ).fetchone()[0]
                        for t in TABLES
                    }
                )
                kinds = dict(conn.execute("select tipo_pessoa, count(*) from clientes group by 1").fetchall())
                cnpjs = {
                    r[0]
                    for r in conn.execute("select documento from clientes where tipo_pessoa = 'juridica'")
                }
                accounts = conn.execute(
                    "select nome_banco, agencia, conta from contas order by id_conta"
                ).fetchall()
                cpfs = [
                    r[0] for r in conn.execute("select documento from clientes where tipo_pessoa = 'fisica'")
                ]
        assert dumps[0] == dumps[1] and all(dumps[0].values())
        assert rates[0] == rates[1] and 15 <= rates[0] <= 30, rates
        assert 0 < kinds["fisica"] < kinds["juridica"]
        assert {c for c, _ in CLIENTES} <= cnpjs and accounts == [tuple(c) for c in CONTAS]
        for cpf in cpfs:
            d = [int(ch) for ch in cpf if ch.isdigit()]
            for n in (9, 10):
                assert (
                    d[n] == sum(a * b for a, b in zip(d[:n], range(n + 1, 1, -1), strict=True)) * 10 % 11 % 10
                )
    finally:
        with psycopg.connect(warehouse.admin("postgres"), autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
