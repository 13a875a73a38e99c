"""The live payment stream: the emulator over real HTTP, exactly-once ingestion into
raw_eventos_pagamento (kill -9 drill at each stage of a micro-batch), quarantine, gaps, the
refused token, the sensor, and the incremental staging model with its contract.

Runs in a database of its own (tests/helpers.own_database): the raw schema is reset per test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests

from mirante.emulators import eventos_pagamento as emulator
from mirante.emulators.world import environ
from mirante.loaders import eventos_pagamento as loader

from .helpers import dbt_cli, own_database, reset_raw

pytestmark = pytest.mark.integration

DRIVER = Path(__file__).parent / "faults" / "eventos_driver.py"
DATASET = loader.DATASET


@pytest.fixture(scope="module")
def eventos_db(server):
    with own_database(server, "mirante_eventos_pagamento") as srv:
        yield srv


@pytest.fixture
def db(eventos_db):
    """A new stream: raw emptied, and the staging table built from the previous one dropped."""
    reset_raw(eventos_db, DATASET)
    with psycopg.connect(eventos_db.admin(), autocommit=True) as conn:
        conn.execute("drop table if exists staging.stg_eventos_pagamento__eventos")
    return eventos_db


@pytest.fixture
def emu():
    """A stream whose backlog is all there is (taxa 0): what a run must load is known exactly."""
    with emulator.start(backlog=200, taxa=0) as e:
        yield e


def settings(emu, lote=50, **kw):
    return loader.read_settings(base_url=emu.base_url, token=emu.token, lote=lote, **kw)


def offsets(srv) -> dict[str, list[int]]:
    with psycopg.connect(srv.url("transformer")) as conn:
        return {
            t: [r[0] for r in conn.execute(f"select deslocamento from {DATASET}.{t} order by 1")]
            for t in ("eventos", "quarentena")
        }


def stored(srv) -> int:
    with psycopg.connect(srv.url("transformer")) as conn:
        return loader.raw.stored_offset(conn)


def assert_exactly_once(srv, n: int) -> None:
    """Every offset 1..n in raw exactly once (events or quarantine), and the stored offset is n."""
    got = offsets(srv)
    every = got["eventos"] + got["quarentena"]
    assert len(every) == len(set(every)) == n, (len(every), len(set(every)), n)
    assert sorted(every) == list(range(1, n + 1))
    with psycopg.connect(srv.url("transformer")) as conn:
        ids = conn.execute(f"select count(*), count(distinct id_evento) from {DATASET}.eventos").fetchone()
    assert ids[0] == ids[1] == len(got["eventos"])
    assert stored(srv) == n


# -- the emulator ---------------------------------------------------------------------------------


def test_emulator_serves_dense_deterministic_json_lines_and_refuses_without_token():
    inicio = time.time() - 10
    with (
        emulator.start(backlog=30, taxa=2, inicio=inicio) as a,
        emulator.start(backlog=30, taxa=2, inicio=inicio) as b,
    ):
        auth = {"Authorization": f"Bearer {a.token}"}
        r = requests.get(
            f"{a.base_url}/v1/eventos", params={"desde": 5, "limite": 40}, headers=auth, timeout=10
        )
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-ndjson"
        lines = r.text.splitlines()
        events = [json.loads(line) for line in lines]
        ultimo = int(r.headers["X-Ultimo-Deslocamento"])
        assert ultimo >= 30 + 19  # 10 s at 2 events/s after the backlog
        assert [e["deslocamento"] for e in events] == list(range(6, 6 + len(events)))
        assert len(events) == min(40, ultimo - 5)
        # the same seed and start: the same bytes
        again = requests.get(
            f"{b.base_url}/v1/eventos", params={"desde": 5, "limite": 40}, headers=auth, timeout=10
        )
        assert again.text.splitlines()[: len(lines) - 2] == lines[: len(lines) - 2]
        contas = {(ag, ct) for _, ag, ct in emulator.CONTAS}
        for e in events:
            assert e["tipo"] in emulator.TIPOS and (e["agencia"], e["conta"]) in contas
            assert float(e["valor"]) > 0 and e["valor"].count(".") == 1
            assert (e["bandeira"] is None) == (e["tipo"] != "liquidacao_cartao")
        # backlog in the past, live events published one every 1/taxa s after the start
        assert emulator.ocorrido_em(30, inicio, 2, 30) < inicio <= emulator.ocorrido_em(31, inicio, 2, 30)
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            refused = requests.get(f"{a.base_url}/v1/eventos", headers=headers, timeout=10)
            assert refused.status_code == 401 and "token" in refused.json()["erro"]
        assert requests.get(f"{a.base_url}/v1/eventos?desde=x", headers=auth, timeout=10).status_code == 400


# -- ingestion ----------------------------------------------------------------------------------


def test_ingest_over_http_loads_every_offset_once_and_quarantines_malformed_events(db, emu):
    emu.malformar(5, 6, 7, 8)
    emu.repetir(30)  # event 30 re-sends the id of event 29
    result = loader.ingest(db, settings(emu))
    assert [(p.desde, p.ate) for p in result.lotes] == [(0, 50), (50, 100), (100, 150), (150, 200)]
    assert (result.eventos, result.quarentena, result.atraso) == (195, 5, 0)
    assert_exactly_once(db, 200)
    with psycopg.connect(db.url("transformer")) as conn:
        reasons = dict(conn.execute(f"select deslocamento, motivo from {DATASET}.quarentena").fetchall())
        content = conn.execute(
            f"select conteudo from {DATASET}.quarentena where deslocamento = 5"
        ).fetchone()[0]
        lotes = conn.execute(f"select count(distinct _id_lote) from {DATASET}.eventos").fetchone()[0]
    expected = {n: emulator.MALFORMACOES[n % len(emulator.MALFORMACOES)] for n in (5, 6, 7, 8)}
    assert reasons == {**expected, 30: "id_evento_repetido"}
    assert json.loads(content) == emu.evento(5)  # the line as it came
    assert lotes == 4
    # caught up: a second run loads nothing and moves nothing
    again = loader.ingest(db, settings(emu))
    assert (again.lotes, again.desde, again.ate) == ([], 200, 200)
    assert_exactly_once(db, 200)


def test_a_gap_in_the_offsets_fails_the_batch_and_loads_nothing_of_it(db, emu):
    emu.lacuna(70)
    with pytest.raises(loader.EventosLacunaError, match="expected 70"):
        loader.ingest(db, settings(emu))
    assert_exactly_once(db, 50)  # the first batch is committed, nothing of the second
    emu.corrigir()
    loader.ingest(db, settings(emu))
    assert_exactly_once(db, 200)


def test_a_refused_token_loads_nothing(db, emu):
    with pytest.raises(loader.EventosRecusados, match="401"):
        loader.ingest(db, loader.read_settings(base_url=emu.base_url, token="not-the-token"))
    with pytest.raises(loader.EventosRecusados):
        loader.ingest(db, loader.read_settings(base_url=emu.base_url, token=None))
    assert offsets(db) == {"eventos": [], "quarentena": []} and stored(db) == 0


def test_a_batch_read_behind_the_stored_offset_is_refused_not_doubled(db, emu):
    from mirante.loaders.eventos_pagamento import client, raw
    from mirante.loaders.eventos_pagamento.parse import parse_batch

    loader.ingest(db, settings(emu, max_lotes=1))
    page = client.fetch(settings(emu), 0)  # a second ingester that read before the first committed
    with psycopg.connect(db.url("loader"), autocommit=True) as conn:
        with pytest.raises(loader.EventosConcorrencia, match="stored offset is 50"):
            raw.publish(conn, 0, parse_batch(0, page.linhas), "late")
    assert_exactly_once(db, 50)


@pytest.mark.parametrize("point", ["fetch", "insert", "commit"])
def test_kill_9_at_each_stage_of_a_batch_then_a_rerun_loses_and_doubles_nothing(db, emu, tmp_path, point):
    emu.malformar(60, 61)  # quarantine rows in the killed batch too
    env = {
        "MIRANTE_EVENTOS_PAGAMENTO_BASE_URL": emu.base_url,
        "MIRANTE_EVENTOS_PAGAMENTO_TOKEN": emu.token,
        "MIRANTE_EVENTOS_PAGAMENTO_LOTE": "50",
    }
    marker = tmp_path / "marker"
    with environ(env):
        killed = subprocess.run([sys.executable, str(DRIVER), point, str(marker)], timeout=120)
    assert killed.returncode == -signal.SIGKILL and marker.read_text() == point
    # what the killed run left: the 2nd batch only once it committed
    assert stored(db) == (100 if point == "commit" else 50)
    assert_exactly_once(db, stored(db))
    with environ(env):
        rerun = subprocess.run([sys.executable, str(DRIVER), "none", str(marker)], timeout=120)
    assert rerun.returncode == 0 and marker.read_text() == f"finished {2 if point == 'commit' else 3} 200"
    assert_exactly_once(db, 200)
    assert offsets(db)["quarentena"] == [60, 61]


# -- the sensor -----------------------------------------------------------------------------------


def test_sensor_asks_for_the_offset_range_past_the_stored_one_and_skips_when_caught_up(db, emu):
    from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

    from mirante.orchestration.defs.financas_eventos import RANGE_TAG, eventos_pagamento_sensor
    from mirante.orchestration.resources import LoaderSettings, Warehouse

    def tick():
        resources = {
            "warehouse": Warehouse(),
            "eventos_pagamento": LoaderSettings(loader="eventos_pagamento"),
        }
        with DagsterInstance.ephemeral() as instance:
            return eventos_pagamento_sensor(build_sensor_context(instance=instance, resources=resources))

    with environ(emulator.loader_settings(emu)):
        req = tick()
        assert isinstance(req, RunRequest)
        assert (req.run_key, req.tags[RANGE_TAG]) == ("eventos_pagamento:1-200", "1-200")
        loader.ingest(db, settings(emu, max_lotes=2))
        assert tick().run_key == "eventos_pagamento:101-200"
        loader.ingest(db, settings(emu))
        assert isinstance(tick(), SkipReason)
    with environ(
        {"MIRANTE_EVENTOS_PAGAMENTO_BASE_URL": "http://127.0.0.1:9", "MIRANTE_EVENTOS_PAGAMENTO_TOKEN": "x"}
    ):
        assert "did not answer" in tick().skip_message


# -- staging --------------------------------------------------------------------------------------


def test_staging_is_incremental_by_offset_with_the_contract_and_no_document_in_clear(db):
    inicio = time.time()
    with emulator.start(backlog=100, taxa=0, inicio=inicio) as first:
        loader.ingest(db, settings(first))
    build = dbt_cli(
        "build",
        "--select",
        "stg_eventos_pagamento__eventos",
        "--indirect-selection",
        "cautious",
        target="eventos",
    )
    assert build.returncode == 0, build.stdout[-3000:]
    # the stream goes on: the same seed and start, 60 more events published
    with emulator.start(backlog=160, taxa=0, inicio=inicio) as more:
        more.malformar(150)
        loader.ingest(db, settings(more))
    build = dbt_cli(
        "build",
        "--select",
        "stg_eventos_pagamento__eventos",
        "--indirect-selection",
        "cautious",
        target="eventos",
    )
    assert build.returncode == 0, build.stdout[-3000:]
    with psycopg.connect(db.url("transformer")) as conn:
        columns = conn.execute(
            """select column_name, data_type, numeric_precision, numeric_scale
               from information_schema.columns
               where table_schema = 'staging' and table_name = 'stg_eventos_pagamento__eventos'
               order by ordinal_position"""
        ).fetchall()
        rows = conn.execute(
            f"""select s.deslocamento, s.tipo_evento, s.natureza, s.valor = r.valor, s.contraparte_hash,
                       r.contraparte_documento, s.data_evento = (r.ocorrido_em at time zone 'America/Sao_Paulo')::date,
                       s.carregado_em = r._carregado_em
                from staging.stg_eventos_pagamento__eventos s
                join {DATASET}.eventos r using (id_evento) order by 1"""
        ).fetchall()
        staged = conn.execute("select count(*) from staging.stg_eventos_pagamento__eventos").fetchone()[0]
    assert [(c[0], c[1]) for c in columns] == [
        ("id_evento", "text"),
        ("deslocamento", "bigint"),
        ("tipo_evento", "text"),
        ("natureza", "text"),
        ("agencia", "text"),
        ("conta", "text"),
        ("valor", "numeric"),
        ("bandeira", "text"),
        ("contraparte_hash", "text"),
        ("ocorrido_em", "timestamp with time zone"),
        ("data_evento", "date"),
        ("carregado_em", "timestamp with time zone"),
    ]
    assert columns[6][2:] == (18, 2)
    assert staged == len(rows) == 159  # 160 offsets, one quarantined
    assert [r[0] for r in rows] == [n for n in range(1, 161) if n != 150]
    for _, tipo, natureza, same_value, digest, document, same_day, same_load in rows:
        assert natureza == ("debito" if tipo == "pix_enviado" else "credito")
        assert same_value and same_day and same_load
        assert len(digest) == 64 and document not in digest
    # the same document, the same key; a different one, another
    by_doc: dict[str, set[str]] = {}
    for r in rows:
        by_doc.setdefault(r[5], set()).add(r[4])
    assert all(len(v) == 1 for v in by_doc.values())
    assert len({next(iter(v)) for v in by_doc.values()}) == len(by_doc)


def test_the_job_ingests_and_builds_everything_downstream_in_one_run(db, emu):
    """`financas_eventos` as the sensor launches it: the raw asset, then the dbt models on it."""
    from dagster import AssetKey, DagsterInstance

    from mirante.orchestration.definitions import defs

    emu.malformar(3)
    job = defs.resolve_job_def("financas_eventos")
    # this database holds only the stream: the job's finance marts also read the ledger, the files
    # and the BCB series (the whole graph runs it in test_pipeline_e2e), so run the stream's own part
    own = [k for k in job.asset_layer.selected_asset_keys if "eventos_pagamento" in k.to_user_string()]
    assert AssetKey(["staging", "stg_eventos_pagamento__eventos"]) in own
    with environ(emulator.loader_settings(emu)), DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=own)
    assert result.success
    materialized = {
        m.event_specific_data.materialization.asset_key.to_user_string()
        for m in result.get_asset_materialization_events()
    }
    assert {"raw_eventos_pagamento/eventos", "staging/stg_eventos_pagamento__eventos"} <= materialized
    assert_exactly_once(db, 200)
    with psycopg.connect(db.url("transformer")) as conn:
        staged = conn.execute("select count(*) from staging.stg_eventos_pagamento__eventos").fetchone()[0]
    assert staged == 199
