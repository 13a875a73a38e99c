"""Two conflicting runs launched at once: the second waits for the first, and the data are right.

1. Two processes load the same SNIS export through one dlt pipeline (no Dagster): both block on
   the pipeline's advisory lock, then run one after the other (their dlt traces do not overlap);
   raw_snis holds each row once.
2. Two Dagster runs of the SNIS load op (pool `dlt_snis`, one slot) launched at once in two
   processes on one instance: both steps wait for the slot, then run one after the other.

Both start while the lock or the slot is held by the test itself, so the wait is certain (not a
matter of which process happens to start first) and visible (pg_locks, the pool's pending steps).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime

import psycopg
import pytest

from mirante import config
from mirante.pipelines import LOCK_NAMESPACE, exclusive, lock_key

from .helpers import SNIS_SAMPLE, own_database, reset_raw

pytestmark = pytest.mark.integration

DATABASE = "mirante_test_colisoes"
PIPELINE = "snis_colisoes"
#: rows of the Alagoas sample (31 providers, one row each)
SAMPLE_ROWS = 31

LOAD_SCRIPT = """
import json, sys
from mirante.loaders.snis import LOADER_FILE_FORMAT, snis_source
from mirante.pipelines import make_pipeline

directory, name, pipeline_name = sys.argv[1:4]
pipeline = make_pipeline(pipeline_name, "raw_snis")
pipeline.run(snis_source(directory=directory, files=[name]), loader_file_format=LOADER_FILE_FORMAT)
trace = pipeline.last_trace
print(json.dumps({"started": trace.started_at.timestamp(), "finished": trace.finished_at.timestamp()}))
"""

#: the real SNIS load op (its pool, its dlt pipeline), without the checks and dbt models downstream
#: that the sensor's job also runs (and without importing the dbt manifest: faster)
DAGSTER_SCRIPT = """
import json, sys
from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job, in_process_executor
from mirante.orchestration.defs.saneamento import SNIS_OP, snis_assets
from mirante.orchestration.resources import resources

name = sys.argv[1]
job = define_asset_job("snis_raw_only", selection=AssetSelection.assets(snis_assets.assets))
job = Definitions(assets=[snis_assets.assets], jobs=[job], resources=resources(),
                  executor=in_process_executor).resolve_job_def("snis_raw_only")
with DagsterInstance.get() as instance:
    result = job.execute_in_process(instance=instance, raise_on_error=False,
                                    run_config={"ops": {SNIS_OP: {"config": {"files": [name]}}}})
print(json.dumps({"run_id": result.run_id, "success": result.success}))
"""


@pytest.fixture
def database(server):
    with own_database(server, DATABASE) as srv:
        reset_raw(srv, "raw_snis", (PIPELINE, "snis"))
        yield srv
        for name in (PIPELINE, "snis"):
            shutil.rmtree(config.home() / "dlt" / name, ignore_errors=True)


def q(srv, sql, *params):
    with psycopg.connect(srv.url("transformer")) as conn:
        return conn.execute(sql, params).fetchall()


def wait_until(predicate, what: str, timeout: float = 180.0):
    """Poll until `predicate` holds; the bound is generous (a loaded 2-core machine takes a while to
    start the load processes: each imports dlt), it only keeps a broken test from hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


_launched: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def stop_leftovers():
    """A failing test does not leave its load processes behind."""
    yield
    while _launched:
        proc = _launched.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def launch(script: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    _launched.append(proc)
    return proc


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def assert_sample_loaded_once(srv, loads: int):
    rows, keys, files = q(
        srv,
        """select count(*), count(distinct (ano_referencia, codigo_prestador)),
                                         count(distinct _file_name) from raw_snis.agua_esgoto_agregado""",
    )[0]
    assert (rows, keys, files) == (SAMPLE_ROWS, SAMPLE_ROWS, 1)
    assert q(srv, "select arquivo, linhas_carregadas from raw_snis.arquivos") == [
        (SNIS_SAMPLE.name, SAMPLE_ROWS)
    ]
    # footer reconciliation written once per column, not once per run
    per_column = q(
        srv, "select max(n) from (select count(*) as n from raw_snis.reconciliacao group by coluna) c"
    )
    assert per_column == [(1,)]
    # both runs committed a load package (the second merged the same rows again)
    assert q(srv, "select count(*), count(*) filter (where status = 0) from raw_snis._dlt_loads") == [
        (loads, loads)
    ]


def waiting_on(srv, name: str) -> int:
    """Sessions waiting for the advisory lock `name`."""
    return q(
        srv,
        """select count(*) from pg_locks where locktype = 'advisory' and not granted
                     and classid = %s and objid = %s and objsubid = 2""",
        LOCK_NAMESPACE,
        lock_key(name),
    )[0][0]


def test_two_loads_of_one_pipeline_run_one_after_the_other(database, tmp_path):
    shutil.copy(SNIS_SAMPLE, tmp_path / SNIS_SAMPLE.name)
    lock = f"dlt:{PIPELINE}"
    with exclusive(lock, "dataset:raw_snis", srv=database) as held:
        assert held.waited_s == 0 and held.blocked_by == []
        procs = [launch(LOAD_SCRIPT, str(tmp_path), SNIS_SAMPLE.name, PIPELINE) for _ in range(2)]
        # both loads are blocked on the pipeline's lock, not running
        wait_until(lambda: waiting_on(database, lock) == 2, "both loads to wait for the pipeline lock")
        assert all(p.poll() is None for p in procs)
        released = time.time()
    first, second = sorted((finish(p) for p in procs), key=lambda t: t["started"])
    # dlt's traces (extract to load) start after the release and never overlap
    assert released <= first["started"] < first["finished"] <= second["started"] < second["finished"]
    assert_sample_loaded_once(database, loads=2)


def test_two_dagster_runs_of_one_dlt_pool_wait_for_the_slot(database, tmp_path, monkeypatch):
    from dagster import DagsterEventType, DagsterInstance

    from mirante.orchestration import instance as mirante_instance
    from mirante.orchestration.defs.common import dlt_pool

    exports = tmp_path / "snis"
    exports.mkdir()
    shutil.copy(SNIS_SAMPLE, exports / SNIS_SAMPLE.name)
    monkeypatch.setenv("MIRANTE_SNIS_DIR", str(exports))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    mirante_instance.prepare(tmp_path / "dagster")
    pool = dlt_pool("snis")
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(pool)
        assert storage.get_concurrency_info(pool).slot_count == 1
        # the test takes the pool's one slot: a run of the pipeline "in progress"
        assert storage.claim_concurrency_slot(pool, "test-holder", "held-by-the-test").is_claimed
        procs = [launch(DAGSTER_SCRIPT, SNIS_SAMPLE.name) for _ in range(2)]
        try:
            wait_until(
                lambda: storage.get_concurrency_info(pool).pending_step_count == 2,
                "both runs' load steps to wait for the pool slot",
                timeout=90,
            )
            assert all(p.poll() is None for p in procs)
            assert q(database, "select to_regclass('raw_snis.agua_esgoto_agregado')") == [(None,)]
        finally:
            released = time.time()
            storage.free_concurrency_slot_for_step("test-holder", "held-by-the-test")
        results = [finish(p) for p in procs]
        assert all(r["success"] for r in results)

        def step_window(run_id: str) -> tuple[float, float]:
            start = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_START).records
            end = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_SUCCESS).records
            return start[0].timestamp, end[-1].timestamp

        first, second = sorted(step_window(r["run_id"]) for r in results)
        assert storage.get_concurrency_info(pool).claimed_slots == []
    # each load step started only once the slot was free: after the test let it go, then after
    # the other run's step
    assert released <= first[0] < first[1] <= second[0] < second[1], (
        datetime.fromtimestamp(released),
        first,
        second,
    )
    assert_sample_loaded_once(database, loads=2)


def test_a_waiting_run_names_the_holder_and_gives_up_after_the_lock_timeout(server):
    messages: list[str] = []
    with exclusive("dlt:holder_test", srv=server) as held:
        assert held.waited_s == 0
        # the same thread again (dlt's run calls extract, normalize, load): re-entrant, no wait
        with exclusive("dlt:holder_test", srv=server) as inner:
            assert inner.waited_s == 0 and messages == []

        import threading

        outcome: list[BaseException] = []

        def other():
            try:
                with exclusive("dlt:holder_test", srv=server, timeout_s=0.5, on_wait=messages.append):
                    pass
            except BaseException as exc:  # noqa: BLE001 - the failure is what the test looks at
                outcome.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], psycopg.errors.LockNotAvailable)
    assert len(messages) == 1 and "waiting for lock 'dlt:holder_test' (held by pid " in messages[0]
    assert "mirante-lock dlt:holder_test" in messages[0]
    # released by the holder: free again at once
    with exclusive("dlt:holder_test", srv=server, timeout_s=0.5) as held:
        assert held.waited_s == 0 and held.blocked_by == []
