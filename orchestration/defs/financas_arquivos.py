"""Finance domain, history files: bank statements (CSV) and past invoices (JSON) in a watched
folder -> raw_arquivos_financeiros -> dbt staging (loaders/arquivos_financeiros).

A domain module of its own (group `financas`) beside the Banco Central loader's: one
`loader_assets` call (factory.py: one asset per dlt resource, keys = dbt source keys, pool
`dlt_arquivos_financeiros`), job `financas_arquivos` (the files to everything downstream of them)
and `arquivos_financeiros_sensor`, which watches MIRANTE_ARQUIVOS_FINANCEIROS_DIR like the SNIS
folder's sensor (saneamento.py): one run per tick with every file whose sha256 is neither in
raw_arquivos_financeiros.arquivos nor in a run in progress.
"""

import contextlib
import hashlib
import json

from dagster import (
    Config,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)
from pydantic import Field

from mirante.loaders import arquivos_financeiros
from mirante.loaders.arquivos_financeiros import list_files
from mirante.orchestration.resources import LoaderSettings, Warehouse

from .common import rebuild_downstream
from .factory import Sources, loader_assets
from .saneamento import file_sha256


class ArquivosFinanceirosLoadConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="file names in MIRANTE_ARQUIVOS_FINANCEIROS_DIR; empty = every *.csv and *.json",
    )


SOURCES = Sources(loader_assets(arquivos_financeiros.LOADER, options=ArquivosFinanceirosLoadConfig))
arquivos_assets = SOURCES[arquivos_financeiros.PIPELINE_NAME]
ARQUIVOS_OP = arquivos_assets.op_name

financas_arquivos_job = define_asset_job(
    "financas_arquivos",
    selection=rebuild_downstream(arquivos_assets.assets),
    description="Load the finance history files (bank statements, past invoices) and rebuild what "
    "reads them.",
)

#: run tag: {file name: sha256} of the files a run loads (runs in progress are not asked twice)
FILES_TAG = "mirante/arquivos_financeiros"


def loaded_hashes(warehouse: Warehouse) -> set[str]:
    """sha256 of every file raw_arquivos_financeiros holds (empty before the first load)."""
    import psycopg

    with psycopg.connect(warehouse.url("transformer"), connect_timeout=10) as conn:
        if not conn.execute("select to_regclass('raw_arquivos_financeiros.arquivos')").fetchone()[0]:
            return set()
        return {sha for (sha,) in conn.execute("select sha256 from raw_arquivos_financeiros.arquivos")}


def _in_flight_hashes(instance) -> set[str]:
    from dagster import RunsFilter
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    out: set[str] = set()
    runs = instance.get_runs(
        filters=RunsFilter(job_name=financas_arquivos_job.name, statuses=IN_PROGRESS_RUN_STATUSES)
    )
    for run in runs:
        with contextlib.suppress(ValueError, AttributeError):
            out.update(json.loads(run.tags.get(FILES_TAG, "{}")).values())
    return out


@sensor(
    job=financas_arquivos_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="One load per tick of every statement or invoice file in MIRANTE_ARQUIVOS_FINANCEIROS_DIR "
    "whose content (sha256) raw_arquivos_financeiros does not hold yet and no run in progress is loading.",
)
def arquivos_financeiros_sensor(
    context: SensorEvaluationContext, warehouse: Warehouse, arquivos_financeiros: LoaderSettings
):
    """Compares each file's sha256 with raw_arquivos_financeiros.arquivos: a sensor started on a
    loaded database asks for nothing. The cursor keeps each file's (mtime, size) -> sha256 so an
    unchanged file is not hashed again."""
    cached = json.loads(context.cursor) if context.cursor else {}
    folder = arquivos_financeiros.read().directory
    files: dict[str, tuple[str, str]] = {}
    for p in list_files(folder):
        stat = p.stat()
        stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
        previous = cached.get(p.name)
        files[p.name] = (stamp, previous[1] if previous and previous[0] == stamp else file_sha256(p))
    try:
        loaded = loaded_hashes(warehouse)
    except Exception as exc:  # the database is down: try again next tick, cursor unchanged
        return SkipReason(f"cannot read raw_arquivos_financeiros.arquivos ({type(exc).__name__})")
    busy = _in_flight_hashes(context.instance)
    context.update_cursor(json.dumps({name: list(v) for name, v in files.items()}))
    new = {name: sha for name, (_, sha) in sorted(files.items()) if sha not in loaded and sha not in busy}
    if not new:
        return SkipReason(f"every file in {folder} is loaded or being loaded")
    key = hashlib.sha256(json.dumps(new, sort_keys=True).encode()).hexdigest()[:32]
    return RunRequest(
        run_key=f"arquivos_financeiros:{key}",  # a failed load is not retried every tick
        run_config={"ops": {ARQUIVOS_OP: {"config": {"files": list(new)}}}},
        tags={FILES_TAG: json.dumps(new, sort_keys=True)},
    )


defs = Definitions(
    assets=SOURCES.definitions,
    jobs=[financas_arquivos_job],
    sensors=[arquivos_financeiros_sensor],
)
