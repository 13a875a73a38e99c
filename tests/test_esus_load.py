"""e-SUS PEC pulls against real source databases: per-municipality failure, retries, no gap and no
duplicate after recovery, date-range re-pull, run log."""

import socket
from datetime import date, timedelta

import psycopg
import pytest

from mirante.emulators import pec
from mirante.loaders.esus.pull import PullError, classify, pull
from mirante.loaders.esus.registry import Municipio
from mirante.loaders.esus.settings import FACTS

from .conftest import own_database, reset_raw

pytestmark = pytest.mark.integration

PASSWORD = "pec-source-test"
#: not in the registry (loaders/esus/municipios.toml): the registry's emulated sources stay untouched
IDS = ("2927408", "2304400", "1302603")
END = date.today() - timedelta(days=1)


def municipio(server, ident: str, port: int | None = None) -> Municipio:
    return Municipio(ident, ident, "", f"postgresql://{pec.SOURCE_ROLE}@127.0.0.1:{port or server.port}/"
                                       f"{pec.database_name(ident)}")


@pytest.fixture(scope="module")
def esus_db(server):
    with own_database(server, "mirante_test_esus") as srv:
        yield srv


@pytest.fixture
def sources(esus_db, monkeypatch):
    server = esus_db
    monkeypatch.setenv("MIRANTE_ESUS_PASSWORD", PASSWORD)
    reset_raw(server, "raw_esus")
    for ident in IDS:
        pec.create_municipio(server, ident, PASSWORD, days=30, end=END)
    yield server
    for ident in IDS:
        pec.drop_municipio(server, ident)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def source_counts(server, ident):
    with psycopg.connect(server.admin(pec.database_name(ident))) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in FACTS}


def raw_counts(server, ident):
    with psycopg.connect(server.url("transformer")) as conn:
        out = {}
        for t, cols in FACTS.items():
            n, distinct = conn.execute(
                f"select count(*), count(distinct {cols[0]}) from raw_esus.{t} where id_municipio = %s",
                (ident,)).fetchone()
            assert n == distinct, f"duplicates in raw_esus.{t} for {ident}"
            out[t] = n
        return out


def run_log(server, ident):
    with psycopg.connect(server.url("transformer")) as conn:
        return conn.execute(
            """select status, tipo_erro, erro, tentativas, sum(linhas) from raw_esus.execucoes
               where id_municipio = %s group by id_execucao, status, tipo_erro, erro, tentativas, inicio
               order by inicio""", (ident,)).fetchall()


def test_a_municipality_down_fails_alone_then_the_rerun_fills_the_gap(sources):
    srv = sources
    down, *up = IDS
    results = {down: pull(municipio(srv, down, closed_port()), srv, max_attempts=3, backoff_seconds=0.05)}
    results.update({i: pull(municipio(srv, i), srv) for i in up})
    assert results[down].status == "falha" and results[down].error_kind == "transitorio"
    assert results[down].attempts == 3  # retried with backoff, then gave up
    assert "refused" in results[down].error.lower()
    for i in up:
        assert results[i].status == "sucesso"
        assert raw_counts(srv, i) == source_counts(srv, i)
    assert raw_counts(srv, down) == {t: 0 for t in FACTS}
    [(status, kind, error, attempts, rows)] = run_log(srv, down)
    assert (status, kind, attempts, rows) == ("falha", "transitorio", 3, 0) and error
    # the database comes back, and one more day of records arrives meanwhile everywhere
    for i in IDS:
        pec.add_day(srv, i, END + timedelta(days=1))
    for i in IDS:
        assert pull(municipio(srv, i), srv).status == "sucesso"
    for i in IDS:
        assert raw_counts(srv, i) == source_counts(srv, i)  # no gap, no duplicate
    assert [r[0] for r in run_log(srv, down)] == ["falha", "sucesso"]
    # a rerun with nothing new pulls nothing and changes nothing
    before = raw_counts(srv, up[0])
    again = pull(municipio(srv, up[0]), srv)
    assert sum(again.rows[t] for t in FACTS) == 0 and raw_counts(srv, up[0]) == before


def test_wrong_password_is_permanent_and_not_retried(sources, monkeypatch):
    srv = sources
    monkeypatch.setenv(f"MIRANTE_ESUS_PASSWORD_{IDS[0]}", "wrong-password")
    with pytest.raises(PullError, match="not retried \\(permanent\\).*password authentication failed"):
        pull(municipio(srv, IDS[0]), srv, max_attempts=4, backoff_seconds=0.05, raise_on_error=True)
    [(status, kind, error, attempts, _)] = run_log(srv, IDS[0])
    assert (status, kind, attempts) == ("falha", "permanente", 1)
    assert "wrong-password" not in error


def test_missing_table_is_permanent(sources):
    srv = sources
    with psycopg.connect(srv.admin(pec.database_name(IDS[1])), autocommit=True) as conn:
        conn.execute("drop table tb_fat_visita_domiciliar")
    result = pull(municipio(srv, IDS[1]), srv, max_attempts=4, backoff_seconds=0.05)
    assert (result.status, result.error_kind, result.attempts) == ("falha", "permanente", 1)
    assert "tb_fat_visita_domiciliar" in result.error
    assert classify(ConnectionRefusedError("Connection refused")) == "transitorio"


def test_date_range_repull_moves_no_cursor_and_duplicates_nothing(sources):
    srv = sources
    m = municipio(srv, IDS[2])
    first = pull(m, srv)
    counts = raw_counts(srv, IDS[2])
    again = pull(m, srv, desde=END - timedelta(days=6), ate=END)
    assert again.status == "sucesso" and again.rows["tb_fat_atendimento_individual"] > 0
    assert raw_counts(srv, IDS[2]) == counts
    # the incremental cursor is where the first pull left it
    nxt = pull(m, srv)
    assert nxt.cursors["tb_fat_atendimento_individual"][0] == first.cursors["tb_fat_atendimento_individual"][1]
