"""The one Definitions: loads without a server, one lineage from sources to marts, checks,
schedule and the sensor that reacts to new exports."""

import json
import os

import pytest

from dagster import AssetKey, DagsterInstance, RunRequest, SkipReason, build_sensor_context

from mirante.orchestration.definitions import defs
from mirante.orchestration.defs.saneamento import SNIS_OP, snis_new_export_sensor

from .conftest import SNIS_SAMPLE


def graph():
    return defs.resolve_asset_graph()


def test_asset_keys_join_dlt_sources_to_dbt_models():
    keys = {k.to_user_string() for k in graph().get_all_asset_keys()}
    for expected in [
        "raw_snis/agua_esgoto_agregado", "raw_snis/reconciliacao", "raw_snis/quarentena", "raw_snis/arquivos",
        "raw_ibge/municipios", "raw_ibge/estados", "raw_ibge/regioes",
        "staging/stg_snis__agua_esgoto_agregado", "intermediate/int_saneamento__prestador_municipio",
        "marts/dim_municipio", "marts/fct_saneamento_prestador_ano", "marts/agg_saneamento_uf_ano",
        "marts/agg_saneamento_brasil_ano",
    ]:
        assert expected in keys
    g = graph()
    # the dbt source is the dlt asset itself (materializable), not a separate external asset
    assert g.get(AssetKey(["raw_snis", "agua_esgoto_agregado"])).is_materializable
    stg = g.get(AssetKey(["staging", "stg_snis__agua_esgoto_agregado"]))
    assert AssetKey(["raw_snis", "agua_esgoto_agregado"]) in stg.parent_keys
    upstream = g.upstream_key_iterator(AssetKey(["marts", "fct_saneamento_prestador_ano"]))
    assert {AssetKey(["raw_snis", "agua_esgoto_agregado"]), AssetKey(["raw_ibge", "municipios"])} <= set(upstream)


def test_checks_schedule_and_sensor_are_defined():
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph().asset_check_keys}
    assert ("raw_snis/agua_esgoto_agregado", "ge_agua_esgoto_agregado") in checks
    assert ("raw_snis/agua_esgoto_agregado", "reconciliacao_rodape") in checks
    assert ("marts/fct_saneamento_prestador_ano", "ge_fct_saneamento_prestador_ano") in checks
    # dbt tests are asset checks too
    assert sum(1 for a, _ in checks if a.startswith("marts/")) >= 10
    schedules = {s.name: (s.cron_schedule, s.job_name) for s in defs.schedules}
    assert schedules == {"mirante_all_daily": ("0 6 * * *", "mirante_all"),
                         "esus_daily": ("0 5 * * *", "esus_pull"),
                         "comercial_daily": ("30 6 * * *", "comercial")}
    assert defs.resolve_job_def("mirante_all")
    assert {s.name for s in defs.sensors} == {"snis_new_export_sensor"}


def test_sensor_requests_one_run_per_new_or_changed_export(tmp_path, monkeypatch):
    monkeypatch.setenv("MIRANTE_SNIS_DIR", str(tmp_path))
    with DagsterInstance.ephemeral() as instance:
        ctx = build_sensor_context(instance=instance)
        assert isinstance(snis_new_export_sensor(ctx), SkipReason)
        (tmp_path / "a_2021.csv").write_bytes(SNIS_SAMPLE.read_bytes())
        ctx = build_sensor_context(instance=instance, cursor=ctx.cursor)
        [req] = snis_new_export_sensor(ctx)
        assert isinstance(req, RunRequest)
        assert req.run_config == {"ops": {SNIS_OP: {"config": {"files": ["a_2021.csv"]}}}}
        ctx = build_sensor_context(instance=instance, cursor=ctx.cursor)
        assert isinstance(snis_new_export_sensor(ctx), SkipReason)  # unchanged: nothing to do
        os.utime(tmp_path / "a_2021.csv", ns=(1, 1))  # a changed export: new modification time
        [req] = snis_new_export_sensor(build_sensor_context(instance=instance, cursor=ctx.cursor))
        assert json.loads(json.dumps(req.run_config))["ops"][SNIS_OP]["config"]["files"] == ["a_2021.csv"]


def test_esus_schedule_one_run_over_every_partition_with_the_concurrency_tag(tmp_path, monkeypatch):
    from datetime import datetime

    from dagster import DagsterInstance, build_schedule_context

    from mirante.loaders.esus import registry
    from mirante.orchestration import instance
    from mirante.orchestration.defs.atencao_primaria import CONCURRENCY_TAG, esus_daily, municipios

    request = esus_daily(build_schedule_context(scheduled_execution_time=datetime(2026, 11, 26, 5)))
    keys = municipios.get_partition_keys()
    assert keys == [m.id_municipio for m in registry.load()]
    assert (request.partition_key_range.start, request.partition_key_range.end) == (keys[0], keys[-1])
    assert request.tags[CONCURRENCY_TAG] == "pull" and request.run_key == "esus:2026-11-26"
    monkeypatch.setenv("MIRANTE_ESUS_CONCURRENCY", "2")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    instance.prepare(tmp_path)
    with DagsterInstance.get() as inst:
        limits = inst.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert limits == [{"key": CONCURRENCY_TAG, "limit": 2}]


def test_registry_rejects_passwords_and_bad_ids(tmp_path):
    from mirante.loaders.esus import registry

    bad = tmp_path / "r.toml"
    bad.write_text('[[municipio]]\nid_municipio = "2704302"\nconexao = "postgresql://u:secret@h/db"\n')
    with pytest.raises(ValueError, match="must not hold a password"):
        registry.load(bad)
    bad.write_text('[[municipio]]\nid_municipio = "270430"\nconexao = "postgresql://u@h/db"\n')
    with pytest.raises(ValueError, match="7-digit"):
        registry.load(bad)
