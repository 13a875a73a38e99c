"""Finance domain, history files: bank statements (CSV) and past invoices (JSON) in a watched
folder -> raw_arquivos_financeiros -> dbt staging (loaders/arquivos_financeiros).

A domain module of its own (group `financas`) beside the Banco Central loader's: one
`loader_assets` call (factory.py: one asset per dlt resource, keys = dbt source keys, pool
`dlt_arquivos_financeiros`), job `financas_arquivos` (the files to everything downstream of them)
and `arquivos_financeiros_sensor`, which watches MIRANTE_ARQUIVOS_FINANCEIROS_DIR with the rule of
every watched folder (pastas.py): one run per tick with every file whose sha256 is neither in
raw_arquivos_financeiros.arquivos nor in a run in progress.
"""

from dagster import (
    Config,
    Definitions,
    define_asset_job,
)
from pydantic import Field

from mirante.loaders import arquivos_financeiros
from mirante.loaders.arquivos_financeiros import list_files

from .common import rebuild_downstream
from .factory import Sources, loader_assets
from .pastas import WatchedFolder, watched_folder_sensor


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

arquivos_financeiros_sensor = watched_folder_sensor(
    WatchedFolder(
        sensor_name="arquivos_financeiros_sensor",
        job=financas_arquivos_job,
        op_name=ARQUIVOS_OP,
        settings_resource="arquivos_financeiros",
        list_files=list_files,
        registry_table="raw_arquivos_financeiros.arquivos",
        files_tag=FILES_TAG,
        description="One load per tick of every statement or invoice file in "
        "MIRANTE_ARQUIVOS_FINANCEIROS_DIR whose content (sha256) raw_arquivos_financeiros does not "
        "hold yet and no run in progress is loading.",
    )
)


defs = Definitions(
    assets=SOURCES.definitions,
    jobs=[financas_arquivos_job],
    sensors=[arquivos_financeiros_sensor],
)
