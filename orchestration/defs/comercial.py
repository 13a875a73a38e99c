"""Commercial domain: a CRM (Ploomes-like API) and an ERP (SAP Business One Service Layer-like API)
-> raw_crm / raw_erp -> dbt staging, intermediate and the commercial marts (sales per month, UF and
modality, daily KPIs, monthly recurring revenue).

Assets: one per dlt resource, keyed like the dbt sources ([raw_crm, deals], [raw_erp, orders], ...),
so the dbt models hang under them in one graph. The child tables (orders__document_lines, ...) are
written by their parent's resource: dagster-dlt makes no asset of them, so they are declared here as
non-materializable assets downstream of their parent (the lines' staging hangs under the orders).
Checks: the Great Expectations suites of raw_crm, raw_erp and the commercial marts, blocking (bad
source data stops the dbt models downstream), attached by rule (transform.py, `suite_checks`).
Job `comercial` runs the graph from the two APIs to the KPIs; schedule `comercial_daily` runs it every day at 04:00 (Brasília), before the e-SUS
pull and the rebuild that follows it. Ops `raw_crm_api` / `raw_erp_api` are in pools `dlt_crm` /
`dlt_erp` (one run of each pipeline at a time).

Connection settings are read when a run starts, never at import: MIRANTE_CRM_BASE_URL /
MIRANTE_CRM_USER_KEY and MIRANTE_ERP_BASE_URL / _COMPANY_DB / _USERNAME / _PASSWORD (or
.dlt/secrets.toml, see loaders/crm/settings.py and loaders/erp/settings.py). `mirante run` starts
both emulators when the base URLs are unset.
"""

import dlt
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
)
from dagster_dlt import DagsterDltResource, dlt_assets

from mirante.loaders.crm import crm_source
from mirante.loaders.crm import settings as crm_settings
from mirante.loaders.erp import erp_source, make_auth
from mirante.loaders.erp.settings import PENDING_PACKAGES as ERP_PENDING
from mirante.loaders.erp.settings import erp_settings
from mirante.pipelines import make_pipeline, settle_pending

from .common import RawTranslator, dlt_pool

CRM_OP = "raw_crm_api"
ERP_OP = "raw_erp_api"
CRM_DATASET = crm_settings.DATASET
ERP_DATASET = "raw_erp"

#: placeholders for the asset definitions only (building a source makes no request); the runs
#: build their sources from the configuration
_DEFINITION_URL = "http://127.0.0.1:9/definition-only"
#: the semantic layer's time spine: not downstream of the sources, built with them
TIME_SPINE = AssetKey(["intermediate", "int_calendario__dia"])


@dlt_assets(
    dlt_source=crm_source(base_url=_DEFINITION_URL, user_key="definition-only"),
    dlt_pipeline=dlt.pipeline(
        pipeline_name=crm_settings.PIPELINE_NAME, dataset_name=CRM_DATASET, destination="postgres"
    ),
    name=CRM_OP,
    dagster_dlt_translator=RawTranslator(),
    pool=dlt_pool(crm_settings.PIPELINE_NAME),
)
def raw_crm_api(context: AssetExecutionContext, dlt: DagsterDltResource):
    """Contacts, deals and interactions from the CRM API, incremental on LastUpdateDate, merged."""
    crm = crm_settings.resolve()
    # a new source per run: dagster-dlt alters the source's schema while it runs (STACK.md)
    source = crm_source(base_url=crm.base_url, user_key=crm.user_key)
    yield from dlt.run(
        context=context,
        dlt_source=source,
        dlt_pipeline=settle_pending(
            make_pipeline(crm_settings.PIPELINE_NAME, CRM_DATASET), crm_settings.PENDING_PACKAGES
        ),
        loader_file_format=crm_settings.LOADER_FILE_FORMAT,
    )


@dlt_assets(
    dlt_source=erp_source(
        base_url=_DEFINITION_URL,
        company_db="definition-only",
        username="definition-only",
        password="definition-only",
    ),
    dlt_pipeline=dlt.pipeline(pipeline_name="erp", dataset_name=ERP_DATASET, destination="postgres"),
    name=ERP_OP,
    dagster_dlt_translator=RawTranslator(),
    pool=dlt_pool("erp"),
)
def raw_erp_api(context: AssetExecutionContext, dlt: DagsterDltResource):
    """Sales orders and invoices (with their lines) from the ERP Service Layer, incremental on
    UpdateDate, merged; the session is logged out at the end."""
    settings = erp_settings()
    auth = make_auth(**settings.source_kwargs())
    try:
        source = erp_source(**settings.source_kwargs(), auth=auth)
        yield from dlt.run(
            context=context,
            dlt_source=source,
            dlt_pipeline=settle_pending(make_pipeline("erp", ERP_DATASET), ERP_PENDING),
        )
    finally:
        auth.logout()


#: child tables (nested lists) -> the resource that writes them
CHILD_TABLES = {
    AssetKey([CRM_DATASET, "contacts__phones"]): AssetKey([CRM_DATASET, "contacts"]),
    AssetKey([ERP_DATASET, "orders__document_lines"]): AssetKey([ERP_DATASET, "orders"]),
    AssetKey([ERP_DATASET, "invoices__document_lines"]): AssetKey([ERP_DATASET, "invoices"]),
}
child_tables = [
    AssetSpec(
        key,
        deps=[parent],
        group_name=key.path[0],
        kinds={"dlt", "postgres"},
        description=f"Child table of {parent.to_user_string()} (nested list), written by its dlt resource "
        "in the same load: materialize the parent to refresh it.",
    )
    for key, parent in CHILD_TABLES.items()
]

comercial_job = define_asset_job(
    "comercial",
    selection=(
        AssetSelection.assets(raw_crm_api, raw_erp_api).downstream() | AssetSelection.assets(TIME_SPINE)
    )
    - AssetSelection.assets(*CHILD_TABLES),
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
    description="Every day at 04:00: yesterday's orders, deals and contacts into the KPIs.",
)

defs = Definitions(
    assets=[raw_crm_api, raw_erp_api, *child_tables],
    jobs=[comercial_job],
    schedules=[comercial_daily],
)
