"""The daily e-SUS pull as Dagster runs it: one run over every partition; a municipality that fails
stays unmaterialized (the others are recorded per partition) and its partition rerun fills it."""

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance

pytestmark = pytest.mark.integration

FACT = AssetKey(["raw_esus", "tb_fat_atendimento_individual"])


def test_one_run_over_all_partitions_a_failure_stays_in_its_partition(server, monkeypatch, tmp_path):
    from mirante.emulators.world import ensure_pec_sources
    from mirante.loaders.esus import registry
    from mirante.orchestration.definitions import defs
    from mirante.orchestration.defs.atencao_primaria import all_partitions_tags

    ensure_pec_sources(server)  # the registry's emulated PEC databases
    ids = [m.id_municipio for m in registry.load(enabled_only=True)]
    broken = ids[1]
    monkeypatch.setenv(f"MIRANTE_ESUS_PASSWORD_{broken}", "wrong-password")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    job = defs.resolve_job_def("esus_pull")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, tags=all_partitions_tags(), raise_on_error=False)
        assert not result.success  # the run says something failed ...
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = str(failure.event_specific_data.error)
        assert f"1 of {len(ids)} municipalities failed" in message and broken in message
        assert "password authentication failed" in message and "wrong-password" not in message
        # ... and only the broken municipality's partition is missing
        assert instance.get_materialized_partitions(FACT) == set(ids) - {broken}
        with psycopg.connect(server.url("transformer")) as conn:
            status = dict(
                conn.execute(
                    "select id_municipio, max(status) from raw_esus.execucoes where id_execucao = %s group by 1",
                    (result.run_id,),
                ).fetchall()
            )
        assert status == {i: ("falha" if i == broken else "sucesso") for i in ids}

        # the password is fixed: the operator reruns that one partition
        monkeypatch.delenv(f"MIRANTE_ESUS_PASSWORD_{broken}")
        rerun = job.execute_in_process(instance=instance, partition_key=broken, raise_on_error=False)
        assert rerun.success
        assert instance.get_materialized_partitions(FACT) == set(ids)
        checks = {e.check_name: e for e in rerun.get_asset_check_evaluations()}
        assert {"atraso", "volume"} <= set(checks) and checks["atraso"].metadata[
            "id_municipio"
        ].value == broken
