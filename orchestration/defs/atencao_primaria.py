"""Primary care: ~650 municipal e-SUS APS PEC databases pulled into raw_esus, one partition each.

The raw PEC tables are one multi-asset partitioned by municipality (partitions = the registry
loaders/esus/municipios.toml). An operator reruns one failed municipality by materializing its
partition, or re-pulls a day range for it with the run config `desde` / `ate`. The daily schedule
launches one run per enabled municipality, tagged so that at most MIRANTE_ESUS_CONCURRENCY
(default 4) run at once (the tag limit is written to the Dagster instance by `mirante ui`). Each
run checks its municipality's lateness and volume.
"""

from datetime import date, timedelta

import psycopg
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    Config,
    Definitions,
    MaterializeResult,
    RunRequest,
    ScheduleEvaluationContext,
    StaticPartitionsDefinition,
    define_asset_job,
    multi_asset,
    schedule,
)
from pydantic import Field

from mirante import db
from mirante.loaders.esus import registry
from mirante.loaders.esus.settings import DATASET, FACTS, TABLES

from .common import ge_suite_check

#: run tag whose concurrency the instance limits (see mirante.orchestration.instance)
CONCURRENCY_TAG = "mirante/esus"
#: a day's volume this far from the mean of the 7 days before is an anomaly
VOLUME_THRESHOLD = 0.5
MAIN_FACT = "tb_fat_atendimento_individual"

municipios = StaticPartitionsDefinition([m.id_municipio for m in registry.load()])
RAW_KEYS = {t: AssetKey([DATASET, t]) for t in [*TABLES, "execucoes"]}


class PullConfig(Config):
    desde: str | None = Field(None, description="re-pull facts from this day (YYYY-MM-DD); no cursor moves")
    ate: str | None = Field(None, description="re-pull facts up to this day (YYYY-MM-DD)")
    max_tentativas: int = Field(4, description="attempts on transient errors (backoff 1 s, 2 s, 4 s ...)")


@multi_asset(
    name="raw_esus_pec",
    specs=[AssetSpec(key, group_name=DATASET, kinds={"postgres", "dlt"},
                     description=("Run log: one row per municipality, table and run" if t == "execucoes"
                                  else f"PEC table {t} of every municipality (id_municipio added)"))
           for t, key in RAW_KEYS.items()],
    check_specs=[
        AssetCheckSpec("atraso", asset=RAW_KEYS[MAIN_FACT],
                       description="Latest day with any PEC record of the municipality is D-1 (D-2 or older: late)"),
        AssetCheckSpec("volume", asset=RAW_KEYS[MAIN_FACT],
                       description=f"Care records of the latest day within ±{VOLUME_THRESHOLD:.0%} (or 3 sigma "
                                   "for small counts) of the mean of the 7 days with records before"),
    ],
    partitions_def=municipios,
    pool="esus",
)
def raw_esus_pec(context: AssetExecutionContext, config: PullConfig):
    """Pull the partition's municipality (incremental, or the `desde`/`ate` day range)."""
    from mirante.loaders.esus.pull import pull

    by_id = {m.id_municipio: m for m in registry.load()}
    municipio = by_id[context.partition_key]
    if not municipio.habilitado:
        raise RuntimeError(f"{municipio.nome} ({municipio.id_municipio}) is disabled in the registry")
    srv = db.server()
    result = pull(municipio, srv, desde=_date(config.desde), ate=_date(config.ate),
                  max_attempts=config.max_tentativas, run_id=context.run_id, raise_on_error=True)
    for table, key in RAW_KEYS.items():
        meta = {"id_municipio": municipio.id_municipio, "tentativas": result.attempts}
        if table in result.rows:
            meta["rows_loaded"] = result.rows[table]
        if table in FACTS:
            before, after = result.cursors[table]
            meta.update(cursor_antes=before if before is not None else -1,
                        cursor_depois=after if after is not None else -1)
        yield MaterializeResult(asset_key=key, metadata=meta)
    yield from municipality_checks(srv, municipio.id_municipio)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def municipality_checks(srv, id_municipio: str, today: date | None = None):
    """Lateness and volume of one municipality's care records, from raw_esus."""
    today = today or date.today()
    dated = [t for t, cols in FACTS.items() if "co_dim_tempo" in cols]
    with psycopg.connect(srv.url("transformer")) as conn:
        latest = conn.execute(
            " union all ".join(f"select max(co_dim_tempo) from {DATASET}.{t} where id_municipio = %s"
                               for t in dated).join(["select max(m) from (", ") as u(m)"]),
            [id_municipio] * len(dated)).fetchone()[0]
        days = conn.execute(
            f"""select to_date(co_dim_tempo::text, 'YYYYMMDD') as dia, count(*)
                from {DATASET}.{MAIN_FACT} where id_municipio = %s
                group by 1 order by 1 desc limit 8""", (id_municipio,)).fetchall()
    latest = date(latest // 10000, latest // 100 % 100, latest % 100) if latest else None
    lag = (today - latest).days if latest else None
    yield AssetCheckResult(
        asset_key=RAW_KEYS[MAIN_FACT], check_name="atraso", passed=lag is not None and lag <= 1,
        severity=AssetCheckSeverity.WARN,
        metadata={"id_municipio": id_municipio, "ultimo_dia": str(latest), "dias_de_atraso": lag if lag is not None else -1})
    previous = [n for _, n in days[1:]]
    mean = sum(previous) / len(previous) if previous else None
    change = (days[0][1] - mean) / mean if mean else None
    # small municipalities count a handful of records a day: allow the Poisson noise (3 sigma)
    tolerance = max(VOLUME_THRESHOLD * mean, 3 * mean ** 0.5) if mean else 0
    yield AssetCheckResult(
        asset_key=RAW_KEYS[MAIN_FACT], check_name="volume",
        passed=mean is not None and abs(days[0][1] - mean) <= tolerance, severity=AssetCheckSeverity.WARN,
        metadata={"id_municipio": id_municipio, "registros_ultimo_dia": days[0][1] if days else 0,
                  "media_7_dias": round(mean or 0, 1), "variacao": round(change or 0, 3)})


esus_pull_job = define_asset_job(
    "esus_pull", selection=AssetSelection.assets(raw_esus_pec), partitions_def=municipios,
    description="Pull one municipality's PEC database (one run per partition).")


@schedule(job=esus_pull_job, cron_schedule="0 5 * * *", execution_timezone="America/Sao_Paulo",
          description="Every enabled municipality, one run each; concurrency limited by the run tag.")
def esus_daily(context: ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date().isoformat()
    for m in registry.load(enabled_only=True):
        yield RunRequest(run_key=f"{m.id_municipio}:{day}", partition_key=m.id_municipio,
                         tags={CONCURRENCY_TAG: "pull"})


defs = Definitions(
    assets=[raw_esus_pec],
    asset_checks=[ge_suite_check(f"{DATASET}.{t}", [DATASET, t], "transformer", blocking=False)
                  for t in (MAIN_FACT, "tb_fat_vacinacao_vacina")],
    jobs=[esus_pull_job],
    schedules=[esus_daily],
)
