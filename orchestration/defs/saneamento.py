"""Sanitation domain: SNIS exports and IBGE Localidades -> raw_* -> dbt marts.

Assets: the SNIS and IBGE loaders, one `loader_assets` call each (factory.py: one asset per dlt
resource, keys = dbt source keys, pools `dlt_snis`, `dlt_ibge`), checks on the raw SNIS table (Great Expectations, blocking; footer
reconciliation), a job per source, a sensor that asks, in one run per tick, for a load of
every export in MIRANTE_SNIS_DIR whose content raw_snis does not hold yet, and the publication
poller's sensor that fills that folder from MIRANTE_SNIS_PUBLICACAO_URL when one is configured
(loaders/snis/publicacao.py).
"""

import contextlib
import json

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
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
from pydantic import Field

from mirante.loaders import ibge, snis
from mirante.loaders.snis import list_exports
from mirante.orchestration.resources import LoaderSettings, Warehouse

from .common import rebuild_downstream
from .factory import Sources, loader_assets


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


def file_sha256(path) -> str:
    """sha256 of a file's bytes (what the loader stores in raw_snis.arquivos.sha256), streamed."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def loaded_snis_hashes(warehouse: Warehouse) -> set[str]:
    """sha256 of every export raw_snis already holds (raw_snis.arquivos; empty before the first load)."""
    import psycopg

    with psycopg.connect(warehouse.url("transformer"), connect_timeout=10) as conn:
        if not conn.execute("select to_regclass('raw_snis.arquivos')").fetchone()[0]:
            return set()
        return {
            sha for (sha,) in conn.execute("select sha256 from raw_snis.arquivos where sha256 is not null")
        }


def _in_flight_hashes(instance) -> set[str]:
    from dagster import RunsFilter
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    out: set[str] = set()
    for run in instance.get_runs(
        filters=RunsFilter(job_name=snis_job.name, statuses=IN_PROGRESS_RUN_STATUSES)
    ):
        with contextlib.suppress(ValueError, AttributeError):
            out.update(json.loads(run.tags.get(FILES_TAG, "{}")).values())
    return out


@sensor(
    job=snis_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="One load per tick of every export in MIRANTE_SNIS_DIR whose content (sha256) raw_snis "
    "does not hold yet and no run in progress is loading.",
)
def snis_new_export_sensor(context: SensorEvaluationContext, warehouse: Warehouse, snis: LoaderSettings):
    """Compares each export's sha256 with raw_snis.arquivos, not with a cursor: a sensor started on
    a database that already holds the files (after `make run`) asks for nothing. The cursor only
    keeps each file's (mtime, size) -> sha256, so an unchanged file is not hashed again."""
    cached = json.loads(context.cursor) if context.cursor else {}
    folder = snis.read().directory
    files: dict[str, tuple[str, str]] = {}
    for p in list_exports(folder):
        stat = p.stat()
        stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
        previous = cached.get(p.name)
        sha = previous[1] if previous and previous[0] == stamp else file_sha256(p)
        files[p.name] = (stamp, sha)
    try:
        loaded = loaded_snis_hashes(warehouse)
    except Exception as exc:  # the database is down: try again next tick, cursor unchanged
        return SkipReason(f"cannot read raw_snis.arquivos ({type(exc).__name__}); nothing requested")
    busy = _in_flight_hashes(context.instance)
    context.update_cursor(json.dumps({name: list(v) for name, v in files.items()}))
    new = {name: sha for name, (_, sha) in sorted(files.items()) if sha not in loaded and sha not in busy}
    if not new:
        return SkipReason(f"every export in {folder} is loaded or being loaded")
    import hashlib

    key = hashlib.sha256(json.dumps(new, sort_keys=True).encode()).hexdigest()[:32]
    # one run with every new file: one dlt run and one dbt rebuild, however many files landed
    return RunRequest(
        run_key=f"snis:{key}",  # a failed load is not retried every tick: change the file or rerun it
        run_config={"ops": {SNIS_OP: {"config": {"files": list(new)}}}},
        tags={FILES_TAG: json.dumps(new, sort_keys=True)},
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
