"""dlt source for the IBGE Localidades API: regions, states and municipalities.

One code path for the live API and the offline emulator; only `base_url` differs. Nested objects
(e.g. `microrregiao.mesorregiao.UF.sigla`) land as flattened columns
(`microrregiao__mesorregiao__uf__sigla`).
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.rest_api import RESTAPIConfig, rest_api_resources

from mirante.loaders import DltLoader
from mirante.pipelines import SCHEMA_CONTRACT

from .settings import (
    BASE_URL,
    DATASET,
    DOMAIN,
    MAX_TABLE_NESTING,
    PENDING_PACKAGES,
    PIPELINE_NAME,
    RESOURCES,
    read_settings,
)

__all__ = ["ibge_source", "read_settings", "LOADER", "DATASET", "PIPELINE_NAME", "DOMAIN"]


def drop_null_keys(row: dict[str, Any]) -> dict[str, Any]:
    """Drop top-level keys whose value is null (e.g. `microrregiao` of 5101837).

    A null object carries no column; left in, dlt records an untyped `microrregiao` column and warns
    on every load. The flattened `microrregiao__*` columns come from the other rows either way.
    """
    return {key: value for key, value in row.items() if value is not None}


@dlt.source(name="ibge", max_table_nesting=MAX_TABLE_NESTING)
def ibge_source(base_url: str = BASE_URL) -> list[DltResource]:
    """Resources `regioes`, `estados` and `municipios`, merged on `id`.

    Requests go through dlt's retrying client: attempts and timeouts follow the `RUNTIME__REQUEST_*`
    settings in force when the source is created.
    """
    config: RESTAPIConfig = {
        "client": {"base_url": base_url, "paginator": "single_page"},
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "merge",
            "schema_contract": SCHEMA_CONTRACT,
            "endpoint": {"data_selector": "$"},
            "processing_steps": [{"map": drop_null_keys}],
        },
        "resources": [{"name": name, "endpoint": {"path": name}} for name in RESOURCES],
    }
    return rest_api_resources(config)


LOADER = DltLoader(
    name=PIPELINE_NAME,
    dataset=DATASET,
    domain=DOMAIN,
    source=ibge_source,
    read_settings=read_settings,
    placeholder={},
    pending_packages=PENDING_PACKAGES,
    description="IBGE Localidades (regions, UFs, municipalities) over HTTP",
)
