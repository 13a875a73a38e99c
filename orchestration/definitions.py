"""The one Definitions of Mirante: every domain module merged, resources bound in one place.

`dagster dev -m mirante.orchestration.definitions` shows it; `mirante run` executes it.
"""

from dagster import AssetSelection, Definitions, ScheduleDefinition, define_asset_job, in_process_executor

from mirante.orchestration.defs import atencao_primaria, comercial, saneamento, transform
from mirante.orchestration.resources import resources

#: the main job: every asset of every domain but the per-municipality PEC pulls, which run as one
#: partition each (job `esus_pull`) before it
all_assets = define_asset_job(
    "mirante_all", selection=AssetSelection.all() - AssetSelection.assets(atencao_primaria.raw_esus_pec),
    description="Every asset of every domain, sources to marts (PEC pulls run per municipality).")
#: after the 05:00 PEC pulls, rebuild everything at 06:00
daily_all = ScheduleDefinition(name="mirante_all_daily", job=all_assets, cron_schedule="0 6 * * *",
                               execution_timezone="America/Sao_Paulo")

defs = Definitions.merge(
    saneamento.defs,
    atencao_primaria.defs,
    comercial.defs,
    transform.defs,
    # in-process: one code import per run instead of one per step (6-8 s each here)
    Definitions(jobs=[all_assets], schedules=[daily_all], resources=resources(),
                executor=in_process_executor),
)
