"""Finance domain, live payment stream: Pix and card settlement events -> raw_eventos_pagamento
(exactly once, micro-batches; loaders/eventos_pagamento) -> dbt staging and whatever reads it.

Assets: one multi-asset `raw_eventos_pagamento` (not dlt: loaders/eventos_pagamento/__init__.py
says why) writing [raw_eventos_pagamento, eventos | quarentena | deslocamentos], group `financas`,
pool `eventos_pagamento` (one ingester at a time; the loader's lock says the same across
instances). Job `financas_eventos`: the raw asset and everything downstream of it in dbt, by rule
(a mart added later on the stream's staging joins it). Sensor `eventos_pagamento_sensor`: every
minute at most, one run when the stream has published past the stored offset and no run of the
job is in progress; run_key = the offset range it saw, so a tick never asks twice for the same range.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    DefaultSensorStatus,
    Definitions,
    MaterializeResult,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    multi_asset,
    sensor,
)

from mirante.loaders.eventos_pagamento import DATASET, DOMAIN, PIPELINE_NAME
from mirante.orchestration import lineage
from mirante.orchestration.resources import LoaderSettings, Warehouse

from .common import rebuild_downstream

RAW_KEYS = {t: AssetKey([DATASET, t]) for t in ("eventos", "quarentena", "deslocamentos")}
_DESCRIPTIONS = {
    "eventos": "Payment events (Pix received/sent, card settlements), one per stream offset, exactly once",
    "quarentena": "Malformed events of the stream, with the reason (their offsets are consumed)",
    "deslocamentos": "The stored offset of the stream, committed with the events it covers",
}
#: run tag: the offset range the sensor saw (first..last published)
RANGE_TAG = "mirante/eventos_pagamento"


@multi_asset(
    name="raw_eventos_pagamento",
    specs=[
        AssetSpec(key, group_name=DOMAIN, kinds={"postgres"}, description=_DESCRIPTIONS[t])
        for t, key in RAW_KEYS.items()
    ],
    pool=PIPELINE_NAME,
)
def raw_eventos_pagamento(
    context: AssetExecutionContext, warehouse: Warehouse, eventos_pagamento: LoaderSettings
):
    """Micro-batches from the stored offset until the stream is caught up (at most max_lotes)."""
    from mirante.loaders.eventos_pagamento import ingest

    srv, settings = warehouse.server(), eventos_pagamento.read()
    # OpenLineage START (input: the stream's endpoint), then COMPLETE with the rows written, or FAIL
    run = lineage.direct_load_start(
        context, DATASET, [f"{settings.base_url}/v1/eventos"] if settings.base_url else []
    )
    try:
        result = ingest(srv, settings, on_wait=context.log.warning, log=context.log.info)
    except Exception as exc:
        lineage.direct_load_end(run, exc, srv, DATASET)
        raise
    rows = {
        "eventos": result.eventos,
        "quarentena": result.quarentena,
        "deslocamentos": 1 if result.lotes else 0,
    }
    lineage.direct_load_end(run, result, srv, DATASET, rows)
    meta = {
        "deslocamento_inicial": result.desde,
        "deslocamento_final": result.ate,
        "lotes": len(result.lotes),
        "eventos": result.eventos,
        "quarentena": result.quarentena,
        "pendentes_na_fonte": result.atraso if result.atraso is not None else -1,
    }
    for table, key in RAW_KEYS.items():
        extra = {"rows_loaded": result.eventos} if table == "eventos" else {}
        if table == "quarentena":
            extra = {"rows_loaded": result.quarentena}
        yield MaterializeResult(asset_key=key, metadata={**meta, **extra})


financas_eventos_job = define_asset_job(
    "financas_eventos",
    selection=rebuild_downstream(raw_eventos_pagamento),
    description="Ingest the payment event stream and rebuild everything downstream of it.",
)


def stored_offset(warehouse: Warehouse) -> int:
    """The offset raw_eventos_pagamento holds (0 before the first batch), read as the transformer."""
    import psycopg

    from mirante.loaders.eventos_pagamento.raw import stored_offset as read

    with psycopg.connect(warehouse.url("transformer"), connect_timeout=10) as conn:
        return read(conn)


def _busy(instance) -> bool:
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    runs = instance.get_runs(
        filters=RunsFilter(job_name=financas_eventos_job.name, statuses=IN_PROGRESS_RUN_STATUSES), limit=1
    )
    return bool(runs)


@sensor(
    job=financas_eventos_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every minute: one micro-batch run when the payment event stream has published past the "
    "offset raw_eventos_pagamento holds and no run of financas_eventos is in progress.",
)
def eventos_pagamento_sensor(
    context: SensorEvaluationContext, warehouse: Warehouse, eventos_pagamento: LoaderSettings
):
    """Reads the stored offset, then asks the stream for one event after it (its header says the
    latest offset published). Unreachable database or stream: skip, the next tick tries again."""
    from mirante.loaders.eventos_pagamento import client

    settings = eventos_pagamento.read()
    if not settings.base_url:
        return SkipReason("no payment event stream configured (MIRANTE_EVENTOS_PAGAMENTO_BASE_URL)")
    if _busy(context.instance):
        return SkipReason("a financas_eventos run is in progress: it reads up to the latest offset")
    try:
        stored = stored_offset(warehouse)
    except Exception as exc:
        return SkipReason(f"cannot read the stored offset ({type(exc).__name__})")
    try:
        latest = client.latest(settings, stored)
    except Exception as exc:
        return SkipReason(f"the payment event stream did not answer ({type(exc).__name__})")
    if latest <= stored:
        return SkipReason(f"caught up at offset {stored}")
    span = f"{stored + 1}-{latest}"
    return RunRequest(run_key=f"eventos_pagamento:{span}", tags={RANGE_TAG: span})


defs = Definitions(
    assets=[raw_eventos_pagamento],
    jobs=[financas_eventos_job],
    sensors=[eventos_pagamento_sensor],
)
