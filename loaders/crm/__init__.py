"""dlt source for a Ploomes-like CRM: Contacts, Deals and Interactions over its OData REST API.

One code path for the live API and the offline emulator (mirante.emulators.crm); only `base_url`
and `user_key` differ. Built from dlt's `rest_api` config:

- auth: the `User-Key` header (dlt's api_key auth); a 401/403 raises `CrmAuthError` at once, with
  the CRM and its base URL in the message and never the key;
- paging: `$top=300` then `@odata.nextLink` (absolute URLs) until a page has none; pages ordered by
  Id, so records added while paging shift rows forward (read twice, merged) and none is skipped;
- incremental: cursor `LastUpdateDate`, sent as `$filter=LastUpdateDate ge <last value - 1 day>`
  (first run: everything); rows merged on `id`, so re-read rows replace themselves;
- retries: dlt's retrying session on 429, 5xx and connection errors, exponential backoff,
  `Retry-After` honoured (settings.MAX_ATTEMPTS, BACKOFF_FACTOR, MAX_RETRY_DELAY);
- tables (dlt snake_case) in raw_crm: contacts (+ child contacts__phones, City/State flattened
  into city__* columns), deals (Stage flattened into stage__*), interactions.
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.rest_api import RESTAPIConfig, rest_api_resources

from mirante.loaders import DltLoader
from mirante.pipelines import SCHEMA_CONTRACT, retrying_session

from . import settings
from .helpers import CrmAuthError, auth_failure_hook
from .settings import DATASET, DOMAIN, PIPELINE_NAME, CrmSettings, read_settings

__all__ = [
    "crm_source",
    "read_settings",
    "LOADER",
    "CrmAuthError",
    "CrmSettings",
    "DATASET",
    "PIPELINE_NAME",
    "DOMAIN",
]


def _endpoint(path: str, expand: str | None, page_size: int, base_url: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "$top": page_size,
        "$orderby": "Id",
        "$filter": f"{settings.CURSOR} ge {{incremental.start_value}}",
    }
    if expand:
        params["$expand"] = expand
    hook = auth_failure_hook(base_url)
    return {
        "path": path,
        "params": params,
        "data_selector": "value",
        "incremental": {
            "cursor_path": settings.CURSOR,
            "initial_value": settings.INITIAL_LAST_UPDATE,
            "lag": settings.LOOKBACK_SECONDS,
        },
        "response_actions": [{"status_code": 401, "action": hook}, {"status_code": 403, "action": hook}],
    }


@dlt.source(name="crm", max_table_nesting=settings.MAX_TABLE_NESTING)
def crm_source(
    base_url: str = dlt.config.value,
    user_key: str = dlt.secrets.value,
    page_size: int = settings.PAGE_SIZE,
    max_attempts: int = settings.MAX_ATTEMPTS,
    backoff_factor: float = settings.BACKOFF_FACTOR,
    max_retry_delay: float = settings.MAX_RETRY_DELAY,
    request_timeout: float = settings.REQUEST_TIMEOUT,
) -> list[DltResource]:
    """Resources `contacts`, `deals` and `interactions`, merged on `id`, incremental on
    `LastUpdateDate`. Building the source makes no request."""
    base_url = base_url.rstrip("/")
    config: RESTAPIConfig = {
        "client": {
            "base_url": base_url + "/",
            "auth": {"type": "api_key", "name": "User-Key", "api_key": user_key, "location": "header"},
            "paginator": {"type": "json_link", "next_url_path": '"@odata.nextLink"'},
            "session": retrying_session(
                max_attempts=max_attempts,
                backoff_factor=backoff_factor,
                max_retry_delay=max_retry_delay,
                request_timeout=request_timeout,
            ),
        },
        "resource_defaults": {
            "primary_key": settings.PRIMARY_KEY,
            "write_disposition": "merge",
            "schema_contract": SCHEMA_CONTRACT,
        },
        "resources": [
            {
                "name": name,
                "columns": settings.COLUMNS[name],
                "endpoint": _endpoint(path, expand, page_size, base_url),
            }
            for name, (path, expand) in settings.ENDPOINTS.items()
        ],
    }
    return rest_api_resources(config)


LOADER = DltLoader(
    name=PIPELINE_NAME,
    dataset=DATASET,
    domain=DOMAIN,
    source=crm_source,
    read_settings=read_settings,
    placeholder={"base_url": "http://127.0.0.1:9/definition-only", "user_key": "definition-only"},
    pending_packages=settings.PENDING_PACKAGES,
    loader_file_format=settings.LOADER_FILE_FORMAT,
    child_tables={"contacts__phones": "contacts"},
    # one clear line for the operator instead of dlt's step wrapper
    clean_errors=(CrmAuthError,),
    description="Contacts, deals and interactions from the CRM API, incremental on LastUpdateDate",
)
