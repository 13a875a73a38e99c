"""Sanitation domain: SNIS exports and IBGE Localidades -> raw_* -> dbt marts.

Assets: the SNIS and IBGE loaders, one `loader_assets` call each (factory.py: one asset per dlt
resource, keys = dbt source keys, pools `dlt_snis`, `dlt_ibge`), checks on the raw SNIS table (Great Expectations, blocking; footer
reconciliation), a job per source, a watched-folder sensor (pastas.py) that asks, in one run per tick, for a load of
every export in MIRANTE_SNIS_DIR whose content raw_snis does not hold yet, and the publication
poller's sensor that fills that folder from MIRANTE_SNIS_PUBLICACAO_URL when one is configured
(loaders/snis/publicacao.py).
"""

import json

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    Config,
    DefaultSensorStatus,
    Definitions,
    SensorEvaluationContext,
    SkipReason,
    asset_check,
    define_asset_job,
    sensor,
)
from pydantic import Field

from mirante.loaders import ibge, snis
from mirante.loaders.snis import list_exports
from mirante.orchestration.resources import LoaderSettings, Warehouse

from .common import rebuild_downstream
from .factory import Sources, loader_assets
from .pastas import WatchedFolder, watched_folder_sensor


class SnisLoadConfig(Config):
    files: list[str] = Field(
        default_factory=list, description="export file names in MIRANTE_SNIS_DIR; empty = every *.csv"
    )


#: the domain's sources, one `loader_assets` call each
SOURCES = Sources(loader_assets(snis.LOADER, options=SnisLoadConfig), loader_assets(ibge.LOADER))
snis_assets = SOURCES[snis.PIPELINE_NAME]
SNIS_OP = snis_assets.op_name
SNIS_TABLE = AssetKey([snis.DATASET, "agua_esgoto_agregado"])


@asset_check(
    asset=SNIS_TABLE,
    name="reconciliacao_rodape",
    blocking=False,
    description="Sum of every numeric column over each file's loaded rows equals the file's "
    "own 'TOTAL da AMOSTRA' footer (raw_snis.reconciliacao).",
)
def snis_footer_reconciliation(warehouse: Warehouse) -> AssetCheckResult:
    import psycopg

    with psycopg.connect(warehouse.url("transformer")) as conn:
        rows = conn.execute(
            """select arquivo, count(*) filter (where status = 'ok'), count(*),
                      max(linhas_carregadas), max(linhas_quarentena)
               from raw_snis.reconciliacao group by arquivo order by arquivo"""
        ).fetchall()
    per_file = {f: {"columns_ok": ok, "columns": n, "rows": r, "quarantined": q} for f, ok, n, r, q in rows}
    diverging = [f for f, v in per_file.items() if v["columns_ok"] != v["columns"]]
    return AssetCheckResult(
        passed=bool(rows) and not diverging,
        # a cut of an export keeps the national footer: a warning to look at, not a stop
        severity=AssetCheckSeverity.WARN,
        metadata={"files": json.dumps(per_file), "diverging_files": ", ".join(diverging) or "none"},
    )


snis_job = define_asset_job(
    "saneamento_snis",
    selection=rebuild_downstream(snis_assets.assets),
    description="Load SNIS exports and rebuild everything downstream of them.",
)
saneamento_job = define_asset_job(
    "saneamento",
    selection=SOURCES.downstream(),
    description="The whole sanitation graph: SNIS and IBGE sources to the marts.",
)


#: run tag of a SNIS load: {file name: sha256} of the exports it loads (the sensor reads the
#: tags of runs in progress so that it never asks twice for a file being loaded)
FILES_TAG = "mirante/snis_arquivos"

snis_new_export_sensor = watched_folder_sensor(
    WatchedFolder(
        sensor_name="snis_new_export_sensor",
        job=snis_job,
        op_name=SNIS_OP,
        settings_resource="snis",
        list_files=list_exports,
        registry_table="raw_snis.arquivos",
        files_tag=FILES_TAG,
        description="One load per tick of every export in MIRANTE_SNIS_DIR whose content (sha256) "
        "raw_snis does not hold yet and no run in progress is loading.",
    )
)


@sensor(
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Polls the SNIS publication (MIRANTE_SNIS_PUBLICACAO_URL; nothing when unset): new or "
    "changed exports are archived in the raw zone and made current in the loader's folder, where "
    "snis_new_export_sensor asks for their load.",
)
def snis_publication_sensor(context: SensorEvaluationContext, snis: LoaderSettings):
    """Launches nothing itself: the poller fills the folder the SNIS loader reads and the folder's
    sensor loads what raw_snis lacks, so published and hand-copied exports take one load path. A
    refused token fails the tick (permanent: the message names the URL, never the token); an
    unavailable publication (after the poller's retries) is skipped until the next tick."""
    from mirante.loaders.snis.publicacao import PublicationUnavailable, poll

    settings = snis.read()
    if settings.publication is None:
        return SkipReason(
            "no SNIS publication configured (MIRANTE_SNIS_PUBLICACAO_URL): exports come by hand"
        )
    try:
        fetched = poll(settings.publication, on_event=context.log.info)
    except PublicationUnavailable as exc:
        return SkipReason(str(exc))
    changed = [f.nome for f in fetched if f.estado != "inalterado"]
    if not changed:
        return SkipReason(f"the {len(fetched)} published exports are current in {settings.directory}")
    return SkipReason(
        f"made current in {settings.directory}: {', '.join(changed)} (snis_new_export_sensor loads them)"
    )


defs = Definitions(
    assets=SOURCES.definitions,
    asset_checks=[snis_footer_reconciliation],
    jobs=[snis_job, saneamento_job],
    sensors=[snis_new_export_sensor, snis_publication_sensor],
)
