"""dbt models as assets (keys [schema, model]: the layer; groups: the domain), dbt tests as asset
checks, and every Great Expectations suite as an asset check."""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, Definitions
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from mirante.orchestration import lineage
from mirante.orchestration.resources import Warehouse, dbt_manifest

from .common import DBT_POOL, suite_checks


def _source_domains() -> dict[str, str]:
    from mirante.loaders import all_loaders

    return {name: module.DOMAIN for name, module in all_loaders().items()}


#: staging folder (= loader package) -> domain
SOURCE_DOMAINS = _source_domains()
DOMAINS = set(SOURCE_DOMAINS.values())
#: group of the models every domain shares
COMMON_GROUP = "comum"


class MiranteDbtTranslator(DagsterDbtTranslator):
    """Sources keep dbt's [source, table] key (= the dlt asset keys); models are [schema, name]."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The domain: staging/<source>/ takes its loader's domain, intermediate/<domain>/ and
        marts/<domain>/ their folder's; what is shared by every domain (the calendar, the
        municipality dimension) is `comum`."""
        fqn = dbt_resource_props.get("fqn", [])
        if len(fqn) < 4:
            return COMMON_GROUP
        layer, folder = fqn[1], fqn[2]
        if layer == "staging":
            return SOURCE_DOMAINS.get(folder, COMMON_GROUP)
        return folder if folder in DOMAINS else COMMON_GROUP


translator = MiranteDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(manifest=dbt_manifest(), dagster_dbt_translator=translator, name="dbt_models", pool=DBT_POOL)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
    """`dbt build` of the selected models: models and their tests, as the transformer role; one
    build at a time (pool `dbt` in Dagster, and the `dbt` lock across processes and instances)."""
    from mirante import db
    from mirante.pipelines import exclusive

    srv = warehouse.server()
    db.export_env(srv)  # dbt's profiles.yml reads host, port and password from the environment
    with exclusive("dbt", srv=srv, role="transformer", on_wait=context.log.warning):
        # cautious: a test runs only when all the models it reads are selected (rebuilding one mart
        # must not run the relationship tests of marts that were not rebuilt)
        invocation = dbt.cli(["build", "--indirect-selection", "cautious"], context=context)
        try:
            yield from invocation.stream()
        finally:
            # one OpenLineage run per model built, failed ones too (orchestration/lineage.py)
            lineage.dbt_models(invocation.target_path, srv, lineage.dagster_parent(context))


defs = Definitions(
    assets=[dbt_models],
    # every Great Expectations suite of every layer and domain, by rule (one check per suite file)
    asset_checks=suite_checks(),
)
