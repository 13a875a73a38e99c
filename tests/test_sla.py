"""SLAs (orchestration/slas.yml, orchestration/sla.py, orchestration/defs/operacao.py).

The configuration is checked against the Definitions (every check on a real asset, every step
pattern matching real steps, freshness policies applied); each kind of SLA is judged over real
runs in a Dagster instance; then, over a copy of the instance the `built` fixture wrote, a breach
is induced (a limit below what the CRM load took): the `sla` job's check fails, the breach lands in
operacao.violacoes_sla with the step's own duration, dbt builds it into agg_sla_violacoes, the
exporter says mirante_sla_ok 0, check_failure_alerts posts it to a loopback webhook, and restoring
the limit resolves it.
"""

from __future__ import annotations

import fnmatch
import shutil
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
import yaml
from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_sensor_context,
    job,
    op,
)

from mirante import config
from mirante.orchestration import alerts, sla
from mirante.orchestration.definitions import defs
from mirante.orchestration.defs import operacao
from mirante.orchestration.resources import Alerts

from .helpers import dbt_cli
from .test_alerts import Receiver, Ticks, receiver  # noqa: F401  (the loopback webhook fixture)

SP = ZoneInfo("America/Sao_Paulo")


# ---------------------------------------------------------------------------------- configuration


def test_the_checked_in_slas_are_the_agreed_ones():
    limits = {s.processo: (s.tipo, s.limite_s) for s in sla.load()}
    assert limits == {
        "ingestao_crm": ("duracao", 30 * 60),
        "ingestao_erp": ("duracao", 3600),
        "ingestao_bcb": ("duracao", 30 * 60),
        "carga_arquivos_financeiros": ("duracao", 30 * 60),
        # a micro-batch of the payment stream: the event -> mart target is 2 minutes
        "ingestao_eventos_pagamento": ("duracao", 2 * 60),
        # the ledger's capture runs every 10 minutes: one run must fit in that
        "captura_razao": ("duracao", 10 * 60),
        "transformacao_dbt": ("duracao", 2 * 3600),
        "testes_qualidade": ("duracao", 15 * 60),
        "atualizacao_marts": ("atualizacao", 30 * 60),
        "coleta_esus": ("prazo", 9 * 3600),
        "publicacao_snis": ("publicacao", 30 * 86400),
    }
    assert next(s for s in sla.load() if s.processo == "coleta_esus").fuso == "America/Sao_Paulo"


def test_every_sla_is_a_check_on_a_real_asset_and_its_steps_exist():
    graph = defs.resolve_asset_graph()
    checks = {(tuple(k.asset_key.path), k.name) for k in graph.asset_check_keys}
    steps = {s for j in defs.resolve_all_job_defs() for s in j.graph.node_dict}
    for s in sla.load():
        assert graph.has(AssetKey(list(s.ativo))), s.processo
        assert (s.ativo, s.check_name) in checks
        for pattern in s.passos:
            assert fnmatch.filter(steps, pattern), f"{s.processo}: no step matches {pattern}"
    # the agreed ones: the CRM and ERP ops, dbt's, the Great Expectations suites
    ge = fnmatch.filter(steps, "*_ge_*")
    assert len(ge) >= 10 and all("_ge_" in step for step in ge)
    assert {s.agenda for s in sla.load() if s.agenda} <= {x.name for x in defs.schedules}
    # job `sla` runs the SLA checks only
    assert set(defs.resolve_job_def("sla").graph.node_dict) == {
        f"{'__'.join(s.ativo)}_{s.check_name}" for s in sla.load()
    }


def test_freshness_policies_are_applied_by_prefix_but_not_to_child_tables():
    graph = defs.resolve_asset_graph()
    esus = graph.get(AssetKey(["raw_esus", "tb_fat_atendimento_individual"])).freshness_policy
    assert (esus.deadline_cron, esus.timezone) == ("0 9 * * *", "America/Sao_Paulo")
    crm = graph.get(AssetKey(["raw_crm", "contacts"])).freshness_policy
    assert crm.fail_window.to_timedelta() == timedelta(hours=25)
    assert graph.get(AssetKey(["marts", "dim_municipio"])).freshness_policy is not None
    assert graph.get(AssetKey(["raw_crm", "contacts__phones"])).freshness_policy is None
    assert graph.get(AssetKey(["raw_snis", "agua_esgoto_agregado"])).freshness_policy is None


def test_durations_and_bad_configuration_are_refused(tmp_path):
    assert [sla.seconds(x) for x in ("90s", "30m", "2h", "30d", 5)] == [90, 1800, 7200, 2592000, 5]
    with pytest.raises(ValueError, match="expected a number and a unit"):
        sla.seconds("meia hora")
    bad = tmp_path / "slas.yml"
    bad.write_text("processos:\n  x: {tipo: rapido, limite: 1m, ativo: a/b}\n")
    with pytest.raises(ValueError, match="tipo 'rapido' is not one of"):
        sla.load(bad)
    bad.write_text("processos:\n  x: {tipo: duracao, limite: 1m, ativo: a/b}\n")
    with pytest.raises(ValueError, match="needs `passos`"):
        sla.load(bad)


# ------------------------------------------------------------------------------- each kind, judged

DELAY = {"s": 0.0}


@op
def lenta():
    time.sleep(DELAY["s"])


@op
def rapida(_x=None):
    return 1


@job
def sondagem():
    rapida(lenta())


def _sla(**kw) -> sla.Sla:
    base = {"processo": "sondagem", "tipo": "duracao", "descricao": "", "ativo": ("a",), "limite_s": 60.0}
    return sla.Sla(**{**base, **kw})


JOBS = {"sondagem": ("lenta", "rapida")}


def test_a_duration_sla_judges_the_latest_run_of_its_steps():
    with DagsterInstance.ephemeral() as instance:
        (never,) = sla.evaluate(instance, [_sla(passos=("lenta",))], jobs=JOBS)
        assert (never.ok, never.observado_s) == (True, None)

        DELAY["s"] = 1.2
        first = sondagem.execute_in_process(instance=instance).run_id
        slow, fast = sla.evaluate(
            instance, [_sla(passos=("lenta",), limite_s=0.5), _sla(passos=("len*",), limite_s=30)], jobs=JOBS
        )
        step = next(s for s in instance.get_run_step_stats(first) if s.step_key == "lenta")
        assert slow.observado_s == pytest.approx(step.end_time - step.start_time)
        assert slow.observado_s >= 1.2
        assert (slow.ok, slow.referencia, fast.ok) == (False, first, True)
        assert slow.excesso_s == pytest.approx(slow.observado_s - 0.5)
        assert "SLA violado" in sla.describe(slow, _sla(passos=("lenta",), limite_s=0.5))

        DELAY["s"] = 0.0
        second = sondagem.execute_in_process(instance=instance).run_id
        (again,) = sla.evaluate(instance, [_sla(passos=("lenta",), limite_s=0.5)], jobs=JOBS)
        assert (again.ok, again.referencia) == (True, second)  # the latest run is the one judged


def _scheduled_run(instance, status: DagsterRunStatus) -> str:
    result = sondagem.execute_in_process(
        instance=instance, tags={"dagster/schedule_name": "agenda_sondagem"}, raise_on_error=False
    )
    if status != DagsterRunStatus.SUCCESS:
        instance.report_run_failed(instance.get_run_by_id(result.run_id))
    return result.run_id


def test_a_deadline_sla_judges_the_days_scheduled_run():
    DELAY["s"] = 0.0
    deadline = _sla(tipo="prazo", agenda="agenda_sondagem", limite_s=9 * 3600)
    with DagsterInstance.ephemeral() as instance:
        (nothing,) = sla.evaluate(instance, [deadline], jobs=JOBS)
        assert nothing.ok and nothing.observado_s is None  # a schedule that never ran misses nothing

        run_id = _scheduled_run(instance, DagsterRunStatus.SUCCESS)
        record = instance.get_run_records()[0]
        assert record.dagster_run.run_id == run_id
        end = datetime.fromtimestamp(record.end_time, UTC).astimezone(SP)
        after_midnight = (end - end.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
        late_evening = end.replace(hour=23, minute=59, second=0, microsecond=0)

        # the day's run ended a minute within / past the deadline
        on_time, late = sla.evaluate(
            instance,
            [
                _sla(tipo="prazo", agenda="agenda_sondagem", limite_s=after_midnight + 60),
                _sla(tipo="prazo", agenda="agenda_sondagem", limite_s=after_midnight - 60),
            ],
            now=late_evening,
            jobs=JOBS,
        )
        assert on_time.ok and not late.ok
        assert on_time.observado_s == pytest.approx(after_midnight, abs=1)
        assert late.referencia == end.date().isoformat() and late.fim is not None

        # the next day at 10:00, no scheduled run: missed (observed: 10 h, still counting)
        next_day = (end + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
        (missed,) = sla.evaluate(instance, [deadline], now=next_day, jobs=JOBS)
        assert not missed.ok and missed.fim is None
        assert missed.observado_s == pytest.approx(10 * 3600)
        assert "não iniciada" in missed.detalhe
        # at 08:00 it is still the previous day's deadline that is judged
        (earlier,) = sla.evaluate(instance, [deadline], now=next_day.replace(hour=8), jobs=JOBS)
        assert earlier.referencia == end.date().isoformat()


def test_the_sensor_asks_for_checks_only_when_a_state_changes():
    import json

    estados = [sla.Estado("a", True, 10, 1, "r1"), sla.Estado("b", False, 10, 20, "r2")]
    assert sla.changed(None, estados) == ["b"]  # a breach; a process within its SLA was judged in its job
    cursor = json.dumps(sla.sensor_state(estados))
    assert sla.changed(cursor, estados) == []
    ended = [estados[0], sla.Estado("b", False, 10, 25, "r2", fim=datetime.now(UTC))]
    assert sla.changed(cursor, ended) == ["b"]  # the breached process ended: final figures
    assert sla.changed(cursor, [sla.Estado("a", True, 10, 1, "r3"), estados[1]]) == []  # a new run, within
    assert sla.changed(cursor, [estados[0], sla.Estado("b", True, 10, 2, "r4")]) == ["b"]  # recovered
    assert sla.changed(cursor, [sla.Estado("a", False, 10, 11, "r1"), estados[1]]) == ["a"]  # breached


# --------------------------------------------------------------------- over the built graph


@pytest.fixture
def instance_home(built, built_dagster_home, tmp_path):
    home = tmp_path / "dagster"
    shutil.copytree(built_dagster_home, home)
    return home


@pytest.fixture
def breaches(built):
    """The breach table and the mart emptied again afterwards (other tests read the marts)."""
    yield built
    with psycopg.connect(built.url("loader")) as conn:
        conn.execute(f"delete from {config.OPERATIONS_SCHEMA}.{config.SLA_BREACH_TABLE}")
    _dbt_build("stg_operacao__violacoes_sla agg_sla_violacoes")


def _dbt_build(select: str) -> None:
    done = dbt_cli("build", "--select", select, target="sla")
    assert done.returncode == 0, done.stdout[-3000:]


def _run_sla_job(instance, processes: list[str]):
    from mirante.orchestration.resources import resources

    keys = [operacao.CHECK_KEYS[p] for p in processes]
    sla_job = defs.resolve_job_def("sla")
    return sla_job.get_subset(asset_check_selection=set(keys)).execute_in_process(
        instance=instance, resources=resources(), raise_on_error=False
    )


def _check_result(result, name: str):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def test_an_induced_breach_is_recorded_aggregated_exported_and_alerted(
    breaches,
    instance_home,
    tmp_path,
    monkeypatch,
    receiver,  # noqa: F811
):
    srv = breaches
    with DagsterInstance.from_config(str(instance_home)) as instance:
        # the CRM load of the built graph, read from the instance independently
        crm_runs = [
            r
            for r in instance.get_run_records()
            if any(s.step_key == "raw_crm" for s in instance.get_run_step_stats(r.dagster_run.run_id))
        ]
        crm_run = crm_runs[0].dagster_run.run_id
        (step,) = [s for s in instance.get_run_step_stats(crm_run) if s.step_key == "raw_crm"]
        took = step.end_time - step.start_time
        # the induced limit: half of what the load took
        limit = round(took / 2, 3)
        slas = yaml.safe_load((config.ROOT / "orchestration" / "slas.yml").read_text())
        slas["processos"]["ingestao_crm"]["limite"] = f"{limit}s"
        induced = tmp_path / "slas.yml"
        induced.write_text(yaml.safe_dump(slas, allow_unicode=True))

        tick = Ticks(
            alerts.check_failure_alerts, instance, alerts=Alerts(attempts=3, backoff_s=0.01, timeout_s=5)
        )
        tick()  # the alert sensor starts from now

        monkeypatch.setenv("MIRANTE_SLA_FILE", str(induced))
        result = _run_sla_job(instance, ["ingestao_crm", "atualizacao_marts"])
        crm = _check_result(result, "sla_ingestao_crm")
        assert not crm.passed and crm.severity.value == "ERROR"
        assert crm.description.startswith("ingestao_crm: SLA violado")
        assert _check_result(result, "sla_atualizacao_marts").passed

        with psycopg.connect(srv.url("transformer")) as conn:
            rows = conn.execute(
                "select processo, referencia, limite_segundos, observado_segundos, excesso_segundos, fim "
                "from operacao.violacoes_sla"
            ).fetchall()
            state = dict(conn.execute("select processo, ok from operacao.avaliacoes_sla").fetchall())
        assert len(rows) == 1
        processo, referencia, limite, observado, excesso, fim = rows[0]
        assert (processo, referencia, limite) == ("ingestao_crm", crm_run, limit)
        assert observado == pytest.approx(took) and excesso == pytest.approx(took - limit)
        assert fim is not None
        assert state["ingestao_crm"] is False and state["atualizacao_marts"] is True

        # evaluated again: the same breach, one row
        _run_sla_job(instance, ["ingestao_crm"])
        with psycopg.connect(srv.url("transformer")) as conn:
            assert conn.execute("select count(*) from operacao.violacoes_sla").fetchone()[0] == 1

        _dbt_build("stg_operacao__violacoes_sla agg_sla_violacoes")
        with psycopg.connect(srv.url("reader")) as conn:
            mart = conn.execute(
                "select processo, mes, violacoes, em_andamento, limite_segundos, excesso_total_segundos "
                "from marts.agg_sla_violacoes"
            ).fetchall()
        start = datetime.fromtimestamp(step.start_time, UTC).astimezone(SP).date().replace(day=1)
        assert len(mart) == 1
        assert mart[0][:5] == ("ingestao_crm", start, 1, 0, limit)
        assert mart[0][5] == pytest.approx(took - limit)

        # the exporter's series say the same
        from mirante.orchestration import metrics

        collector = metrics.collector_for(instance_home)
        families = {f.name: f for f in collector.collect()}
        ok = {s.labels["process"]: s.value for s in families["mirante_sla_ok"].samples}
        observed = {s.labels["process"]: s.value for s in families["mirante_sla_observed_seconds"].samples}
        assert ok["ingestao_crm"] == 0 and ok["transformacao_dbt"] == 1
        assert observed["ingestao_crm"] == pytest.approx(took)
        assert set(ok) == {s.processo for s in sla.load()}

        # alerted once, by the check-failure sensor
        tick()
        assert len(receiver.bodies) == 1
        assert "CHECK FAILED (ERROR)" in receiver.texts()[0]
        assert "sla_ingestao_crm: ingestao_crm: SLA violado" in receiver.texts()[0]

        # the limit restored: the check passes, the incident is resolved, the breach stays recorded
        monkeypatch.delenv("MIRANTE_SLA_FILE")
        assert _check_result(_run_sla_job(instance, ["ingestao_crm"]), "sla_ingestao_crm").passed
        tick()
        assert len(receiver.bodies) == 2 and receiver.texts()[1].startswith("RESOLVED")
        with psycopg.connect(srv.url("transformer")) as conn:
            assert conn.execute("select count(*) from operacao.violacoes_sla").fetchone()[0] == 1


def test_the_sla_sensor_runs_the_checks_whose_state_changed(built, instance_home, monkeypatch, tmp_path):
    from mirante.orchestration.resources import resources

    res = {k: v for k, v in resources().items() if k == "warehouse"}
    with DagsterInstance.from_config(str(instance_home)) as instance:

        def tick(cursor=None):
            ctx = build_sensor_context(instance=instance, cursor=cursor, resources=res)
            return operacao.sla_sensor(ctx), ctx.cursor

        first, cursor = tick()
        assert isinstance(first, SkipReason)  # the built graph is within every SLA
        again, cursor = tick(cursor)
        assert isinstance(again, SkipReason)

        slas = yaml.safe_load((config.ROOT / "orchestration" / "slas.yml").read_text())
        slas["processos"]["transformacao_dbt"]["limite"] = "1s"
        induced = tmp_path / "slas.yml"
        induced.write_text(yaml.safe_dump(slas, allow_unicode=True))
        monkeypatch.setenv("MIRANTE_SLA_FILE", str(induced))
        breached, cursor = tick(cursor)
        assert isinstance(breached, RunRequest)
        assert breached.asset_check_keys == [
            AssetCheckKey(AssetKey(["marts", "dim_municipio"]), "sla_transformacao_dbt")
        ]
        assert isinstance(tick(cursor)[0], SkipReason)  # the same breach: asked once
        monkeypatch.delenv("MIRANTE_SLA_FILE")
        recovered, _ = tick(cursor)
        assert recovered.asset_check_keys == breached.asset_check_keys
