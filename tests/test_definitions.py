"""The one Definitions: loads without a server, one lineage from sources to marts, checks,
schedule and the sensor that reacts to new exports."""

import json
import os

import pytest
from dagster import AssetKey, DagsterInstance, RunRequest, SkipReason, build_sensor_context

from mirante.orchestration.definitions import defs
from mirante.orchestration.defs.saneamento import SNIS_OP, snis_new_export_sensor

from .helpers import SNIS_SAMPLE


def graph():
    return defs.resolve_asset_graph()


def test_asset_keys_join_dlt_sources_to_dbt_models():
    keys = {k.to_user_string() for k in graph().get_all_asset_keys()}
    for expected in [
        "raw_snis/agua_esgoto_agregado",
        "raw_snis/reconciliacao",
        "raw_snis/quarentena",
        "raw_snis/arquivos",
        "raw_ibge/municipios",
        "raw_ibge/estados",
        "raw_ibge/regioes",
        "staging/stg_snis__agua_esgoto_agregado",
        "intermediate/int_saneamento__prestador_municipio",
        "marts/dim_municipio",
        "marts/fct_saneamento_prestador_ano",
        "marts/agg_saneamento_uf_ano",
        "marts/agg_saneamento_brasil_ano",
    ]:
        assert expected in keys
    g = graph()
    # the dbt source is the dlt asset itself (materializable), not a separate external asset
    assert g.get(AssetKey(["raw_snis", "agua_esgoto_agregado"])).is_materializable
    stg = g.get(AssetKey(["staging", "stg_snis__agua_esgoto_agregado"]))
    assert AssetKey(["raw_snis", "agua_esgoto_agregado"]) in stg.parent_keys
    upstream = g.upstream_key_iterator(AssetKey(["marts", "fct_saneamento_prestador_ano"]))
    assert {AssetKey(["raw_snis", "agua_esgoto_agregado"]), AssetKey(["raw_ibge", "municipios"])} <= set(
        upstream
    )


def test_checks_schedule_and_sensor_are_defined():
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph().asset_check_keys}
    assert ("raw_snis/agua_esgoto_agregado", "ge_agua_esgoto_agregado") in checks
    assert ("raw_snis/agua_esgoto_agregado", "reconciliacao_rodape") in checks
    assert ("marts/fct_saneamento_prestador_ano", "ge_fct_saneamento_prestador_ano") in checks
    # dbt tests are asset checks too
    assert sum(1 for a, _ in checks if a.startswith("marts/")) >= 10
    # no clock starts the rebuild: it follows the e-SUS pull; the commercial build runs before both
    schedules = {s.name: (s.cron_schedule, s.job_name) for s in defs.schedules}
    assert schedules == {
        "esus_daily": ("0 5 * * *", "esus_pull"),
        "comercial_daily": ("0 4 * * *", "comercial"),
        "financas_daily": ("30 9 * * *", "financas"),
        # the ledger's change data capture drains its slot every ten minutes (financas_razao.py)
        "financas_razao_10min": ("*/10 * * * *", "financas_razao"),
        # the previous month's finance reports, one partition (orchestration/defs/relatorios.py)
        "relatorios_mensal": ("0 10 1 * *", "relatorios_financeiros"),
    }
    assert defs.resolve_job_def("mirante_all")
    sensors = {s.name: s.job_name if s.targets else None for s in defs.sensors}
    assert sensors == {
        "snis_new_export_sensor": "saneamento_snis",
        # the finance history files' folder, watched the same way (orchestration/defs/financas_arquivos.py)
        "arquivos_financeiros_sensor": "financas_arquivos",
        # the live payment stream: a micro-batch run when the source is past the stored offset
        "eventos_pagamento_sensor": "financas_eventos",
        "mirante_all_after_esus_pull": "mirante_all",
        # operator alerts launch nothing (orchestration/alerts.py), and are on by default
        "run_failure_alerts": None,
        "check_failure_alerts": None,
        "esus_lateness_digest": None,
        # launches nothing: it fills the folder snis_new_export_sensor watches (one load path)
        "snis_publication_sensor": None,
        # runs the SLA checks whose state changed (orchestration/defs/operacao.py)
        "sla_sensor": "sla",
        # OpenLineage events of the daemon's runs (orchestration/lineage.py), on by default too
        "openlineage_run_started": None,
        "openlineage_run_success": None,
        "openlineage_run_failure": None,
        "openlineage_run_canceled": None,
    }
    alerting = [s for s in defs.sensors if not s.targets]
    assert {s.default_status.value for s in alerting} == {"RUNNING"}
    assert {"alerts", "warehouse"} <= set(defs.resources)
    assert defs.resolve_job_def("esus_pull").tags["dagster/max_runtime"] == "10800"


def test_the_payment_stream_job_is_its_raw_asset_and_everything_downstream_by_rule():
    from dagster import AssetSelection

    from mirante.orchestration.defs.financas_eventos import RAW_KEYS, financas_eventos_job

    g = graph()
    job = defs.resolve_job_def("financas_eventos")
    selected = {k for k in job.asset_layer.selected_asset_keys}
    downstream = AssetSelection.assets(*RAW_KEYS.values()).downstream().resolve(g)
    per_month = {k for k in downstream if k.path[0] == "relatorios"}
    # the finance marts it rebuilds feed the monthly reports, which are asked for by partition
    assert per_month and selected == downstream - per_month
    staging = AssetKey(["staging", "stg_eventos_pagamento__eventos"])
    assert (
        staging in selected and AssetKey(["raw_eventos_pagamento", "eventos"]) in g.get(staging).parent_keys
    )
    assert g.get(RAW_KEYS["eventos"]).group_name == "financas"
    assert financas_eventos_job.name == "financas_eventos"
    sensor = next(s for s in defs.sensors if s.name == "eventos_pagamento_sensor")
    assert sensor.minimum_interval_seconds == 60


def test_every_suite_file_is_an_asset_check_by_rule():
    """expectations/suites/<schema>.<table>.json -> check ge_<table> on [schema, table], blocking
    unless the suite says "blocking": false; no suite without its check, no GE check without its file."""
    from mirante.expectations import list_suites, load_suite

    specs = {(tuple(s.asset_key.path), s.name): s for c in defs.asset_checks for s in c.check_specs}
    expected = {}
    for suite in list_suites():
        schema, table = suite.split(".", 1)
        expected[((schema, table), f"ge_{table}")] = load_suite(suite).get("blocking", True)
    ge = {key: spec.blocking for key, spec in specs.items() if key[1].startswith("ge_")}
    assert ge == expected
    assert ge[(("raw_esus", "tb_fat_vacinacao_vacina"), "ge_tb_fat_vacinacao_vacina")] is False
    assert ge[(("raw_snis", "agua_esgoto_agregado"), "ge_agua_esgoto_agregado")] is True


def test_the_ledger_capture_is_one_op_for_every_raw_razao_table_joined_to_staging():
    from mirante.loaders import razao

    g = graph()
    keys = {AssetKey(["raw_razao", t]) for t in razao.TABLES}
    assert {defs.resolve_assets_def(k).op.name for k in keys} == {"raw_razao"}
    assert {g.get(k).group_name for k in keys} == {"financas"}
    assert defs.resolve_assets_def(AssetKey(["raw_razao", "clientes"])).op.pool == "razao"
    stg = g.get(AssetKey(["staging", "stg_razao__recebiveis"]))
    assert AssetKey(["raw_razao", "recebiveis"]) in stg.parent_keys
    job = {n.name for n in defs.resolve_job_def("financas_razao").graph.nodes}
    assert {"raw_razao", "dbt_models"} <= job


def test_every_dlt_op_and_the_dbt_build_have_a_pool_of_their_own():
    pools = {
        node.name: node.definition.pool
        for job in ("mirante_all", "esus_pull", "saneamento_snis", "saneamento", "comercial", "financas")
        for node in defs.resolve_job_def(job).graph.nodes
    }
    assert {
        name: pools[name]
        for name in (
            "raw_snis",
            "raw_ibge",
            "raw_crm",
            "raw_erp",
            "raw_bcb",
            "dbt_models",
            "raw_esus_pec",
            "raw_eventos_pagamento",
        )
    } == {
        "raw_snis": "dlt_snis",
        "raw_ibge": "dlt_ibge",
        "raw_crm": "dlt_crm",
        "raw_erp": "dlt_erp",
        "raw_bcb": "dlt_bcb",
        "dbt_models": "dbt",
        "raw_esus_pec": "esus",
        "raw_eventos_pagamento": "eventos_pagamento",
    }


def _sensor_resources():
    from mirante.orchestration.resources import LoaderSettings, Warehouse

    return {"warehouse": Warehouse(), "snis": LoaderSettings(loader="snis")}


def _snis_sensor(instance, cursor=None):
    return snis_new_export_sensor(
        build_sensor_context(instance=instance, cursor=cursor, resources=_sensor_resources())
    )


def test_snis_sensor_asks_one_run_per_tick_for_every_export_raw_does_not_hold(tmp_path, monkeypatch):
    from mirante.orchestration.defs import pastas
    from mirante.orchestration.defs.pastas import file_sha256
    from mirante.orchestration.defs.saneamento import FILES_TAG

    monkeypatch.setenv("MIRANTE_SNIS_DIR", str(tmp_path))
    loaded: set[str] = set()
    monkeypatch.setattr(pastas, "loaded_hashes", lambda warehouse, table: set(loaded))
    with DagsterInstance.ephemeral() as instance:
        ctx = build_sensor_context(instance=instance, resources=_sensor_resources())
        assert isinstance(snis_new_export_sensor(ctx), SkipReason)
        sample = SNIS_SAMPLE.read_bytes()
        (tmp_path / "a_2021.csv").write_bytes(sample)
        (tmp_path / "b_2021.csv").write_bytes(sample + b"\x00")
        (tmp_path / "c_2021.csv").write_bytes(sample + b"\x00\x00")
        loaded.add(file_sha256(tmp_path / "c_2021.csv"))  # already in raw_snis.arquivos
        ctx = build_sensor_context(instance=instance, cursor=ctx.cursor, resources=_sensor_resources())
        req = snis_new_export_sensor(ctx)
        # ONE run for both new files; the loaded one is not asked for
        assert isinstance(req, RunRequest)
        assert req.run_config == {"ops": {SNIS_OP: {"config": {"files": ["a_2021.csv", "b_2021.csv"]}}}}
        assert json.loads(req.tags[FILES_TAG]) == {
            n: file_sha256(tmp_path / n) for n in ("a_2021.csv", "b_2021.csv")
        }
        # the same files, same content: the same run key (a failed load is not relaunched each tick)
        assert _snis_sensor(instance, ctx.cursor).run_key == req.run_key
        loaded.update(json.loads(req.tags[FILES_TAG]).values())
        assert isinstance(_snis_sensor(instance, ctx.cursor), SkipReason)  # loaded: nothing to do
        # touched but the same bytes: still loaded, nothing to do
        os.utime(tmp_path / "a_2021.csv", ns=(1, 1))
        assert isinstance(_snis_sensor(instance, ctx.cursor), SkipReason)
        # new content: asked for again
        (tmp_path / "a_2021.csv").write_bytes(sample + b"\x00\x00\x00")
        req = _snis_sensor(instance, ctx.cursor)
        assert req.run_config["ops"][SNIS_OP]["config"]["files"] == ["a_2021.csv"]


def test_a_watched_folder_sensor_evaluated_as_the_daemon_does_asks_the_same(tmp_path, monkeypatch):
    """The daemon calls `evaluate_tick` (resources on the context only), tests call the sensor: both
    paths must find the folder's settings and ask for the same run."""
    from mirante.orchestration.defs import pastas

    monkeypatch.setenv("MIRANTE_SNIS_DIR", str(tmp_path))
    monkeypatch.setattr(pastas, "loaded_hashes", lambda warehouse, table: set())
    (tmp_path / "a_2021.csv").write_bytes(SNIS_SAMPLE.read_bytes())
    with DagsterInstance.ephemeral() as instance:
        ctx = build_sensor_context(instance=instance, resources=_sensor_resources())
        [ticked] = snis_new_export_sensor.evaluate_tick(ctx).run_requests
        called = _snis_sensor(instance)
        assert ticked.run_key == called.run_key and ticked.run_config == called.run_config


def test_snis_sensor_started_on_a_loaded_database_asks_for_nothing(tmp_path, monkeypatch):
    """The `make ui` after `make run` case: empty cursor, every export already in raw_snis."""
    from mirante.orchestration.defs import pastas
    from mirante.orchestration.defs.pastas import file_sha256

    monkeypatch.setenv("MIRANTE_SNIS_DIR", str(tmp_path))
    (tmp_path / "a_2021.csv").write_bytes(SNIS_SAMPLE.read_bytes())
    monkeypatch.setattr(
        pastas, "loaded_hashes", lambda warehouse, table: {file_sha256(tmp_path / "a_2021.csv")}
    )
    with DagsterInstance.ephemeral() as instance:
        assert isinstance(_snis_sensor(instance), SkipReason)


def test_snis_sensor_does_not_ask_twice_for_a_file_being_loaded(tmp_path, monkeypatch):
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    from mirante.orchestration.defs import pastas
    from mirante.orchestration.defs.saneamento import FILES_TAG

    monkeypatch.setenv("MIRANTE_SNIS_DIR", str(tmp_path))
    monkeypatch.setattr(pastas, "loaded_hashes", lambda warehouse, table: set())
    (tmp_path / "a_2021.csv").write_bytes(SNIS_SAMPLE.read_bytes())
    with DagsterInstance.ephemeral() as instance:
        req = _snis_sensor(instance)
        instance.add_run(
            DagsterRun(
                job_name="saneamento_snis", run_id="r1", status=DagsterRunStatus.STARTED, tags=req.tags
            )
        )
        assert isinstance(_snis_sensor(instance), SkipReason)
        (tmp_path / "b_2021.csv").write_bytes(SNIS_SAMPLE.read_bytes() + b"\x00")
        req = _snis_sensor(instance)  # a file landed while the first loads: only the new one
        assert list(json.loads(req.tags[FILES_TAG])) == ["b_2021.csv"]


def test_snis_sensor_skips_when_the_database_is_down(tmp_path, monkeypatch):
    from mirante.orchestration.defs import pastas

    def down(warehouse, table):
        raise OSError("connection refused")

    monkeypatch.setenv("MIRANTE_SNIS_DIR", str(tmp_path))
    monkeypatch.setattr(pastas, "loaded_hashes", down)
    (tmp_path / "a_2021.csv").write_bytes(SNIS_SAMPLE.read_bytes())
    with DagsterInstance.ephemeral() as instance:
        ctx = build_sensor_context(instance=instance, resources=_sensor_resources())
        assert isinstance(snis_new_export_sensor(ctx), SkipReason)
        assert ctx.cursor is None  # nothing remembered: the next tick tries again


def test_rebuild_follows_a_finished_esus_pull_not_a_clock():
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    from mirante.orchestration.definitions import (
        AFTER_TAG,
        INLINE_ORIGIN,
        ORIGIN_TAG,
    )
    from mirante.orchestration.definitions import (
        mirante_all_after_esus_pull as after_pull,
    )

    with DagsterInstance.ephemeral() as instance:

        def pull(run_id, status, tags=None, job="esus_pull"):
            instance.add_run(DagsterRun(job_name=job, run_id=run_id, status=status, tags=tags or {}))

        pull("old", DagsterRunStatus.SUCCESS)
        ctx = build_sensor_context(instance=instance)
        assert isinstance(after_pull(ctx), SkipReason)  # turned on: past pulls are not replayed
        cursor = ctx.cursor
        assert isinstance(after_pull(build_sensor_context(instance=instance, cursor=cursor)), SkipReason)
        pull("inline", DagsterRunStatus.SUCCESS, {ORIGIN_TAG: INLINE_ORIGIN})  # `mirante run` rebuilds itself
        pull("failed", DagsterRunStatus.FAILURE)  # nothing loaded: nothing to rebuild
        pull("other", DagsterRunStatus.SUCCESS, job="comercial")
        pull("running", DagsterRunStatus.STARTED)
        ctx = build_sensor_context(instance=instance, cursor=cursor)
        assert isinstance(after_pull(ctx), SkipReason)
        pull("daily", DagsterRunStatus.SUCCESS)
        ctx = build_sensor_context(instance=instance, cursor=ctx.cursor)
        req = after_pull(ctx)
        assert isinstance(req, RunRequest) and req.run_key == "apos:daily" and req.tags[AFTER_TAG] == "daily"
        assert isinstance(after_pull(build_sensor_context(instance=instance, cursor=ctx.cursor)), SkipReason)


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
        pools = inst.get_concurrency_config().pool_config
        esus = inst.event_log_storage.get_concurrency_info("esus")
        dbt = inst.event_log_storage.get_concurrency_info("dbt")
        monitoring = inst.run_monitoring_enabled
    assert limits == [{"key": CONCURRENCY_TAG, "limit": 2}]
    # every pool one slot (dlt_<pipeline>, dbt), the e-SUS pool MIRANTE_ESUS_CONCURRENCY, steps wait
    assert (pools.default_pool_limit, pools.pool_granularity.value) == (1, "op")
    assert (esus.slot_count, esus.using_default_limit) == (2, False)
    assert dbt.limit == 1
    assert monitoring  # enforces dagster/max_runtime


def test_registry_rejects_passwords_and_bad_ids(tmp_path):
    from mirante.loaders.esus import registry

    bad = tmp_path / "r.toml"
    bad.write_text('[[municipio]]\nid_municipio = "2704302"\nconexao = "postgresql://u:secret@h/db"\n')
    with pytest.raises(ValueError, match="must not hold a password"):
        registry.load(bad)
    bad.write_text('[[municipio]]\nid_municipio = "270430"\nconexao = "postgresql://u@h/db"\n')
    with pytest.raises(ValueError, match="7-digit"):
        registry.load(bad)


def test_runs_of_a_killed_mirante_run_are_closed_and_free_their_pool_slots(tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys

    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    from mirante.orchestration import instance as mirante_instance
    from mirante.orchestration.definitions import INLINE_ORIGIN, ORIGIN_TAG
    from mirante.orchestration.run import HOST_TAG, PID_TAG, close_dead_runs

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    mirante_instance.prepare(tmp_path)
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default("dlt_snis")
        for run_id, pid in (("killed", dead), ("alive", str(os.getpid()))):
            instance.add_run(
                DagsterRun(
                    job_name="mirante_all",
                    run_id=run_id,
                    status=DagsterRunStatus.STARTED,
                    tags={ORIGIN_TAG: INLINE_ORIGIN, PID_TAG: pid, HOST_TAG: socket.gethostname()},
                )
            )
        assert storage.claim_concurrency_slot("dlt_snis", "killed", "raw_snis").is_claimed
        assert not storage.claim_concurrency_slot("dlt_snis", "other", "raw_snis").is_claimed
        assert close_dead_runs(instance) == ["killed"]
        assert instance.get_run_by_id("killed").status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id("alive").status == DagsterRunStatus.STARTED
        assert [s.run_id for s in storage.get_concurrency_info("dlt_snis").claimed_slots] == []
        assert storage.claim_concurrency_slot("dlt_snis", "other", "raw_snis").is_claimed


def test_every_schedule_and_sensor_runs_by_default():
    """Nothing waits for a person to turn it on (`mirante serve` / `make ui` start them)."""
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    assert {s.name: s.default_status for s in defs.schedules} == dict.fromkeys(
        [s.name for s in defs.schedules], DefaultScheduleStatus.RUNNING
    )
    assert {s.name: s.default_status for s in defs.sensors} == dict.fromkeys(
        [s.name for s in defs.sensors], DefaultSensorStatus.RUNNING
    )
    assert len(defs.schedules) >= 2 and len(defs.sensors) >= 2
