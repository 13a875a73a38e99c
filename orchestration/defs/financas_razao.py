"""Finance domain, the company's ledger: its operational PostgreSQL captured by logical replication
(loaders/razao) -> raw_razao changelogs -> dbt staging (current state per key).

One multi-asset `raw_razao` (group `financas`): one asset per published table, keyed like the dbt
sources ([raw_razao, clientes], ...), all materialized by one op that drains the replication slot
(a micro-batch: it returns once it reached the source's WAL position of its start), in the pool
`razao` (one capture at a time; the capture also holds an advisory lock per slot). Each
capture is one OpenLineage run (job `raw_razao`: the source's tables in, the changelogs out). Each
materialization says what the slot still holds back (`wal_retido_bytes`; the exporter's
mirante_razao_wal_retido_bytes and the alert MiranteRazaoSlotRetemWal watch it between runs).

Job `financas_razao`: the capture and everything downstream of it; schedule `financas_razao_10min`
runs it every ten minutes, so the slot never holds more than a few minutes of the source's WAL.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    DefaultScheduleStatus,
    Definitions,
    MaterializeResult,
    ScheduleDefinition,
    define_asset_job,
    multi_asset,
)

from mirante.loaders import razao
from mirante.orchestration import lineage
from mirante.orchestration.resources import Warehouse

from .common import rebuild_downstream

RAW_KEYS = {t: AssetKey([razao.DATASET, t]) for t in razao.TABLES}
POOL = razao.PIPELINE_NAME


@multi_asset(
    name=razao.DATASET,
    specs=[
        AssetSpec(
            key,
            group_name=razao.DOMAIN,
            kinds={"postgres"},
            skippable=True,
            description=f"Changelog of the ledger's table {t} (every snapshot row, insert, update and "
            "delete, with its LSN, in commit order), captured from the replication slot",
        )
        for t, key in RAW_KEYS.items()
    ],
    can_subset=False,
    pool=POOL,
    description="Drain the ledger's replication slot into raw_razao (loaders/razao, docs/cdc.md).",
)
def raw_razao(context: AssetExecutionContext, warehouse: Warehouse):
    srv = warehouse.server()
    settings = razao.read_settings(srv)
    # OpenLineage START, then COMPLETE with the rows appended to each changelog, or FAIL
    base = f"postgresql://{settings.host}:{settings.port}/{settings.database}"
    run = lineage.direct_load_start(context, razao.DATASET, (f"{base}/public.{t}" for t in razao.TABLES))
    try:
        result = razao.capture(settings, srv)
    except Exception as exc:
        lineage.direct_load_end(run, exc, srv, razao.DATASET)
        raise
    rows = {t: result.rows.get(t, 0) for t in razao.TABLES}
    lineage.direct_load_end(run, result, srv, razao.DATASET, rows, settings.target_database)
    for event in result.events:
        context.log.warning(f"razao capture: {event}")
    context.log.info(
        f"{result.transactions} transactions, {sum(result.rows.values())} rows "
        f"({'snapshot' if result.snapshot else 'stream'}), {result.skipped} already in raw skipped; "
        f"slot at {result.lsn_confirmado}, {result.retained_wal_bytes} bytes of WAL retained"
    )
    for table, key in RAW_KEYS.items():
        yield MaterializeResult(
            asset_key=key,
            metadata={
                "rows_loaded": result.rows.get(table, 0),
                "transacoes": result.transactions,
                "snapshot": result.snapshot,
                "lsn_confirmado": result.lsn_confirmado or "",
                "wal_retido_bytes": result.retained_wal_bytes
                if result.retained_wal_bytes is not None
                else -1,
            },
        )


financas_razao_job = define_asset_job(
    "financas_razao",
    selection=rebuild_downstream(raw_razao),
    description="Capture the ledger's changes (logical replication) and rebuild what reads them.",
)

financas_razao_10min = ScheduleDefinition(
    name="financas_razao_10min",
    job=financas_razao_job,
    cron_schedule="*/10 * * * *",
    execution_timezone="America/Sao_Paulo",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every ten minutes: drain the ledger's replication slot into raw_razao and staging.",
)

defs = Definitions(assets=[raw_razao], jobs=[financas_razao_job], schedules=[financas_razao_10min])
