"""Commercial domain: a CRM (Ploomes-like API) and an ERP (SAP Business One Service Layer-like API)
-> raw_crm / raw_erp -> dbt staging, intermediate and the commercial marts (sales per month, UF and
modality, daily KPIs, monthly recurring revenue).

Assets: the CRM and ERP loaders, one `loader_assets` call each (factory.py): one asset per dlt
resource, keyed like the dbt sources ([raw_crm, deals], [raw_erp, orders], ...), so the dbt models
hang under them in one graph, and the child tables the loaders declare (orders__document_lines, ...)
as non-materializable assets downstream of their parent.
Checks: the Great Expectations suites of raw_crm, raw_erp and the commercial marts, blocking (bad
source data stops the dbt models downstream), attached by rule (transform.py, `suite_checks`).
Job `comercial` runs the graph from the two APIs to the KPIs; schedule `comercial_daily` runs it
every day at 04:00 (Brasília), before the e-SUS pull and the rebuild that follows it. Ops `raw_crm`
/ `raw_erp` are in pools `dlt_crm` / `dlt_erp` (one run of each pipeline at a time).

Connection settings are read when a run starts, never at import (resources `crm` and `erp`:
MIRANTE_CRM_* and MIRANTE_ERP_* or .dlt/secrets.toml, see loaders/crm/settings.py and
loaders/erp/settings.py). `mirante run` starts both emulators when the base URLs are unset.
"""

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
)

from mirante.loaders import crm, erp

from .factory import Sources, loader_assets

#: the domain's sources, one `loader_assets` call each
SOURCES = Sources(loader_assets(crm.LOADER), loader_assets(erp.LOADER))
#: the semantic layer's time spine: not downstream of the sources, built with them
TIME_SPINE = AssetKey(["intermediate", "int_calendario__dia"])

comercial_job = define_asset_job(
    "comercial",
    selection=SOURCES.downstream() | AssetSelection.assets(TIME_SPINE),
    description="The commercial graph: CRM and ERP APIs to the sales marts and the daily KPIs.",
)
#: 04:00, before the 05:00 e-SUS pull: it never overlaps the rebuild that follows the pull (which
#: also rebuilds these marts); should it run late, the pools `dlt_crm`, `dlt_erp` and `dbt` make
#: the two wait for each other instead of colliding
comercial_daily = ScheduleDefinition(
    name="comercial_daily",
    job=comercial_job,
    cron_schedule="0 4 * * *",
    execution_timezone="America/Sao_Paulo",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every day at 04:00: yesterday's orders, deals and contacts into the KPIs.",
)

defs = Definitions(
    assets=SOURCES.definitions,
    jobs=[comercial_job],
    schedules=[comercial_daily],
)
