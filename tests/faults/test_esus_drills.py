"""Fault drills of the e-SUS pull: a daily pull is killed with SIGKILL during extraction, between
extraction and publication, and during publication after a batch committed, or the database is
stopped and started in the middle of a publication; then a normal pull runs. Each drill checks:

- raw = source for every municipality and table, row by row (no missing key, no duplicate, every
  pulled column equal: tests/esus_support.py `differences`);
- every killed run is in the run log, closed as `interrompido` by the next run;
- every e-SUS mart equals a clean run's (md5 of its sorted rows), on the columns that describe the
  data (the run-history columns of agg_esus_pontualidade_municipio and the load time of
  fct_atendimento_individual_diario legitimately differ: they say the drill happened).

The clean run: the same sources pulled once, uninterrupted, into a database of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mirante import db
from mirante.emulators import pec
from mirante.loaders.esus.pull import pull_many

from ..esus_support import (
    PASSWORD,
    clone_sources,
    differences,
    drop_sources,
    key_gaps,
    make_templates,
    municipio,
    run_log,
)
from ..helpers import own_database, reset_raw

pytestmark = [pytest.mark.integration, pytest.mark.faults]

IDS = ("2927408", "2304400", "1302603")
END = date.today() - timedelta(days=3)
DRIVER = Path(__file__).with_name("esus_driver.py")
ESUS_MARTS = (
    "fct_atendimento_individual_diario",
    "agg_vacinacao_dose_mes",
    "agg_visita_domiciliar_mes",
    "agg_cidadaos_cadastrados_municipio",
    "agg_esus_pontualidade_municipio",
    "agg_esus_volume_diario",
)
#: columns that record the runs themselves, not the data: a drill's history differs by design
RUN_HISTORY = {
    "agg_esus_pontualidade_municipio": {
        "ultima_carga_sucesso",
        "status_ultima_execucao",
        "tentativas_ultima_execucao",
        "reconciliacao_ultima_execucao",
        "ultima_falha",
        "tipo_erro_ultima_falha",
        "codigo_erro_ultima_falha",
        "tentativas_ultima_falha",
    },
    "fct_atendimento_individual_diario": {"data_hora_carga"},
}


def daily_changes(server) -> None:
    """What happens at the sources between two daily pulls: two new days (with the fichas they
    inactivate and the deaths they record)."""
    for ident in IDS:
        for k in (1, 2):
            pec.add_day(server, ident, END + timedelta(days=k))


def build_marts(server) -> dict[str, str]:
    """dbt run of the e-SUS models in the current database (MIRANTE_DB), then {mart: md5 of its
    rows sorted, without the run-history columns}."""
    from dbt.cli.main import dbtRunner

    from mirante.orchestration.resources import DBT_PROJECT_DIR

    db.export_env(server)
    result = dbtRunner().invoke(
        [
            "run",
            "--quiet",
            "--select",
            *(f"+{m}" for m in ESUS_MARTS),
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ]
    )
    assert result.success, f"dbt run failed: {result.exception}"
    out = {}
    with psycopg.connect(server.url("transformer")) as conn:
        marts = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' and table_name = any(%s)",
                (list(ESUS_MARTS),),
            )
        ]
        for mart in marts:
            columns = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = 'marts' and table_name = %s "
                    "order by ordinal_position",
                    (mart,),
                )
                if r[0] not in RUN_HISTORY.get(mart, set())
            ]
            row = sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
            out[mart] = conn.execute(
                sql.SQL(
                    "select count(*) || ':' || md5(coalesce(string_agg({r}::text, '|' order by {r}::text), '')) "
                    "from marts.{m}"
                ).format(r=row, m=sql.Identifier(mart))
            ).fetchone()[0]
    assert len(out) == 6, f"e-SUS marts missing: {sorted(out)}"
    return out


@pytest.fixture(scope="module")
def drill_db(server):
    """Sources kept as templates; the marts of a clean run on the drills' final source state."""
    os.environ["MIRANTE_ESUS_PASSWORD"] = PASSWORD
    with own_database(server, "mirante_test_drill_limpo") as srv:
        make_templates(srv, IDS, days=30, end=END)
        clone_sources(srv, IDS)
        daily_changes(srv)
        ms = [municipio(srv, i) for i in IDS]
        assert all(r.status == "sucesso" for r in pull_many(ms, srv).values())
        clean = build_marts(srv)
    with own_database(server, "mirante_test_drill") as srv:
        yield srv, clean
    drop_sources(server, IDS, templates=True)
    os.environ.pop("MIRANTE_ESUS_PASSWORD", None)


def killed_pull(
    point: str, tmp_path: Path, env_extra: dict | None = None
) -> tuple[subprocess.Popen, Path, str]:
    marker = tmp_path / f"{point}.marker"
    run_id = f"drill-{point}-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DRILL_RUN_ID": run_id, **(env_extra or {})}
    proc = subprocess.Popen([sys.executable, str(DRIVER), point, str(marker), *IDS], env=env)
    return proc, marker, run_id


def prepare(srv) -> None:
    """Fresh sources, a first clean daily pull, then the day's changes at the sources."""
    reset_raw(srv, "raw_esus")
    clone_sources(srv, IDS)
    assert all(r.status == "sucesso" for r in pull_many([municipio(srv, i) for i in IDS], srv).values())
    daily_changes(srv)


def gaps(srv) -> tuple[int, int]:
    """(source keys missing from raw, raw keys extra or duplicated), over every municipality and table."""
    from mirante.loaders.esus.settings import TABLES

    found = [key_gaps(srv, ident, table) for ident in IDS for table in TABLES]
    return sum(m for m, _ in found), sum(e for _, e in found)


def check_after_rerun(srv, clean: dict[str, str], killed_run: str, drill: str) -> None:
    before = gaps(srv)
    results = pull_many([municipio(srv, i) for i in IDS], srv)
    assert all(r.status == "sucesso" for r in results.values()), results
    for ident in IDS:
        assert differences(srv, ident) == {}, ident
    statuses = {row[2] for row in run_log(srv, killed_run)}
    assert "em_andamento" not in statuses, statuses
    after = gaps(srv)
    assert after == (0, 0)
    marts = build_marts(srv)
    assert marts == clean
    print(
        f"\nDRILL e-SUS {drill}: before the rerun {before[0]} keys missing, {before[1]} extra; after it "
        f"{after[0]} missing, {after[1]} duplicated or extra; marts equal to the clean run's ({len(marts)})"
    )


@pytest.mark.parametrize("point", ["extract", "handover", "load"])
def test_kill_9_then_a_normal_pull_leaves_raw_equal_to_the_source(drill_db, tmp_path, point):
    srv, clean = drill_db
    prepare(srv)
    proc, marker, run_id = killed_pull(point, tmp_path)
    assert proc.wait(timeout=300) == -signal.SIGKILL
    assert marker.read_text() == point  # killed where the drill says
    log = run_log(srv, run_id)
    assert log and {r[2] for r in log} <= {"em_andamento", "sucesso"}
    committed = [r[1] for r in log if r[2] == "sucesso"]
    if point == "load":
        assert committed == [IDS[0]]  # the first batch committed, the second did not
    else:
        assert committed == []
    # what the killed run left: every municipality it did not commit is untouched, none is partial
    for ident in IDS:
        if ident not in committed:
            assert differences(srv, ident), f"{ident}: the killed run cannot have loaded it"
    check_after_rerun(srv, clean, run_id, point)
    assert {r[2] for r in run_log(srv, run_id)} == (
        {"sucesso", "interrompido"} if point == "load" else {"interrompido"}
    )
    assert {r[4] for r in run_log(srv, run_id) if r[2] == "interrompido"} == {"interrompido"}


def test_the_database_restarting_mid_publication(drill_db, tmp_path):
    """The server stops while a batch's transaction is open and comes back: the transaction is
    gone, the pull retries the publication (or the next one loads it); raw = source either way."""
    srv, clean = drill_db
    prepare(srv)
    proc, marker, run_id = killed_pull("restart", tmp_path)
    deadline = time.monotonic() + 120
    while (marker.read_text() if marker.exists() else "") != "paused":
        assert proc.poll() is None, "the driver ended before it paused"
        assert time.monotonic() < deadline, "the driver never reached the publication"
        time.sleep(0.05)
    assert db.stop_embedded()
    db.start_embedded()
    Path(str(marker) + ".go").write_text("go")
    assert proc.wait(timeout=300) == 0
    assert marker.read_text() == "finished " + " ".join(f"{i}:sucesso" for i in sorted(IDS))
    assert {r[2] for r in run_log(srv, run_id)} == {"sucesso"}
    for ident in IDS:
        assert differences(srv, ident) == {}
    with psycopg.connect(srv.admin()) as conn:  # the run log counts what committed: each row once
        written = conn.execute(
            "select sum(linhas) from raw_esus.execucoes where id_execucao = %s", (run_id,)
        ).fetchone()[0]
        assert written > 0
    check_after_rerun(srv, clean, run_id, "restart")
