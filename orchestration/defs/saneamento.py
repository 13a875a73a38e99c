"""Sanitation domain: SNIS exports and IBGE Localidades -> raw_* -> dbt marts.

Assets: one per dlt resource (keys = dbt source keys; op pools `dlt_snis`, `dlt_ibge`: one run
of a pipeline at a time), checks on the raw SNIS table (Great Expectations, blocking; footer
reconciliation), a job per source and a sensor that asks, in one run per tick, for a load of
every export in MIRANTE_SNIS_DIR whose content raw_snis does not hold yet.
"""

import contextlib
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

from .common import RawTranslator, dlt_pool

SNIS_OP = "raw_snis_exports"
IBGE_OP = "raw_ibge_localidades"
SNIS_TABLE = AssetKey([SNIS_DATASET, "agua_esgoto_agregado"])


def _pipeline(name: str, dataset: str, pending: str) -> dlt.Pipeline:
    # built lazily: no credentials or server at import time; a killed run's packages settled first
    return settle_pending(make_pipeline(name, dataset), pending)


class SnisLoadConfig(Config):
    files: list[str] = Field(
        default_factory=list, description="export file names in MIRANTE_SNIS_DIR; empty = every *.csv"
    )


@dlt_assets(
    dlt_source=snis_source(directory="."),
    dlt_pipeline=dlt.pipeline(pipeline_name="snis", dataset_name=SNIS_DATASET, destination="postgres"),
    name=SNIS_OP,
    dagster_dlt_translator=RawTranslator(),
    pool=dlt_pool("snis"),
)
def raw_snis_exports(context: AssetExecutionContext, dlt: DagsterDltResource, config: SnisLoadConfig):
    """Parse SNIS exports (every file, or the ones in config) and merge them into raw_snis."""
    from mirante.config import snis_dir

    source = snis_source(directory=str(snis_dir()), files=config.files or None)
    yield from dlt.run(
        context=context,
        dlt_source=source,
        dlt_pipeline=_pipeline("snis", SNIS_DATASET, SNIS_PENDING),
        loader_file_format=LOADER_FILE_FORMAT,
    )


@dlt_assets(
    dlt_source=ibge_source(),
    dlt_pipeline=dlt.pipeline(pipeline_name="ibge", dataset_name="raw_ibge", destination="postgres"),
    name=IBGE_OP,
    dagster_dlt_translator=RawTranslator(),
    pool=dlt_pool("ibge"),
)
def raw_ibge_localidades(context: AssetExecutionContext, dlt: DagsterDltResource):
    """IBGE Localidades (regions, UFs, municipalities) over HTTP: live API or MIRANTE_IBGE_BASE_URL."""
    source = ibge_source(base_url=config.ibge_base_url() or IBGE_LIVE_URL)
    yield from dlt.run(
        context=context, dlt_source=source, dlt_pipeline=_pipeline("ibge", "raw_ibge", IBGE_PENDING)
    )


@asset_check(
    asset=SNIS_TABLE,
    name="reconciliacao_rodape",
    blocking=False,
    description="Sum of every numeric column over each file's loaded rows equals the file's "
    "own 'TOTAL da AMOSTRA' footer (raw_snis.reconciliacao).",
)
def snis_footer_reconciliation() -> AssetCheckResult:
    import psycopg

    with psycopg.connect(db.server().url("transformer")) as conn:
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
    selection=AssetSelection.assets(raw_snis_exports).downstream(),
    description="Load SNIS exports and rebuild everything downstream of them.",
)
saneamento_job = define_asset_job(
    "saneamento",
    selection=(AssetSelection.assets(raw_snis_exports, raw_ibge_localidades).downstream()),
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


def loaded_snis_hashes() -> set[str]:
    """sha256 of every export raw_snis already holds (raw_snis.arquivos; empty before the first load)."""
    import psycopg

    with psycopg.connect(db.server().url("transformer"), connect_timeout=10) as conn:
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
def snis_new_export_sensor(context: SensorEvaluationContext):
    """Compares each export's sha256 with raw_snis.arquivos, not with a cursor: a sensor started on
    a database that already holds the files (after `make run`) asks for nothing. The cursor only
    keeps each file's (mtime, size) -> sha256, so an unchanged file is not hashed again."""
    cached = json.loads(context.cursor) if context.cursor else {}
    files: dict[str, tuple[str, str]] = {}
    for p in list_exports(config.snis_dir()):
        stat = p.stat()
        stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
        previous = cached.get(p.name)
        sha = previous[1] if previous and previous[0] == stamp else file_sha256(p)
        files[p.name] = (stamp, sha)
    try:
        loaded = loaded_snis_hashes()
    except Exception as exc:  # the database is down: try again next tick, cursor unchanged
        return SkipReason(f"cannot read raw_snis.arquivos ({type(exc).__name__}); nothing requested")
    busy = _in_flight_hashes(context.instance)
    context.update_cursor(json.dumps({name: list(v) for name, v in files.items()}))
    new = {name: sha for name, (_, sha) in sorted(files.items()) if sha not in loaded and sha not in busy}
    if not new:
        return SkipReason(f"every export in {config.snis_dir()} is loaded or being loaded")
    import hashlib

    key = hashlib.sha256(json.dumps(new, sort_keys=True).encode()).hexdigest()[:32]
    # one run with every new file: one dlt run and one dbt rebuild, however many files landed
    return RunRequest(
        run_key=f"snis:{key}",  # a failed load is not retried every tick: change the file or rerun it
        run_config={"ops": {SNIS_OP: {"config": {"files": list(new)}}}},
        tags={FILES_TAG: json.dumps(new, sort_keys=True)},
    )


defs = Definitions(
    assets=[raw_snis_exports, raw_ibge_localidades],
    asset_checks=[snis_footer_reconciliation],
    jobs=[snis_job, saneamento_job],
    sensors=[snis_new_export_sensor],
)
