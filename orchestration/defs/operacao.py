"""SLA checks in Dagster: one check per process of orchestration/slas.yml (orchestration/sla.py),
job `sla` that runs only them, and `sla_sensor`, which runs it when a process's SLA state changes.

The checks also run inside the jobs that materialize their asset, so a slow load is judged as it
ends; the sensor catches what no job end reveals: a run still going past its limit, a deadline
passed with no run, a published export never loaded. It launches a run only on a change (a new
breach, a recovery, another run or day to judge, a breached process that ended), never per tick.
"""

import json

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    asset_check,
    define_asset_job,
    sensor,
)

from mirante.orchestration import sla
from mirante.orchestration.resources import Warehouse


def sla_check(s: sla.Sla):
    """The check `sla_<processo>` on the process's asset (ERROR severity, non-blocking): evaluates
    the SLA now and records a breach."""

    @asset_check(
        asset=AssetKey(list(s.ativo)),
        name=s.check_name,
        blocking=False,
        description=f"SLA {s.processo}: {s.descricao} ({s.tipo}, limite {s.limite_texto()}; orchestration/slas.yml)",
    )
    def _check(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
        srv = warehouse.server()
        # limits are read again at each evaluation: an edited slas.yml applies from the next one
        current = next((x for x in sla.load() if x.processo == s.processo), s)
        (estado,) = sla.evaluate(context.instance, [current], server=srv)
        written = sla.record(srv, estado, current)
        return AssetCheckResult(
            passed=estado.ok,
            severity=AssetCheckSeverity.ERROR,
            description=sla.describe(estado, current),
            metadata={
                "processo": s.processo,
                "limite_segundos": current.limite_s,
                "observado_segundos": estado.observado_s if estado.observado_s is not None else float("nan"),
                "referencia": estado.referencia or "",
                "violacao_registrada": written,
            },
        )

    return _check


SLAS = sla.load()
CHECKS = [sla_check(s) for s in SLAS]
CHECK_KEYS = {s.processo: AssetCheckKey(AssetKey(list(s.ativo)), s.check_name) for s in SLAS}

sla_job = define_asset_job(
    "sla",
    selection=AssetSelection.checks(*CHECKS),
    description="Evaluates the SLAs of orchestration/slas.yml (checks sla_<processo>) and records breaches.",
)


@sensor(
    job=sla_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Runs the SLA checks whose state changed since the last tick (a breach, a recovery, "
    "another run to judge): a hung load or a missed deadline is alerted without waiting for a job to end.",
)
def sla_sensor(context: SensorEvaluationContext, warehouse: Warehouse):
    try:
        srv = warehouse.server()
    except Exception:  # the warehouse down is its own incident: judge what needs no database
        srv = None
    # the limits as configured now; the processes are the ones these definitions have checks for
    estados = sla.evaluate(context.instance, [s for s in sla.load() if s.processo in CHECK_KEYS], server=srv)
    changed = sla.changed(context.cursor, estados)
    cursor = json.dumps(sla.sensor_state(estados), sort_keys=True)
    if not changed:
        context.update_cursor(cursor)
        return SkipReason("no SLA state changed")
    context.update_cursor(cursor)
    return RunRequest(
        run_key=f"sla:{cursor}",
        asset_check_keys=[CHECK_KEYS[p] for p in changed],
        tags={"mirante/sla": ",".join(changed)},
    )


defs = Definitions(asset_checks=CHECKS, jobs=[sla_job], sensors=[sla_sensor])
