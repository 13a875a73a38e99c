"""One call wires a dlt loader into Dagster: `loader_assets(loader)`.

What it makes, by rule, from the loader's `LOADER` (loaders/__init__.py, `DltLoader`):

- one multi-asset named after the loader's dataset (`raw_<source>`): one asset per dlt resource,
  key [dataset, resource] = the dbt source key, group = the loader's domain, kinds dlt + postgres;
  its op runs in the pool `dlt_<pipeline>` (one run of a pipeline at a time);
- one non-materializable asset per child table (nested lists written by the parent's resource);
- the run: settings from the loader's resource (orchestration/resources.py, `LoaderSettings`), the
  warehouse from the `warehouse` resource, a killed run's packages settled first, a new source per
  run (dagster-dlt alters a source's schema while it runs), the loader's session opened and closed,
  OpenLineage START and COMPLETE/FAIL events around it (orchestration/lineage.py).

A loader whose run takes options (e.g. which SNIS files) passes a `Config` class: its non-empty
fields become keyword arguments of the source.
"""

from dataclasses import dataclass

import dlt as dlt_lib
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Config,
    multi_asset,
)
from dagster_dlt import DagsterDltResource
from dagster_dlt.asset_decorator import build_dlt_asset_specs

from mirante.loaders import DltLoader
from mirante.orchestration import lineage
from mirante.orchestration.resources import Warehouse

from .common import RawTranslator, dlt_pool


class NoOptions(Config):
    """A load without options."""


@dataclass(frozen=True)
class LoaderAssets:
    """What `loader_assets` made: the multi-asset and the child tables' assets."""

    loader: DltLoader
    assets: AssetsDefinition
    child_tables: list[AssetSpec]

    @property
    def op_name(self) -> str:
        return self.assets.op.name

    @property
    def definitions(self) -> list:
        return [self.assets, *self.child_tables]

    @property
    def child_keys(self) -> list[AssetKey]:
        return [spec.key for spec in self.child_tables]


def loader_assets(loader: DltLoader, options: type[Config] = NoOptions) -> LoaderAssets:
    """The Dagster assets of a dlt loader (see the module docstring)."""
    translator = RawTranslator(domain=loader.domain)
    specs = build_dlt_asset_specs(
        dlt_source=loader.source(**loader.placeholder),
        dlt_pipeline=dlt_lib.pipeline(
            pipeline_name=loader.name, dataset_name=loader.dataset, destination="postgres"
        ),
        dagster_dlt_translator=translator,
    )

    def _load(context: AssetExecutionContext, config):
        # resources by key (the loader's key is its name: Dagster cannot mix typed and named ones)
        dlt: DagsterDltResource = context.resources.dlt
        warehouse: Warehouse = context.resources.warehouse
        settings = getattr(context.resources, loader.name).read()
        kwargs = {k: v for k, v in config.model_dump().items() if v}
        fmt = {"loader_file_format": loader.loader_file_format} if loader.loader_file_format else {}
        srv = warehouse.server()
        pipeline = loader.pipeline(srv)
        # OpenLineage START, then COMPLETE with the tables written or FAIL (orchestration/lineage.py)
        with lineage.dlt_load(context, loader, settings, kwargs, pipeline, srv):
            with loader.open_source(settings, **kwargs) as source:
                yield from dlt.run(context=context, dlt_source=source, dlt_pipeline=pipeline, **fmt)

    # the run's options are typed by the loader's Config class (Dagster reads the annotation)
    _load.__annotations__["config"] = options
    _load.__name__ = loader.dataset
    assets = multi_asset(
        name=loader.dataset,
        specs=specs,
        can_subset=True,
        pool=dlt_pool(loader.name),
        required_resource_keys={"dlt", "warehouse", loader.name},
        description=loader.description,
    )(_load)

    children = [
        AssetSpec(
            AssetKey([loader.dataset, child]),
            deps=[AssetKey([loader.dataset, parent])],
            group_name=loader.domain,
            kinds={"dlt", "postgres"},
            description=f"Child table of {loader.dataset}.{parent} (nested list), written by its dlt "
            "resource in the same load: materialize the parent to refresh it.",
        )
        for child, parent in loader.child_tables.items()
    ]
    return LoaderAssets(loader=loader, assets=assets, child_tables=children)


class Sources(dict):
    """The loaders a domain module wires, by name: `Sources(loader_assets(a.LOADER), ...)`; adding
    a source is one more argument."""

    def __init__(self, *made: LoaderAssets):
        super().__init__((m.loader.name, m) for m in made)

    @property
    def definitions(self) -> list:
        """Every asset and child-table asset, for the module's `Definitions`."""
        return [d for m in self.values() for d in m.definitions]

    def downstream(self):
        """Every loaded asset and everything downstream of it, without the child tables (which
        cannot be materialized on their own) nor the per-month reports: a domain job's selection."""
        from dagster import AssetSelection

        from .common import rebuild_exclusions

        loaded = AssetSelection.assets(*(m.assets for m in self.values()))
        children = [key for m in self.values() for key in m.child_keys]
        return loaded.downstream() - AssetSelection.assets(*children) - rebuild_exclusions()
