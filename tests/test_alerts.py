"""Operator alerts (orchestration/alerts.py) against a real HTTP receiver on 127.0.0.1: real runs of
a tiny job in an ephemeral Dagster instance fail and succeed; the sensors post one message per
incident, none for a retry, a RESOLVED one when the same job and partition succeeds again, and keep
an alert the webhook did not take for the next tick."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    BackfillPolicy,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    Failure,
    MaterializeResult,
    SkipReason,
    StaticPartitionsDefinition,
    asset,
    build_sensor_context,
    define_asset_job,
    job,
    materialize,
    op,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mirante.orchestration import alerts
from mirante.orchestration.resources import Alerts, Warehouse

SECRET = "s3cr3t-pec-password"


class Receiver(ThreadingHTTPServer):
    """Records the JSON bodies it accepts; answers `fail_with` to the next `failures` requests."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[dict] = []
        self.requests = 0
        self.failures = 0
        self.fail_with = 500

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/T000/B000/abcdef"

    def texts(self) -> list[str]:
        return [b["text"] for b in self.bodies]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests += 1
        if self.server.failures > 0:
            self.server.failures -= 1
            self.send_response(self.server.fail_with)
            self.end_headers()
            self.wfile.write(b"no_service")
            return
        self.server.bodies.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(monkeypatch):
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MIRANTE_ALERT_WEBHOOK_URL", server.url)
    monkeypatch.setenv("MIRANTE_ESUS_PASSWORD", SECRET)  # a configured secret: alerts must mask it
    yield server
    server.shutdown()
    server.server_close()


#: partitions whose next run fails (the tiny job below)
FAILING: set[str] = set()


@op
def pull_one(context):
    if context.partition_key in FAILING:
        raise RuntimeError(
            f"connection to server at postgresql://pec:{SECRET}@pec.internal.example:5432/esus failed"
        )


@job(partitions_def=StaticPartitionsDefinition(["a", "b"]))
def tiny():
    pull_one()


def run(instance, partition: str, fail: bool) -> bool:
    FAILING.clear()
    if fail:
        FAILING.add(partition)
    return tiny.execute_in_process(instance=instance, partition_key=partition, raise_on_error=False).success


class Ticks:
    """Successive evaluations of one sensor, the cursor carried from each to the next."""

    def __init__(self, sensor, instance, **resources):
        self.sensor, self.instance, self.cursor = sensor, instance, None
        self.context_args: dict = {}
        self.resources = {"alerts": Alerts(attempts=3, backoff_s=0.01, timeout_s=5), **resources}

    def __call__(self):
        context = build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources=self.resources, **self.context_args
        )
        result = self.sensor(context)
        self.cursor = context.cursor
        return result


def test_one_message_per_incident_none_per_retry_and_resolved_on_success(receiver):
    with DagsterInstance.ephemeral() as instance:
        tick = Ticks(alerts.run_failure_alerts, instance)
        assert run(instance, "a", fail=True) is False  # before the sensor starts: not replayed
        tick()
        assert receiver.bodies == []

        assert run(instance, "a", fail=True) is False
        tick()
        assert len(receiver.bodies) == 1
        body = receiver.bodies[0]
        assert body["text"].startswith("FAILED: job tiny, partition a: step pull_one: RuntimeError")
        assert body["mirante"]["incidents"] == [
            {
                "status": "failed",
                "partition": "a",
                "error": "step pull_one: RuntimeError",
                "summary": "connection to server at <url> failed",
            }
        ]
        assert SECRET not in json.dumps(body) and "pec.internal" not in json.dumps(body)

        # the same incident: a retry, then a re-execution, both failing again
        run(instance, "a", fail=True)
        run(instance, "a", fail=True)
        tick()
        assert len(receiver.bodies) == 1

        # another partition is another incident
        run(instance, "b", fail=True)
        tick()
        assert len(receiver.bodies) == 2 and "partition b" in receiver.texts()[1]

        assert run(instance, "a", fail=False)
        tick()
        assert len(receiver.bodies) == 3
        assert receiver.texts()[2].startswith("RESOLVED: job tiny, partition a: run ")
        assert receiver.bodies[2]["mirante"]["incidents"][0]["status"] == "resolved"

        # a success of a partition with no open incident says nothing; a new failure of `a` is a
        # new incident
        run(instance, "a", fail=False)
        tick()
        assert len(receiver.bodies) == 3
        run(instance, "a", fail=True)
        tick()
        assert len(receiver.bodies) == 4 and receiver.texts()[3].startswith("FAILED: job tiny, partition a")


def test_webhook_5xx_is_retried_with_backoff(receiver):
    receiver.failures = 2  # 500, 500, then 200
    with DagsterInstance.ephemeral() as instance:
        tick = Ticks(alerts.run_failure_alerts, instance)
        tick()
        run(instance, "a", fail=True)
        tick()
    assert receiver.requests == 3
    assert len(receiver.bodies) == 1


def test_an_alert_the_webhook_did_not_take_is_kept_for_the_next_tick(receiver):
    with DagsterInstance.ephemeral() as instance:
        tick = Ticks(alerts.run_failure_alerts, instance)
        tick()
        run(instance, "a", fail=True)
        receiver.failures = 3  # every attempt of this tick
        result = tick()
        assert isinstance(result, SkipReason) and "retried next tick" in result.skip_message
        assert receiver.bodies == [] and receiver.requests == 3

        # a 4xx is not retried (one request) and the alert stays pending too
        receiver.failures, receiver.fail_with = 1, 404
        tick()
        assert receiver.requests == 4 and receiver.bodies == []

        run(instance, "b", fail=True)  # a later incident waits behind the first
        tick()
        assert [b["mirante"]["incidents"][0]["partition"] for b in receiver.bodies] == ["a", "b"]
        tick()
        assert len(receiver.bodies) == 2


def test_no_webhook_no_work(receiver, monkeypatch):
    monkeypatch.delenv("MIRANTE_ALERT_WEBHOOK_URL")
    with DagsterInstance.ephemeral() as instance:
        run(instance, "a", fail=True)
        for sensor in (alerts.run_failure_alerts, alerts.check_failure_alerts):
            tick = Ticks(sensor, instance)
            result = tick()
            assert isinstance(result, SkipReason) and "MIRANTE_ALERT_WEBHOOK_URL" in result.skip_message
            assert tick.cursor is None
        tick = Ticks(alerts.esus_lateness_digest, instance, warehouse=_NoWarehouse())
        assert "MIRANTE_ALERT_WEBHOOK_URL" in tick().skip_message
    assert receiver.requests == 0


#: the result of the ERROR check of the asset below, and of its WARN one
CHECK = {"error_ok": True, "warn_ok": True}


@asset(check_specs=[AssetCheckSpec("reconcilia", asset="tabela"), AssetCheckSpec("volume", asset="tabela")])
def tabela():
    yield MaterializeResult()
    yield AssetCheckResult(
        check_name="reconcilia",
        passed=CHECK["error_ok"],
        severity=AssetCheckSeverity.ERROR,
        metadata={"divergentes": 0 if CHECK["error_ok"] else 2, "lista": "" if CHECK["error_ok"] else "a, b"},
    )
    yield AssetCheckResult(check_name="volume", passed=CHECK["warn_ok"], severity=AssetCheckSeverity.WARN)


def check_run(instance, error_ok: bool, warn_ok: bool = True) -> None:
    CHECK.update(error_ok=error_ok, warn_ok=warn_ok)
    materialize([tabela], instance=instance)


def test_error_checks_alert_once_and_resolve(receiver):
    with DagsterInstance.ephemeral() as instance:
        tick = Ticks(alerts.check_failure_alerts, instance)
        tick()
        check_run(instance, error_ok=True, warn_ok=False)  # a failing WARN check is no alert
        tick()
        assert receiver.bodies == []

        check_run(instance, error_ok=False)
        tick()
        assert receiver.texts() == [
            "CHECK FAILED (ERROR): job __ephemeral_asset_job__, run "
            f"{receiver.bodies[0]['mirante']['run_id'][:8]}:\n- tabela reconcilia: divergentes=2, lista=a, b"
        ]
        check_run(instance, error_ok=False)  # still failing: the same incident
        tick()
        assert len(receiver.bodies) == 1

        check_run(instance, error_ok=True)
        tick()
        assert len(receiver.bodies) == 2
        assert receiver.texts()[1].startswith("RESOLVED: job __ephemeral_asset_job__, run ")
        assert "- tabela reconcilia (failing since " in receiver.texts()[1]


# --------------------------------------------------------------------------------------------
# the lateness digest


def stats(**late: int | None) -> dict[str, dict]:
    today = date(2026, 12, 3)
    out = {}
    for ident, days in late.items():
        last = date.fromordinal(today.toordinal() - days) if days is not None else None
        out[ident.lstrip("m")] = {"ultimo_dia": last, "dias_de_atraso": days}
    return out


def test_the_digest_lists_every_municipality_at_d2_or_worse_in_one_message():
    names = {"1": "Alfa/SP", "2": "Beta/MG", "3": "Gama/BA", "4": "Delta/RS"}
    text, fields = alerts.lateness_digest(stats(m1=1, m2=2, m3=None, m4=9), date(2026, 12, 3), names)
    assert text == (
        "e-SUS lateness 2026-12-03: 3 of 4 municipalities at D-2 or worse\n"
        "- 3 Gama/BA: no records\n"
        "- 4 Delta/RS: last day 2026-11-24 (D-9)\n"
        "- 2 Beta/MG: last day 2026-12-01 (D-2)"
    )
    assert [m["id_municipio"] for m in fields["late"]] == ["3", "4", "2"]
    assert alerts.lateness_digest(stats(m1=0, m2=1), date(2026, 12, 3), names) is None


class _NoWarehouse(Warehouse):
    def server(self):
        return None


def _digest_world(monkeypatch, hour: int) -> tuple[list[str], str, date]:
    """Every enabled municipality of the registry at D-1 but the first (D-4); the clock at `hour`."""
    from mirante.loaders.esus import registry

    enabled = [m.id_municipio for m in registry.load(enabled_only=True)]
    late = enabled[0]
    monkeypatch.setattr(
        alerts,
        "lateness_and_volume",
        lambda srv, ids, day: {i: stats(**{f"m{i}": 4 if i == late else 1})[i] for i in ids},
    )
    today = alerts.now().date()
    monkeypatch.setattr(
        alerts, "now", lambda: datetime(today.year, today.month, today.day, hour, 0, tzinfo=alerts.TIMEZONE)
    )
    return enabled, late, today


def test_the_digest_is_sent_once_a_day_after_the_pull(receiver, monkeypatch):
    from dagster._core.test_utils import create_run_for_test

    enabled, late, today = _digest_world(monkeypatch, hour=6)
    with DagsterInstance.ephemeral() as instance:
        tick = Ticks(alerts.esus_lateness_digest, instance, warehouse=_NoWarehouse())
        assert "waiting for today's e-SUS pull" in tick().skip_message
        create_run_for_test(instance, job_name="esus_pull", status=DagsterRunStatus.FAILURE)
        tick()
        tick()  # once a day
    assert len(receiver.bodies) == 1
    lines = receiver.texts()[0].splitlines()
    assert lines[0] == f"e-SUS lateness {today}: 1 of {len(enabled)} municipalities at D-2 or worse"
    assert lines[1].startswith(f"- {late} ") and lines[1].endswith("(D-4)") and len(lines) == 2


def test_the_digest_goes_out_at_the_deadline_without_a_pull(receiver, monkeypatch):
    _, late, _ = _digest_world(monkeypatch, hour=alerts.DIGEST_DEADLINE_HOUR)
    with DagsterInstance.ephemeral() as instance:
        Ticks(alerts.esus_lateness_digest, instance, warehouse=_NoWarehouse())()
    assert len(receiver.bodies) == 1 and receiver.bodies[0]["mirante"]["late"][0]["id_municipio"] == late


#: municipalities whose pull fails in the next run of the range job below
FAILING_IN_RANGE: set[str] = set()
MUNICIPIOS = StaticPartitionsDefinition(["m1", "m2", "m3"])


@asset(partitions_def=MUNICIPIOS, backfill_policy=BackfillPolicy.single_run())
def pec(context):
    """Shaped like raw_esus_pec: one run over a range; the municipalities that fail are named by a
    Failure whose `codigos` give each one's kind/code (the others loaded)."""
    failed = sorted(set(context.partition_keys) & FAILING_IN_RANGE)
    if failed:
        raise Failure(
            description=f"{len(failed)} of {len(context.partition_keys)} municipalities failed (the others "
            f"loaded): {failed[0]}: permanente/autenticacao: password authentication failed at 10.0.0.7",
            metadata={
                "falharam": ", ".join(failed),
                "codigos": {i: "permanente/autenticacao" for i in failed},
            },
        )


pec_job = define_asset_job("pec_pull", selection=[pec])
PEC_DEFS = Definitions(assets=[pec], jobs=[pec_job])


def pec_run(instance, failing: set[str], partition: str | None = None) -> None:
    FAILING_IN_RANGE.clear()
    FAILING_IN_RANGE.update(failing)
    tags = {} if partition else {ASSET_PARTITION_RANGE_START_TAG: "m1", ASSET_PARTITION_RANGE_END_TAG: "m3"}
    PEC_DEFS.resolve_job_def("pec_pull").execute_in_process(
        instance=instance, partition_key=partition, tags=tags, raise_on_error=False
    )


def test_a_range_run_opens_one_incident_per_failing_partition_and_resolves_the_loaded_ones(receiver):
    with DagsterInstance.ephemeral() as instance:
        tick = Ticks(alerts.run_failure_alerts, instance)
        tick.context_args = {"definitions": PEC_DEFS}
        tick()
        pec_run(instance, {"m1"}, partition="m1")  # a partition's rerun fails
        tick()
        pec_run(instance, {"m2", "m3"})  # the daily run: m1 loads now, m2 and m3 fail
        tick()
        assert len(receiver.bodies) == 2
        text = receiver.texts()[1]
        assert text.splitlines()[:3] == [
            "FAILED: job pec_pull, 2 partitions:",
            "- m2: permanente/autenticacao",
            "- m3: permanente/autenticacao",
        ]
        assert "summary: 2 of 3 municipalities failed (the others loaded)\n" in text
        assert "10.0.0.7" not in json.dumps(receiver.bodies[1])
        assert "RESOLVED: job pec_pull, partition m1: run " in text

        pec_run(instance, {"m2"})  # next day: m2 still fails (no message), m3 loaded
        tick()
        assert len(receiver.bodies) == 3 and receiver.texts()[2].startswith(
            "RESOLVED: job pec_pull, partition m3: run "
        )
        pec_run(instance, set(), partition="m2")  # the operator reruns m2
        tick()
        assert len(receiver.bodies) == 4 and receiver.texts()[3].startswith(
            "RESOLVED: job pec_pull, partition m2: run "
        )
        assert [i["status"] for b in receiver.bodies for i in b["mirante"]["incidents"]] == [
            "failed",
            "failed",
            "failed",
            "resolved",
            "resolved",
            "resolved",
        ]
