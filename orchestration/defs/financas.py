"""Finance domain: public economic series (Banco Central SGS: IPCA, Selic, CDI, dollar, IGP-M)
-> raw_bcb -> dbt staging, the monthly IPCA with its chained index and the annual IPCA mart.

Assets: the BCB loader, one `loader_assets` call (factory.py): one asset per dlt resource, keyed
like the dbt sources ([raw_bcb, series], [raw_bcb, quarentena]), op in pool `dlt_bcb`.
Checks: the Great Expectations suite of raw_bcb.series, blocking, attached by rule.
Job `financas` runs the graph from the API to the marts; schedule `financas_daily` runs it every
day at 09:30 (Brasília), after the SGS publishes the previous business day's rates.

The base URL is read when a run starts (resource `bcb`: MIRANTE_BCB_BASE_URL or
.dlt/secrets.toml, default the live API); `mirante run` starts the emulator when it is unset.
"""

from dagster import DefaultScheduleStatus, Definitions, ScheduleDefinition, define_asset_job

from mirante.loaders import bcb

from .factory import Sources, loader_assets

#: the domain's sources, one `loader_assets` call each
SOURCES = Sources(loader_assets(bcb.LOADER))

financas_job = define_asset_job(
    "financas",
    selection=SOURCES.downstream(),
    description="The finance graph: Banco Central SGS series to the IPCA marts.",
)
#: 09:30: the SGS has the previous business day's CDI and PTAX by then; the pools `dlt_bcb` and
#: `dbt` keep it from colliding with the morning's other runs
financas_daily = ScheduleDefinition(
    name="financas_daily",
    job=financas_job,
    cron_schedule="30 9 * * *",
    execution_timezone="America/Sao_Paulo",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every day at 09:30: the new observations of every SGS series into the marts.",
)

defs = Definitions(assets=SOURCES.definitions, jobs=[financas_job], schedules=[financas_daily])
