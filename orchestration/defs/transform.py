"""dbt models as assets (keys [schema, model], groups by folder), dbt tests as asset checks, and
Great Expectations suites on the marts."""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, Definitions
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from mirante.orchestration.resources import dbt_manifest

from .common import DBT_POOL, suite_checks


class MiranteDbtTranslator(DagsterDbtTranslator):
    """Sources keep dbt's [source, table] key (= the dlt asset keys); models are [schema, name]."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "dbt"


translator = MiranteDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(manifest=dbt_manifest(), dagster_dbt_translator=translator, name="dbt_models", pool=DBT_POOL)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build` of the selected models: models and their tests, as the transformer role; one
    build at a time (pool `dbt` in Dagster, and the `dbt` lock across processes and instances)."""
    from mirante import db
    from mirante.pipelines import exclusive

    srv = db.server()
    db.export_env(srv)  # profiles.yml reads host, port and password from the environment
    with exclusive("dbt", srv=srv, role="transformer", on_wait=context.log.warning):
        # cautious: a test runs only when all the models it reads are selected (rebuilding one mart
        # must not run the relationship tests of marts that were not rebuilt)
        yield from dbt.cli(["build", "--indirect-selection", "cautious"], context=context).stream()


defs = Definitions(
    assets=[dbt_models],
    # every Great Expectations suite of every layer and domain, by rule (one check per suite file)
    asset_checks=suite_checks(),
)
