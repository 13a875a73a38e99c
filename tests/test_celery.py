"""Past one machine: with MIRANTE_EXECUTOR=celery the e-SUS pull's batches run on two `mirante
worker` processes (a real Redis from Debian's package as the broker), load exactly what the default
in-process pull loads, and a rerun adds nothing."""

import os
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

from .celery_support import REDIS_SERVER, execute_job, redis_server, workers
from .esus_support import differences
from .helpers import own_database

pytestmark = pytest.mark.integration

JOB = "esus_pull_lotes"
FACT = ["raw_esus", "tb_fat_atendimento_individual"]


def _counts(server, database: str) -> dict[tuple[str, str], int]:
    """Rows per raw_esus table and municipality."""
    from mirante.loaders.esus import TABLES

    out = {}
    with psycopg.connect(server.admin(database)) as conn:
        for table in TABLES:
            query = sql.SQL("select id_municipio, count(*) from raw_esus.{} group by 1").format(
                sql.Identifier(table)
            )
            out.update({(table, ident): n for ident, n in conn.execute(query)})
    return out


@contextmanager
def dagster_storage(server, monkeypatch):
    """The Dagster storage database of MIRANTE_DB (<db>_dagster, role mirante_dagster), its
    password in the environment as the service exports it; dropped afterwards."""
    from mirante import config, db

    database = db.setup_dagster_storage(server)
    monkeypatch.setenv(
        f"MIRANTE_{config.DAGSTER_ROLE.upper()}_PASSWORD", config.role_password(config.DAGSTER_ROLE)
    )
    try:
        yield database
    finally:
        with psycopg.connect(server.admin("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))


def _parent(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])


def _steps_by_worker(instance, run_id: str) -> tuple[dict[str, str], dict[str, int]]:
    """{step: the Celery node that executed it} from the run's engine events, and {step: pid of
    the process that started it} from its STEP_START events."""
    from dagster import DagsterEventType

    nodes, pids = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ENGINE_EVENT and record.step_key:
            meta = event.engine_event_data.metadata if event.engine_event_data else {}
            if "Celery worker" in meta:
                nodes[record.step_key] = meta["Celery worker"].value
        elif event.event_type == DagsterEventType.STEP_START:
            pids[record.step_key] = event.pid
    return nodes, pids


def test_esus_pull_batches_run_on_two_workers_and_load_what_the_in_process_pull_loads(
    server, tmp_path, monkeypatch
):
    if not REDIS_SERVER:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing under CI (make test installs it: make redis)")
        pytest.skip("redis-server is not installed (Debian's redis-server; `make redis` as root)")
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

    from mirante.emulators.world import ensure_pec_sources
    from mirante.loaders.esus import registry
    from mirante.orchestration import instance as dagster_instance
    from mirante.orchestration.definitions import defs
    from mirante.orchestration.defs.atencao_primaria import all_partitions_tags

    ensure_pec_sources(server)  # the registry's emulated PEC databases
    ids = {m.id_municipio for m in registry.load(enabled_only=True)}

    # the default path: the asset job over every partition, in process, in a database of its own
    with own_database(server, "mirante_celery_ref"):
        with DagsterInstance.ephemeral() as ephemeral:
            ref = defs.resolve_job_def("esus_pull").execute_in_process(
                instance=ephemeral, tags=all_partitions_tags()
            )
        assert ref.success
        expected = _counts(server, "mirante_celery_ref")
    assert {i for _, i in expected} == ids and all(expected.values())

    # the same pull on Celery: the instance in PostgreSQL as `mirante serve` keeps it (the workers
    # open it from the ref each step carries), a Redis, two workers, the run orchestrated by a
    # process of its own
    home = tmp_path / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with (
        own_database(server, "mirante_celery"),
        dagster_storage(server, monkeypatch),
        redis_server(tmp_path / "redis") as url,
    ):
        dagster_instance.prepare(home, storage=dagster_instance.postgres_storage(server))
        env = {**os.environ, "MIRANTE_EXECUTOR": "celery", "MIRANTE_REDIS_URL": url}
        with workers(2, env, tmp_path) as started, DagsterInstance.get() as instance:
            names = {name for name, _, _ in started}
            worker_pids = {proc.pid: name for name, proc, _ in started}
            first = execute_job(JOB, env)
            assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
            counts = _counts(server, "mirante_celery")
            again = execute_job(JOB, env)  # a rerun: nothing new in the sources
            assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
            assert _counts(server, "mirante_celery") == counts

            runs = instance.get_runs(RunsFilter(job_name=JOB))
            assert len(runs) == 2 and {r.status for r in runs} == {DagsterRunStatus.SUCCESS}
            steps = {n.name for n in defs.resolve_job_def(JOB).graph.nodes}
            for run in runs:
                nodes, pids = _steps_by_worker(instance, run.run_id)
                # every step (the batches, then the suites) went through Celery; both workers took some
                assert set(nodes) == steps and set(nodes.values()) == names, nodes
                # each step ran in a pool process of the worker Celery named (pools live on)
                assert set(pids) == steps
                for step, pid in pids.items():
                    assert worker_pids.get(_parent(pid)) == nodes[step], (step, pid, nodes)
                checks = {
                    (e.asset_key.path[1], e.check_name, e.passed)
                    for e in (
                        r.dagster_event.event_specific_data
                        for r in instance.all_logs(run.run_id)
                        if r.dagster_event and r.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
                    )
                }
                # every batch's reconciliation and the raw suites (as the asset job runs them) passed
                assert {c for c in checks if not c[2]} == set()
                assert {("tb_fat_atendimento_individual", "reconciliacao_origem", True)} <= checks
                assert {("tb_fat_atendimento_individual", "ge_tb_fat_atendimento_individual", True)} <= checks
            # each municipality's partition of the raw assets is recorded as loaded
            assert instance.get_materialized_partitions(AssetKey(FACT)) == ids
            differing = {i: differences(server, i, database="mirante_celery") for i in sorted(ids)}

    # what the workers loaded is what the in-process pull loads, and equals the sources row by row
    assert counts == expected
    assert differing == {i: {} for i in sorted(ids)}


def test_the_executor_is_chosen_by_configuration(monkeypatch):
    from mirante import config
    from mirante.orchestration.executor import job_executor

    monkeypatch.delenv("MIRANTE_EXECUTOR", raising=False)
    assert job_executor().name == "in_process"
    monkeypatch.setenv("MIRANTE_EXECUTOR", "celery")
    monkeypatch.delenv("MIRANTE_REDIS_URL", raising=False)
    monkeypatch.setattr(config, "read_secrets", lambda: {})
    with pytest.raises(ValueError, match="MIRANTE_REDIS_URL"):
        job_executor()
    monkeypatch.setenv("MIRANTE_REDIS_URL", "redis://:s3cret-broker@10.0.0.5:6379/2")
    executor = job_executor()
    assert executor.name == "celery"
    assert "s3cret-broker" in config.secret_values()  # masked in every error message
    monkeypatch.setenv("MIRANTE_EXECUTOR", "multiprocess")
    with pytest.raises(ValueError, match="in_process, celery"):
        job_executor()


def test_batches_cover_the_enabled_registry_once():
    from mirante.loaders.esus import registry
    from mirante.orchestration.defs.esus_lotes import batch_of

    enabled = sorted(m.id_municipio for m in registry.load(enabled_only=True))
    for n in (1, 2, 4, len(enabled) + 3):
        parts = [[m.id_municipio for m in batch_of(k, n)] for k in range(n)]
        assert sorted(i for part in parts for i in part) == enabled
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
