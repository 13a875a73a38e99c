"""e-SUS PEC pulls against real source databases: per-municipality failure, retries, no gap and no
duplicate after recovery, day-range re-pulls that move no cursor, rows changed in place, commits
out of key order, reconciliation and repair, deadlines, and readable masked errors.

raw = source is checked row by row (every pulled column of every row, tests/esus_support.py)."""

import re
from datetime import date, timedelta

import psycopg
import pytest

from mirante.emulators import pec
from mirante.loaders.esus.pull import PullError, pull, pull_many
from mirante.loaders.esus.settings import FACTS, TABLES

from .esus_support import (
    PASSWORD,
    StallProxy,
    clone_sources,
    closed_port,
    differences,
    drop_sources,
    key_gaps,
    make_templates,
    municipio,
    run_log,
)
from .helpers import own_database, reset_raw

pytestmark = pytest.mark.integration

#: not in the registry (loaders/esus/municipios.toml): the registry's emulated sources stay untouched
IDS = ("2927408", "2304400", "1302603")
END = date.today() - timedelta(days=1)
FAST = dict(max_attempts=3, backoff_seconds=0.05)


@pytest.fixture(scope="module")
def esus_db(server):
    with own_database(server, "mirante_test_esus") as srv:
        make_templates(srv, IDS, days=30, end=END)
        yield srv
        drop_sources(srv, IDS, templates=True)


@pytest.fixture
def sources(esus_db, monkeypatch):
    """Fresh copies of the three sources and an empty raw_esus for each test."""
    server = esus_db
    monkeypatch.setenv("MIRANTE_ESUS_PASSWORD", PASSWORD)
    reset_raw(server, "raw_esus")
    clone_sources(server, IDS)
    yield server
    drop_sources(server, IDS)


def cursors(server, ident):
    with psycopg.connect(server.url("transformer")) as conn:
        return dict(
            conn.execute(
                "select tabela, chave_max from raw_esus.cursores where id_municipio = %s", (ident,)
            ).fetchall()
        )


def test_a_municipality_down_fails_alone_then_the_rerun_fills_the_gap(sources):
    srv = sources
    down, *up = IDS
    results = {down: pull(municipio(srv, down, closed_port()), srv, **FAST)}
    results.update({i: pull(municipio(srv, i), srv) for i in up})
    assert (results[down].status, results[down].error_kind, results[down].error_code) == (
        "falha",
        "transitorio",
        "conexao_recusada",
    )
    assert results[down].attempts == 3  # retried with backoff, then gave up
    assert "refused" in results[down].error.lower()
    for i in up:
        assert results[i].status == "sucesso"
        assert differences(srv, i) == {}
        assert set(results[i].reconciliation.values()) == {"ok"}
    with psycopg.connect(srv.url("transformer")) as conn:
        assert (
            conn.execute(
                "select count(*) from raw_esus.tb_fat_atendimento_individual where id_municipio = %s", (down,)
            ).fetchone()[0]
            == 0
        )
    [(_, _, status, kind, code, error, attempts, rows)] = run_log(srv, ident=down)
    assert (status, kind, code, attempts, rows) == (
        "falha",
        "transitorio",
        "conexao_recusada",
        3,
        0,
    ) and error
    # the database comes back, and one more day of records arrives meanwhile everywhere
    for i in IDS:
        pec.add_day(srv, i, END + timedelta(days=1))
    for i in IDS:
        assert pull(municipio(srv, i), srv).status == "sucesso"
    for i in IDS:
        assert differences(srv, i) == {}  # no gap, no duplicate
    assert [r[2] for r in run_log(srv, ident=down)] == ["falha", "sucesso"]
    # a rerun with nothing new writes nothing (the trailing window is re-read, unchanged)
    again = pull(municipio(srv, up[0]), srv)
    assert sum(again.rows.values()) == 0 and sum(again.read.values()) > 0
    assert differences(srv, up[0]) == {}


def test_wrong_password_is_permanent_and_not_retried(sources, monkeypatch):
    srv = sources
    monkeypatch.setenv(f"MIRANTE_ESUS_PASSWORD_{IDS[0]}", "wrong-password")
    with pytest.raises(PullError, match="not retried \\(permanent\\).*password authentication failed"):
        pull(municipio(srv, IDS[0]), srv, max_attempts=4, backoff_seconds=0.05, raise_on_error=True)
    [(_, _, status, kind, code, error, attempts, _)] = run_log(srv, ident=IDS[0])
    assert (status, kind, code, attempts) == ("falha", "permanente", "autenticacao", 1)
    assert "wrong-password" not in error


def test_an_error_message_stays_readable_when_the_password_is_one_of_its_words(sources, monkeypatch):
    """The masked secret is a word of the message: only that word is masked."""
    srv = sources
    monkeypatch.setenv(f"MIRANTE_ESUS_PASSWORD_{IDS[0]}", "authentication")
    result = pull(municipio(srv, IDS[0]), srv, **FAST)
    [(_, _, status, _, code, error, _, _)] = run_log(srv, ident=IDS[0])
    assert (result.status, status, code) == ("falha", "falha", "autenticacao")
    assert "authentication" not in error and "password *** failed for user" in error, error
    assert not re.search(r"\*\*\*.{0,2}\*\*\*", error), error  # not *** between every character
    assert result.error == error


def test_missing_table_is_permanent(sources):
    srv = sources
    with psycopg.connect(srv.admin(pec.database_name(IDS[1])), autocommit=True) as conn:
        conn.execute("drop table tb_fat_visita_domiciliar")
    result = pull(municipio(srv, IDS[1]), srv, max_attempts=4, backoff_seconds=0.05)
    assert (result.status, result.error_kind, result.error_code, result.attempts) == (
        "falha",
        "permanente",
        "tabela_ausente",
        1,
    )
    assert "tb_fat_visita_domiciliar" in result.error


def test_a_day_range_repull_moves_no_cursor_and_the_next_pull_loses_nothing(sources):
    """The re-pull of one day loads records with keys past the cursor; the next normal pull must
    still read every record of the other days (the cursor is kept apart from re-pulls)."""
    srv = sources
    m = municipio(srv, IDS[2])
    pull(m, srv)
    before = cursors(srv, IDS[2])
    for k in (1, 2, 3):
        pec.add_day(srv, IDS[2], END + timedelta(days=k))
    again = pull(m, srv, desde=END + timedelta(days=2), ate=END + timedelta(days=2))
    assert again.status == "sucesso" and again.rows["tb_fat_atendimento_individual"] > 0
    assert cursors(srv, IDS[2]) == before  # no cursor moved
    assert differences(srv, IDS[2], FACTS)  # days 1 and 3 are not in raw yet
    nxt = pull(m, srv)
    assert nxt.cursors["tb_fat_atendimento_individual"][0] == before["tb_fat_atendimento_individual"]
    assert differences(srv, IDS[2]) == {}


def test_raw_follows_rows_changed_in_place(sources):
    """Inactivated fichas, deaths and a corrected CBO of an old record (outside the trailing
    window): the next daily pull brings each change to raw."""
    srv = sources
    ident = IDS[0]
    pull(municipio(srv, ident), srv)
    with psycopg.connect(srv.admin(pec.database_name(ident))) as conn:
        old_care = [
            r[0]
            for r in conn.execute(
                "select co_seq_fat_atd_ind from tb_fat_atendimento_individual order by 1 limit 3"
            )
        ]
        citizens = [
            r[0]
            for r in conn.execute(
                "select co_seq_fat_cidadao_pec from tb_fat_cidadao_pec where st_faleceu = 0 order by 1 limit 2"
            )
        ]
        fichas = [
            r[0]
            for r in conn.execute(
                "select co_seq_fat_cad_individual from tb_fat_cad_individual where st_ficha_inativa = 0 order by 1 limit 2"
            )
        ]
        other_cbo = conn.execute("select max(co_seq_dim_cbo) from tb_dim_cbo").fetchone()[0]
    assert pec.update_rows(srv, ident, "tb_fat_atendimento_individual", old_care, co_dim_cbo_1=other_cbo) == 3
    assert pec.update_rows(srv, ident, "tb_fat_cidadao_pec", citizens, st_faleceu=1) == 2
    assert pec.update_rows(srv, ident, "tb_fat_cad_individual", fichas, st_ficha_inativa=1) == 2
    assert differences(srv, ident)  # raw is behind the source now
    result = pull(municipio(srv, ident), srv)
    assert result.rows["tb_fat_atendimento_individual"] >= 3 and result.rows["tb_fat_cidadao_pec"] >= 2
    assert differences(srv, ident) == {}
    # the emulator's own days change rows in place too (new cadastros inactivate the old ones)
    changed = sum(pec.add_day(srv, ident, END + timedelta(days=k))["atualizacoes"] for k in range(1, 15))
    assert changed > 0
    pull(municipio(srv, ident), srv)
    assert differences(srv, ident) == {}


@pytest.mark.parametrize("late_days", [0, 20], ids=["recent", "late-ficha-outside-the-window"])
def test_a_commit_out_of_key_order_is_not_skipped(sources, late_days):
    """Records whose keys were taken before a pull but committed after it (a concurrent session, a
    sequence cache) lie below the cursor: the next pull still brings them, also when their day is
    far outside the trailing window."""
    srv = sources
    ident, m = IDS[1], municipio(srv, IDS[1])
    pull(m, srv)
    with pec.pending_day(srv, ident, END + timedelta(days=1) - timedelta(days=late_days)) as pending:
        assert pending["tb_fat_atendimento_individual"] > 0
        pec.add_day(srv, ident, END + timedelta(days=2))  # higher keys, committed first
        first = pull(m, srv)
        assert first.status == "sucesso"
        missing, extra = key_gaps(srv, ident, "tb_fat_atendimento_individual")
        assert (missing, extra) == (0, 0)  # the pending rows are invisible to everyone yet
    # committed now, below the cursor the first pull moved
    missing, _ = key_gaps(srv, ident, "tb_fat_atendimento_individual")
    assert missing == pending["tb_fat_atendimento_individual"]
    pull(m, srv)
    assert differences(srv, ident) == {}


def test_a_divergence_is_reported_then_repaired_by_the_next_pull(sources):
    """Rows lost from raw (and one raw row the source never had) are found by the reconciliation,
    reported as `divergente`, and the next pull re-reads the diverging key buckets."""
    srv = sources
    ident, table = IDS[2], "tb_fat_vacinacao"
    pull(municipio(srv, ident), srv)
    with psycopg.connect(srv.admin(), autocommit=True) as conn:
        conn.execute(
            f"""delete from raw_esus.{table} where id_municipio = %s and co_seq_fat_vacinacao in
                         (select co_seq_fat_vacinacao from raw_esus.{table} where id_municipio = %s order by 1 limit 3)""",
            (ident, ident),
        )
        conn.execute(
            f"""insert into raw_esus.{table} (co_seq_fat_vacinacao, id_municipio, co_dim_tempo)
                         values (999999, %s, 20200101)""",
            (ident,),
        )
    assert key_gaps(srv, ident, table) == (3, 1)
    found = pull(municipio(srv, ident), srv)
    assert found.reconciliation[table] == "divergente"
    assert {t for t, v in found.reconciliation.items() if v != "ok"} == {table}
    with psycopg.connect(srv.url("transformer")) as conn:
        assert conn.execute(
            "select divergente from raw_esus.cursores where id_municipio = %s and tabela = %s", (ident, table)
        ).fetchone() == (True,)
        assert conn.execute(
            """select contagem_origem - contagem_raw, reconciliacao from raw_esus.execucoes
               where id_execucao = (select id_execucao from raw_esus.cursores where id_municipio = %s and tabela = %s)
                 and id_municipio = %s and tabela = %s""",
            (ident, table, ident, table),
        ).fetchone() == (2, "divergente")
    repaired = pull(municipio(srv, ident), srv)
    assert set(repaired.reconciliation.values()) == {"ok"}
    assert key_gaps(srv, ident, table) == (0, 0)
    assert differences(srv, ident) == {}


def test_a_source_locked_mid_read_fails_alone_as_transient(sources):
    """A lock held on one municipality's table stalls its read: the statement timeout ends each
    attempt, the municipality's budget ends the retries, the others load."""
    srv = sources
    stuck = IDS[0]
    with psycopg.connect(srv.admin(pec.database_name(stuck))) as locker:
        locker.execute("lock table tb_fat_vacinacao in access exclusive mode")  # held until the block ends
        results = pull_many(
            [municipio(srv, i) for i in IDS],
            srv,
            statement_timeout=1,
            budget=4,
            backoff_seconds=0.2,
            max_attempts=10,
        )
        locker.rollback()
    assert (results[stuck].status, results[stuck].error_kind, results[stuck].error_code) == (
        "falha",
        "transitorio",
        "tempo_esgotado",
    )
    assert "budget" in results[stuck].error
    for i in IDS[1:]:
        assert results[i].status == "sucesso" and differences(srv, i) == {}
    assert pull(municipio(srv, stuck), srv).status == "sucesso" and differences(srv, stuck) == {}


def test_a_network_stall_mid_read_is_cut_at_the_budget(sources):
    """The connection to one source stops delivering bytes in the middle of a read (no server-side
    timeout can end that): the municipality's budget cuts it client-side; the others load."""
    srv = sources
    stuck = IDS[1]
    proxy = StallProxy(srv.port, stall_after=48_000)
    try:
        results = pull_many(
            [municipio(srv, stuck, proxy.port), *(municipio(srv, i) for i in (IDS[0], IDS[2]))],
            srv,
            budget=3,
            max_attempts=2,
            backoff_seconds=0.1,
        )
    finally:
        proxy.close()
    assert (results[stuck].status, results[stuck].error_kind) == ("falha", "transitorio")
    assert results[stuck].error_code in ("tempo_esgotado", "conexao_perdida"), results[stuck].error
    assert all(results[i].status == "sucesso" for i in (IDS[0], IDS[2]))
    assert differences(srv, stuck, TABLES) != {}  # nothing of it was published
    assert pull(municipio(srv, stuck), srv).status == "sucesso" and differences(srv, stuck) == {}


def test_failures_reach_the_marts_as_kind_and_code_only(sources, monkeypatch):
    """A municipality whose server is down and one whose password is wrong: the run log (raw) keeps
    the masked message; agg_esus_pontualidade_municipio (served by the API) keeps only the error
    kind and code, and the PII/secret scan (tests/test_pii_scan.py, rule 'infra') finds no host,
    port, user or database name in any of its values."""
    from dbt.cli.main import dbtRunner

    from mirante import db
    from mirante.orchestration.resources import DBT_PROJECT_DIR

    from .test_pii_scan import achados

    srv = sources
    down, wrong, ok = IDS
    monkeypatch.setenv(f"MIRANTE_ESUS_PASSWORD_{wrong}", "wrong-password")
    pull(municipio(srv, down, closed_port()), srv, **FAST)
    pull(municipio(srv, wrong), srv, **FAST)
    assert pull(municipio(srv, ok), srv).status == "sucesso"
    messages = {row[1]: row[5] for row in run_log(srv)}
    assert "127.0.0.1" in messages[down] and "pec_leitura" in messages[wrong]  # raw keeps the detail
    db.export_env(srv)
    result = dbtRunner().invoke(
        [
            "run",
            "--quiet",
            "--select",
            "+agg_esus_pontualidade_municipio",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ]
    )
    assert result.success, f"dbt run failed: {result.exception}"
    with psycopg.connect(srv.url("reader")) as conn:
        cur = conn.execute(
            "select * from marts.agg_esus_pontualidade_municipio where id_municipio = any(%s)", (list(IDS),)
        )
        columns = [d.name for d in cur.description]
        rows = [dict(zip(columns, r, strict=False)) for r in cur.fetchall()]
    by_id = {r["id_municipio"]: r for r in rows}
    assert (by_id[down]["tipo_erro_ultima_falha"], by_id[down]["codigo_erro_ultima_falha"]) == (
        "transitorio",
        "conexao_recusada",
    )
    assert (by_id[wrong]["tipo_erro_ultima_falha"], by_id[wrong]["codigo_erro_ultima_falha"]) == (
        "permanente",
        "autenticacao",
    )
    leaks = [(r["id_municipio"], c, v) for r in rows for c, v in r.items() if "infra" in achados(v)]
    assert leaks == []
