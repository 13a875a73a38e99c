"""Every loader takes one shape (loaders/__init__.py) and is wired into Dagster by one factory call
(orchestration/defs/factory.py); the raw schemas the core grants are the ones the loaders write."""

from __future__ import annotations

import inspect

import pytest
from dagster import AssetKey

from mirante import config
from mirante.loaders import DltLoader, all_loaders, dlt_loaders, raw_schemas

LOADERS = all_loaders()


def test_the_core_grants_exactly_the_raw_schemas_the_loaders_write():
    # mirante.config cannot import the loaders (a layer above it): the two lists must agree
    assert raw_schemas() == set(config.RAW_SCHEMAS)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_every_loader_exposes_the_same_names(name):
    module = LOADERS[name]
    assert module.DATASET == f"raw_{name}"
    assert module.PIPELINE_NAME == name
    assert isinstance(module.DOMAIN, str) and module.DOMAIN.isidentifier()
    assert callable(module.read_settings)
    if hasattr(module, "LOADER"):
        loader = module.LOADER
        assert isinstance(loader, DltLoader)
        assert (loader.name, loader.dataset, loader.domain) == (name, module.DATASET, module.DOMAIN)
        assert loader.read_settings is module.read_settings
        # the placeholder builds the source without a request (what the asset definitions read)
        assert loader.source(**loader.placeholder).resources, name
        # settings take overrides and hand the source its keyword arguments
        kwargs = loader.read_settings(**loader.placeholder).source_kwargs()
        assert {k: kwargs[k] for k in loader.placeholder} == dict(loader.placeholder)
        assert set(kwargs) <= set(inspect.signature(loader.source).parameters)


def test_one_factory_call_wires_each_dlt_loader():
    from mirante.orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    resources = defs.resources
    for name, loader in dlt_loaders().items():
        loaded = [
            k
            for k in graph.get_all_asset_keys()
            if k.path[0] == loader.dataset and graph.get(k).is_materializable
        ]
        assets = defs.resolve_assets_def(loaded[0])
        assert assets.op.name == loader.dataset
        assert assets.op.pool == f"dlt_{name}"
        assert {"dlt", "warehouse", name} <= assets.required_resource_keys
        assert name in resources
        for key in assets.keys:
            assert graph.get(key).group_name == loader.domain
        for child, parent in loader.child_tables.items():
            node = graph.get(AssetKey([loader.dataset, child]))
            assert not node.is_materializable
            assert node.parent_keys == {AssetKey([loader.dataset, parent])}
