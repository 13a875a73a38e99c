"""Primary care: ~650 municipal e-SUS APS PEC databases pulled into raw_esus, one partition each.

The raw PEC tables are one multi-asset partitioned by municipality (partitions = the registry
loaders/esus/municipios.toml). An operator reruns one failed municipality by materializing its
partition, or re-pulls a day range for it with the run config `desde` / `ate`.

The daily schedule launches ONE run over the range of every partition (backfill policy: single
run): it pulls the enabled municipalities MIRANTE_ESUS_CONCURRENCY (default 4) at a time and loads
them in batches, so 650 municipalities cost one Dagster run, not 650. Each municipality that
loaded is recorded as a materialization of its own partition; the ones that failed are not, and the
run fails naming them, so the operator reruns exactly those partitions. Runs launched per partition
(reruns, multi-run backfills) carry a tag that the instance limits to the same concurrency. Every
run checks lateness and volume of the municipalities it pulled, and the reconciliation of every
raw table with its sources (ERROR severity: rows or highest key differ; the next pull repairs it).
Each municipality's pull is one OpenLineage run (orchestration/lineage.py).
"""

from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    Config,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    MaterializeResult,
    RunRequest,
    ScheduleEvaluationContext,
    StaticPartitionsDefinition,
    define_asset_job,
    multi_asset,
    schedule,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    MAX_RUNTIME_SECONDS_TAG,
)
from pydantic import Field

from mirante import config
from mirante.loaders.esus import DATASET, DOMAIN, FACTS, TABLES, read_settings, registry
from mirante.loaders.esus.monitoring import MAIN_FACT, VOLUME_THRESHOLD, lateness_and_volume
from mirante.orchestration import lineage
from mirante.orchestration.instance import CONCURRENCY_TAG, ESUS_POOL
from mirante.orchestration.resources import Warehouse

municipios = StaticPartitionsDefinition([m.id_municipio for m in registry.load()])
RAW_KEYS = {t: AssetKey([DATASET, t]) for t in [*TABLES, "execucoes", "cursores"]}
_DESCRIPTIONS = {
    "execucoes": "Run log: one row per run, municipality and table, with the reconciliation against the source",
    "cursores": "Where the last incremental pull of each municipality and table left off (key, day, xmin horizon)",
}


class PullConfig(Config):
    desde: str | None = Field(None, description="re-pull facts from this day (YYYY-MM-DD); no cursor moves")
    ate: str | None = Field(None, description="re-pull facts up to this day (YYYY-MM-DD)")
    max_tentativas: int = Field(4, description="attempts on transient errors (backoff 1 s, 2 s, 4 s ...)")


@multi_asset(
    name="raw_esus_pec",
    specs=[
        AssetSpec(
            key,
            group_name=DOMAIN,
            kinds={"postgres"},
            skippable=True,
            description=_DESCRIPTIONS.get(t, f"PEC table {t} of every municipality (id_municipio added)"),
        )
        for t, key in RAW_KEYS.items()
    ],
    check_specs=[
        *(
            AssetCheckSpec(
                "reconciliacao_origem",
                asset=RAW_KEYS[t],
                description="Rows and highest key of each municipality equal its source's, read in the "
                "extraction's snapshot (ERROR; the next pull repairs the diverging key buckets)",
            )
            for t in TABLES
        ),
        AssetCheckSpec(
            "atraso",
            asset=RAW_KEYS[MAIN_FACT],
            description="Latest day with any PEC record of the municipality is D-1 (D-2 or older: late)",
        ),
        AssetCheckSpec(
            "volume",
            asset=RAW_KEYS[MAIN_FACT],
            description=f"Care records of the latest day within ±{VOLUME_THRESHOLD:.0%} (or 3 sigma "
            "for small counts) of the mean of the 7 days with records before",
        ),
    ],
    partitions_def=municipios,
    backfill_policy=BackfillPolicy.single_run(),
    pool=ESUS_POOL,
)
def raw_esus_pec(context: AssetExecutionContext, config: PullConfig, warehouse: Warehouse):
    """Pull the run's municipalities (incremental, or the `desde`/`ate` day range)."""
    from mirante.loaders.esus.pull import pull, pull_many

    by_id = {m.id_municipio: m for m in registry.load()}
    keys = list(context.partition_keys)
    srv = warehouse.server()
    concurrency = read_settings().concurrency
    options = dict(
        desde=_date(config.desde),
        ate=_date(config.ate),
        max_attempts=config.max_tentativas,
        run_id=context.run_id,
    )
    if len(keys) == 1:
        municipio = by_id[keys[0]]
        if not municipio.habilitado:
            raise RuntimeError(f"{municipio.nome} ({municipio.id_municipio}) is disabled in the registry")
        runs = lineage.esus_pull_start(context, [municipio], TABLES)
        try:
            result = pull(municipio, srv, raise_on_error=True, **options)
        except Exception as exc:
            lineage.esus_pull_end(runs, exc, srv, DATASET, TABLES)
            raise
        lineage.esus_pull_end(runs, {result.id_municipio: result}, srv, DATASET, TABLES)
        for key, meta in _metadata(result).items():
            yield MaterializeResult(asset_key=key, metadata=meta)
        yield from reconciliation_checks({result.id_municipio: result})
        yield from municipality_checks(srv, keys)
        return

    enabled = [by_id[k] for k in keys if by_id[k].habilitado]
    skipped = len(keys) - len(enabled)
    context.log.info(
        f"pulling {len(enabled)} municipalities ({skipped} disabled skipped), {concurrency} at a time"
    )
    runs = lineage.esus_pull_start(context, enabled, TABLES)
    try:
        results = pull_many(
            enabled,
            srv,
            workers=concurrency,
            **options,
            progress=lambda done, total: context.log.info(f"{done}/{total} municipalities pulled"),
        )
    except Exception as exc:
        lineage.esus_pull_end(runs, exc, srv, DATASET, TABLES)
        raise
    lineage.esus_pull_end(runs, results, srv, DATASET, TABLES)
    failed = sorted(i for i, r in results.items() if r.status != "sucesso")
    if not failed and not skipped:
        # every partition of the range loaded: one materialization per asset covers them all
        for key in RAW_KEYS.values():
            yield MaterializeResult(asset_key=key, metadata={"municipios": len(results)})
    else:
        for ident, result in results.items():
            if result.status == "sucesso":
                for key, meta in _metadata(result).items():
                    context.log_event(AssetMaterialization(asset_key=key, partition=ident, metadata=meta))
    yield from reconciliation_checks(results)
    yield from municipality_checks(srv, [m.id_municipio for m in enabled])
    if failed:
        raise Failure(
            description=f"{len(failed)} of {len(enabled)} municipalities failed (the others loaded): "
            + "; ".join(
                f"{i}: {results[i].error_kind}/{results[i].error_code} after "
                f"{results[i].attempts} attempt(s): {results[i].error}"
                for i in failed[:20]
            )
            + ". Rerun their partitions once the sources are back.",
            metadata={
                "falharam": ", ".join(failed),
                # kind/code per municipality: what alerts publish (orchestration/alerts.py)
                "codigos": {i: f"{results[i].error_kind}/{results[i].error_code}" for i in failed},
            },
        )


def _metadata(result) -> dict[AssetKey, dict]:
    out = {}
    for table, key in RAW_KEYS.items():
        meta = {"id_municipio": result.id_municipio, "tentativas": result.attempts}
        if table in result.rows:
            meta["rows_loaded"] = result.rows[table]
            meta["linhas_lidas"] = result.read.get(table, 0)
        if result.reconciliation.get(table):
            meta["reconciliacao"] = result.reconciliation[table]
        if table in FACTS:
            before, after = result.cursors[table]
            meta.update(
                cursor_antes=before if before is not None else -1,
                cursor_depois=after if after is not None else -1,
            )
        out[key] = meta
    return out


def reconciliation_checks(results: dict):
    """`reconciliacao_origem` of every raw table over the municipalities of a run: passes when each
    one that loaded incrementally has, in raw_esus, the rows and highest key its source had in the
    extraction's snapshot; the metadata names the ones that diverge (their next pull repairs them)."""
    loaded = {i: r for i, r in results.items() if r.status == "sucesso"}
    for table in TABLES:
        verdicts = {i: r.reconciliation.get(table) for i, r in loaded.items()}
        checked = {i: v for i, v in verdicts.items() if v is not None}
        diverging = sorted(i for i, v in checked.items() if v == "divergente")
        yield AssetCheckResult(
            asset_key=RAW_KEYS[table],
            check_name="reconciliacao_origem",
            passed=not diverging,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "municipios_verificados": len(checked),
                "divergentes": len(diverging),
                "lista": ", ".join(diverging[:50]),
                "nao_verificados": len(verdicts) - len(checked),
            },
        )


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def municipality_checks(srv, ids: list[str], today: date | None = None):
    """The `atraso` and `volume` checks over the municipalities of a run: each passes when every
    municipality passes; the metadata names the ones that did not."""
    stats = lateness_and_volume(srv, ids, today)  # loaders/esus/monitoring.py
    late = [i for i, s in stats.items() if s["dias_de_atraso"] is None or s["dias_de_atraso"] > 1]
    anomalous = [i for i, s in stats.items() if not s["volume_ok"]]
    if len(ids) == 1:
        s = stats[ids[0]]
        atraso_meta = {
            "id_municipio": ids[0],
            "ultimo_dia": str(s["ultimo_dia"]),
            "dias_de_atraso": s["dias_de_atraso"] if s["dias_de_atraso"] is not None else -1,
        }
        volume_meta = {
            "id_municipio": ids[0],
            "registros_ultimo_dia": s["registros_ultimo_dia"],
            "media_7_dias": round(s["media_7_dias"] or 0, 1),
            "variacao": round(s["variacao"] or 0, 3),
        }
    else:
        atraso_meta = {"municipios": len(ids), "atrasados": len(late), "lista": ", ".join(late[:50])}
        volume_meta = {
            "municipios": len(ids),
            "anomalias": len(anomalous),
            "lista": ", ".join(anomalous[:50]),
        }
    yield AssetCheckResult(
        asset_key=RAW_KEYS[MAIN_FACT],
        check_name="atraso",
        passed=not late,
        severity=AssetCheckSeverity.WARN,
        metadata=atraso_meta,
    )
    yield AssetCheckResult(
        asset_key=RAW_KEYS[MAIN_FACT],
        check_name="volume",
        passed=not anomalous,
        severity=AssetCheckSeverity.WARN,
        metadata=volume_meta,
    )


esus_pull_job = define_asset_job(
    "esus_pull",
    selection=AssetSelection.assets(raw_esus_pec),
    partitions_def=municipios,
    # a hung pull must not hold the pool and delay the rebuild chained to it forever: run
    # monitoring (orchestration/instance.py) stops it after MIRANTE_ESUS_MAX_RUNTIME_SECONDS
    # every run of the job (the daily one, a partition's rerun, a backfill) counts against the
    # instance's limit on e-SUS runs (orchestration/instance.py)
    tags={MAX_RUNTIME_SECONDS_TAG: str(read_settings().max_runtime_s), CONCURRENCY_TAG: "pull"},
    description="Pull PEC databases: one partition (a rerun) or a range of them in one run (the daily pull).",
)


def all_partitions_tags() -> dict[str, str]:
    """Run tags of one run over every partition (disabled municipalities are skipped by the asset)."""
    keys = municipios.get_partition_keys()
    return {
        ASSET_PARTITION_RANGE_START_TAG: keys[0],
        ASSET_PARTITION_RANGE_END_TAG: keys[-1],
        CONCURRENCY_TAG: "pull",
    }


@schedule(
    job=esus_pull_job,
    cron_schedule="0 5 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    execution_timezone="America/Sao_Paulo",
    description="Every enabled municipality in one run, MIRANTE_ESUS_CONCURRENCY at a time.",
)
def esus_daily(context: ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date().isoformat()
    return RunRequest(run_key=f"esus:{day}", tags=all_partitions_tags())


defs = Definitions(
    assets=[raw_esus_pec],
    jobs=[esus_pull_job],
    # with MIRANTE_EXECUTOR=celery the daily pull, of the same name, runs in batches over the
    # workers (defs/esus_lotes.py)
    schedules=[] if config.executor() == "celery" else [esus_daily],
)
