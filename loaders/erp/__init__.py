"""dlt source for an ERP in the shape of the SAP Business One Service Layer: sales orders and A/R
invoices with their lines.

One code path for a real Service Layer and the offline emulator (`mirante.emulators.erp`); only the
configuration differs (`read_settings()`: MIRANTE_ERP_* or `[sources.erp]` in .dlt/secrets.toml).

* Auth: cookie session from `POST /Login` (`helpers.B1SessionAuth`), renewed once on 401 code 301
  "Invalid session."; refused credentials fail at once (`ErpLoginError`, no retry).
* Paging: `Prefer: odata.maxpagesize=N` and the relative `odata.nextLink`, resolved against the
  request URL under /b1s/v1/; `$orderby=DocEntry` keeps `$skip` paging stable.
* Incremental: `$filter=UpdateDate ge '<last UpdateDate>'`. UpdateDate is a date, so the last day is
  read again on the next run; the rows merge on `doc_entry` (dlt's boundary de-duplication is off, so
  a document changed again on that same day is not dropped).
* Retries: dlt's retrying client, on 429 and 5xx and dropped connections, with exponential backoff
  that honours Retry-After (attempts, backoff and maximum delay are parameters).
* Tables (dataset raw_erp): `orders`, `invoices` (AddressExtension flattened into
  `address_extension__*`), and the DocumentLines as child tables `orders__document_lines` and
  `invoices__document_lines` (`_dlt_parent_id` = parent `_dlt_id`; `_dlt_root_id` too). Merge on
  `doc_entry` replaces the lines of a changed document: no duplicate or orphan lines.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator
from dlt.sources.rest_api import RESTAPIConfig, rest_api_resources

from mirante import pipelines
from mirante.loaders import DltLoader
from mirante.pipelines import SCHEMA_CONTRACT

from .helpers import B1SessionAuth, ErpLoginError
from .settings import (
    CURSOR_FIELD,
    DATASET,
    DOCUMENT_COLUMNS,
    DOMAIN,
    INITIAL_UPDATE_DATE,
    LINE_COLUMNS,
    MAX_TABLE_NESTING,
    PAGE_SIZE,
    PENDING_PACKAGES,
    PIPELINE_NAME,
    REQUEST_BACKOFF_FACTOR,
    REQUEST_MAX_ATTEMPTS,
    REQUEST_MAX_RETRY_DELAY,
    REQUEST_TIMEOUT,
    RESOURCES,
    ErpSettings,
    read_settings,
    service_root,
)

__all__ = [
    "erp_source",
    "read_settings",
    "LOADER",
    "make_auth",
    "B1SessionAuth",
    "ErpLoginError",
    "ErpSettings",
    "DATASET",
    "PIPELINE_NAME",
    "DOMAIN",
]


def retrying_session(
    request_max_attempts: int = REQUEST_MAX_ATTEMPTS,
    request_backoff_factor: float = REQUEST_BACKOFF_FACTOR,
    request_max_retry_delay: float = REQUEST_MAX_RETRY_DELAY,
    request_timeout: float = REQUEST_TIMEOUT,
):
    """The shared retrying session (mirante.pipelines.retrying_session) with the ERP's settings."""
    return pipelines.retrying_session(
        max_attempts=request_max_attempts,
        backoff_factor=request_backoff_factor,
        max_retry_delay=request_max_retry_delay,
        request_timeout=request_timeout,
    )


def make_auth(base_url: str, company_db: str, username: str, password: str, session=None) -> B1SessionAuth:
    """The Service Layer session authenticator (call `.logout()` when done)."""
    return B1SessionAuth(
        service_root=service_root(base_url),
        company_db=company_db,
        username=username,
        password=password,
        session=session or retrying_session(),
    ).resolve()


@dlt.source(name="erp", max_table_nesting=MAX_TABLE_NESTING)
def erp_source(
    base_url: str = dlt.config.value,
    company_db: str = dlt.config.value,
    username: str = dlt.secrets.value,
    password: str = dlt.secrets.value,
    page_size: int = PAGE_SIZE,
    initial_update_date: str = INITIAL_UPDATE_DATE,
    request_max_attempts: int = REQUEST_MAX_ATTEMPTS,
    request_backoff_factor: float = REQUEST_BACKOFF_FACTOR,
    request_max_retry_delay: float = REQUEST_MAX_RETRY_DELAY,
    request_timeout: float = REQUEST_TIMEOUT,
    auth: Any = None,
) -> list[DltResource]:
    """Resources `orders` and `invoices` (with child tables `*__document_lines`), merged on
    `doc_entry`, incremental on UpdateDate.

    `base_url` is the Service Layer root (`/b1s/v1` appended when missing). `auth` may pass a
    `make_auth(...)` authenticator to share or log out the session; by default one is made here.
    """
    session = retrying_session(
        request_max_attempts, request_backoff_factor, request_max_retry_delay, request_timeout
    )
    auth = auth or make_auth(base_url, company_db, username, password, session=session)
    config: RESTAPIConfig = {
        "client": {
            "base_url": service_root(base_url) + "/",
            "headers": {"Prefer": f"odata.maxpagesize={page_size}"},
            "auth": auth,
            "paginator": JSONLinkPaginator(next_url_path="['odata.nextLink']"),
            "session": session,
        },
        "resource_defaults": {
            "primary_key": "doc_entry",
            "write_disposition": "merge",
            "schema_contract": SCHEMA_CONTRACT,
            "columns": copy.deepcopy(DOCUMENT_COLUMNS),
            "endpoint": {
                "data_selector": "value",
                "params": {
                    "$filter": f"{CURSOR_FIELD} ge '{{incremental.start_value}}'",
                    "$orderby": "DocEntry",
                },
                "incremental": {
                    "cursor_path": CURSOR_FIELD,
                    "initial_value": initial_update_date,
                    # the last day is re-read on purpose; merge on doc_entry de-duplicates it
                    "primary_key": [],
                },
            },
        },
        "resources": [{"name": name, "endpoint": {"path": entity}} for name, entity in RESOURCES.items()],
    }
    resources = rest_api_resources(config)
    for resource in resources:
        resource.apply_hints(nested_hints={"document_lines": {"columns": copy.deepcopy(LINE_COLUMNS)}})
    return resources


_RETRY_KEYS = ("request_max_attempts", "request_backoff_factor", "request_max_retry_delay", "request_timeout")


@contextmanager
def session(settings: ErpSettings, source_kwargs: dict) -> Iterator[dict]:
    """One Service Layer session per run (the source's retry settings apply to the login too),
    logged out at the end whatever happened."""
    retry = {k: source_kwargs[k] for k in _RETRY_KEYS if k in source_kwargs}
    auth = make_auth(**settings.source_kwargs(), session=retrying_session(**retry))
    try:
        yield {"auth": auth}
    finally:
        auth.logout()


LOADER = DltLoader(
    name=PIPELINE_NAME,
    dataset=DATASET,
    domain=DOMAIN,
    source=erp_source,
    read_settings=read_settings,
    placeholder={
        "base_url": "http://127.0.0.1:9/definition-only",
        "company_db": "definition-only",
        "username": "definition-only",
        "password": "definition-only",
    },
    pending_packages=PENDING_PACKAGES,
    child_tables={"orders__document_lines": "orders", "invoices__document_lines": "invoices"},
    session=session,
    # refused credentials are shown as themselves, not wrapped in dlt's PipelineStepFailed
    clean_errors=(ErpLoginError,),
    description="Sales orders and invoices (with their lines) from the ERP Service Layer, incremental on UpdateDate",
)
