"""Sanitation domain: SNIS exports and IBGE Localidades -> raw_* -> dbt marts.

Assets: one per dlt resource (keys = dbt source keys), checks on the raw SNIS table (Great
Expectations, blocking; footer reconciliation), a job per source, a daily schedule and a sensor
that loads a new or changed SNIS export as soon as it lands in MIRANTE_SNIS_DIR.
"""


import json

import dlt
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Config,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    asset_check,
    define_asset_job,
    sensor,
)
from dagster_dlt import DagsterDltResource, dlt_assets
from pydantic import Field

from mirante import config, db
from mirante.loaders.ibge import ibge_source
from mirante.loaders.ibge.settings import BASE_URL as IBGE_LIVE_URL
from mirante.loaders.ibge.settings import PENDING_PACKAGES as IBGE_PENDING
from mirante.loaders.snis import DATASET as SNIS_DATASET
from mirante.loaders.snis import LOADER_FILE_FORMAT, list_exports, snis_source
from mirante.loaders.snis.settings import PENDING_PACKAGES as SNIS_PENDING
from mirante.pipelines import make_pipeline, settle_pending

from .common import RawTranslator, ge_suite_check

SNIS_OP = "raw_snis_exports"
IBGE_OP = "raw_ibge_localidades"
SNIS_TABLE = AssetKey([SNIS_DATASET, "agua_esgoto_agregado"])


def _pipeline(name: str, dataset: str, pending: str) -> dlt.Pipeline:
    # built lazily: no credentials or server at import time; a killed run's packages settled first
    return settle_pending(make_pipeline(name, dataset), pending)


class SnisLoadConfig(Config):
    files: list[str] = Field(default_factory=list,
                             description="export file names in MIRANTE_SNIS_DIR; empty = every *.csv")


@dlt_assets(
    dlt_source=snis_source(directory="."),
    dlt_pipeline=dlt.pipeline(pipeline_name="snis", dataset_name=SNIS_DATASET, destination="postgres"),
    name=SNIS_OP,
    dagster_dlt_translator=RawTranslator(),
)
def raw_snis_exports(context: AssetExecutionContext, dlt: DagsterDltResource, config: SnisLoadConfig):
    """Parse SNIS exports (every file, or the ones in config) and merge them into raw_snis."""
    from mirante.config import snis_dir

    source = snis_source(directory=str(snis_dir()), files=config.files or None)
    yield from dlt.run(context=context, dlt_source=source,
                       dlt_pipeline=_pipeline("snis", SNIS_DATASET, SNIS_PENDING), loader_file_format=LOADER_FILE_FORMAT)


@dlt_assets(
    dlt_source=ibge_source(),
    dlt_pipeline=dlt.pipeline(pipeline_name="ibge", dataset_name="raw_ibge", destination="postgres"),
    name=IBGE_OP,
    dagster_dlt_translator=RawTranslator(),
)
def raw_ibge_localidades(context: AssetExecutionContext, dlt: DagsterDltResource):
    """IBGE Localidades (regions, UFs, municipalities) over HTTP: live API or MIRANTE_IBGE_BASE_URL."""
    source = ibge_source(base_url=config.ibge_base_url() or IBGE_LIVE_URL)
    yield from dlt.run(context=context, dlt_source=source, dlt_pipeline=_pipeline("ibge", "raw_ibge", IBGE_PENDING))


@asset_check(asset=SNIS_TABLE, name="reconciliacao_rodape", blocking=False,
             description="Sum of every numeric column over each file's loaded rows equals the file's "
                         "own 'TOTAL da AMOSTRA' footer (raw_snis.reconciliacao).")
def snis_footer_reconciliation() -> AssetCheckResult:
    import psycopg

    with psycopg.connect(db.server().url("transformer")) as conn:
        rows = conn.execute(
            """select arquivo, count(*) filter (where status = 'ok'), count(*),
                      max(linhas_carregadas), max(linhas_quarentena)
               from raw_snis.reconciliacao group by arquivo order by arquivo""").fetchall()
    per_file = {f: {"columns_ok": ok, "columns": n, "rows": r, "quarantined": q} for f, ok, n, r, q in rows}
    diverging = [f for f, v in per_file.items() if v["columns_ok"] != v["columns"]]
    return AssetCheckResult(
        passed=bool(rows) and not diverging,
        # a cut of an export keeps the national footer: a warning to look at, not a stop
        severity=AssetCheckSeverity.WARN,
        metadata={"files": json.dumps(per_file), "diverging_files": ", ".join(diverging) or "none"},
    )


ge_raw_snis = ge_suite_check("raw_snis.agua_esgoto_agregado", SNIS_TABLE.path, "transformer", blocking=True)

snis_job = define_asset_job(
    "saneamento_snis",
    selection=AssetSelection.assets(raw_snis_exports).downstream(),
    description="Load SNIS exports and rebuild everything downstream of them.",
)
saneamento_job = define_asset_job(
    "saneamento",
    selection=(AssetSelection.assets(raw_snis_exports, raw_ibge_localidades).downstream()),
    description="The whole sanitation graph: SNIS and IBGE sources to the marts.",
)


@sensor(job=snis_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Launches a load of each new or changed SNIS export in MIRANTE_SNIS_DIR.")
def snis_new_export_sensor(context: SensorEvaluationContext):
    seen = json.loads(context.cursor) if context.cursor else {}
    current = {p.name: f"{p.stat().st_mtime_ns}:{p.stat().st_size}" for p in list_exports(config.snis_dir())}
    changed = sorted(name for name, stamp in current.items() if seen.get(name) != stamp)
    context.update_cursor(json.dumps(current))
    if not changed:
        return SkipReason(f"no new or changed export in {config.snis_dir()}")
    return [
        RunRequest(
            run_key=f"{name}:{current[name]}",
            run_config={"ops": {SNIS_OP: {"config": {"files": [name]}}}},
            tags={"snis_file": name},
        )
        for name in changed
    ]


defs = Definitions(
    assets=[raw_snis_exports, raw_ibge_localidades],
    asset_checks=[snis_footer_reconciliation, ge_raw_snis],
    jobs=[snis_job, saneamento_job],
    sensors=[snis_new_export_sensor],
)
