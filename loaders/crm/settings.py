"""Constants and configuration of the Ploomes-like CRM source.

Configuration is read at call time (`read_settings`), never at import: environment first, then the
`[sources.crm]` section of the git-ignored `.dlt/secrets.toml` (the section dlt itself resolves for
`crm_source()` called without arguments):

    MIRANTE_CRM_BASE_URL   base URL of the API (default: Ploomes' public API, `BASE_URL`)
    MIRANTE_CRM_USER_KEY   the integration's User-Key (no default: a missing key is an error)

    # .dlt/secrets.toml
    [sources.crm]
    base_url = "http://127.0.0.1:8082"
    user_key = "..."
"""

from __future__ import annotations

from dataclasses import dataclass

from mirante import config

#: Ploomes' public API; the offline emulator (mirante.emulators.crm) serves the same paths
BASE_URL = "https://api2.ploomes.com"

DATASET = "raw_crm"
PIPELINE_NAME = "crm"
DOMAIN = "comercial"
#: how the CRM is named in error messages
SOURCE_LABEL = "CRM (Ploomes-like API)"

#: resource (= raw table) -> (endpoint path, $expand). Every nested object is asked for: phones
#: land as the child table contacts__phones, City and State as flattened city__* columns
ENDPOINTS: dict[str, tuple[str, str | None]] = {
    "contacts": ("Contacts", "Phones,City($expand=State)"),
    "deals": ("Deals", "Stage"),
    "interactions": ("Interactions", None),
}


def _ts(**extra) -> dict:
    # a new dict for each column: dlt writes the column name into the hint it is given
    return {"data_type": "timestamp", "timezone": True, **extra}


#: declared column types, so a table's types never depend on which rows a load happened to see
#: first (e.g. FinishDate, null while every deal is open). Keys are the API's names, as the
#: incremental cursor's; they land snake_cased (LastUpdateDate -> last_update_date)
COLUMNS: dict[str, dict[str, dict]] = {
    "contacts": {"CreateDate": _ts(), "LastUpdateDate": _ts()},
    "deals": {
        "Amount": {"data_type": "decimal", "precision": 18, "scale": 2},
        "CreateDate": _ts(),
        "FinishDate": _ts(nullable=True),
        "LastUpdateDate": _ts(),
    },
    "interactions": {"Date": _ts(), "CreateDate": _ts(), "LastUpdateDate": _ts()},
}

#: Ploomes' largest page
PAGE_SIZE = 300
PRIMARY_KEY = "Id"
#: incremental cursor (raw column last_update_date), sent as $filter=LastUpdateDate ge <value>
CURSOR = "LastUpdateDate"
#: first run: every record (nothing in a CRM predates this)
INITIAL_LAST_UPDATE = "1900-01-01T00:00:00-03:00"
#: each incremental run reads again the last day of changes (merged on id, so no duplicates): a
#: record changed while a run was paging, stamped earlier than a later record the run did see, is
#: not missed. One day covers one step of the emulator's generator mode.
LOOKBACK_SECONDS = 86_400.0

#: retries on 429 and 5xx (and connection errors) with exponential backoff; a Retry-After header
#: sets the wait instead, up to MAX_RETRY_DELAY seconds. 401/403 are never retried.
MAX_ATTEMPTS = 6
BACKOFF_FACTOR = 1.0
MAX_RETRY_DELAY = 60.0
REQUEST_TIMEOUT = 60.0

#: Phones is a list (child table, level 1); City.State nests objects two levels deep (flattened)
MAX_TABLE_NESTING = 2
#: plain dict rows: the COPY-based csv writer is the faster one for Postgres (docs/stack-notes.md, "dlt: the csv writer for dict rows")
LOADER_FILE_FORMAT = "csv"
#: a killed run's pending dlt packages are resumed (mirante.pipelines.settle_pending): the package is
#: a whole extract and the local cursor already moved past it, so it is loaded (merge on `id`: no
#: duplicate) before the next run reads from that cursor; dropping would re-read it from the API.
#: A package whose load began is dropped (and the cursor rewound) whatever this says
PENDING_PACKAGES = "resume"


@dataclass(frozen=True)
class CrmSettings:
    base_url: str
    user_key: str

    def __repr__(self) -> str:  # never show the key
        return f"CrmSettings(base_url={self.base_url!r}, user_key='***')"

    def source_kwargs(self) -> dict[str, str]:
        return {"base_url": self.base_url, "user_key": self.user_key}


def read_settings(base_url: str | None = None, user_key: str | None = None) -> CrmSettings:
    """Arguments first, then MIRANTE_CRM_* in the environment, then `[sources.crm]` in
    .dlt/secrets.toml; the base URL defaults to Ploomes' public API."""
    base_url = base_url or config.source_setting("crm", "base_url") or BASE_URL
    user_key = user_key or config.source_setting("crm", "user_key")
    if not user_key:
        raise RuntimeError(
            f"no User-Key for the {SOURCE_LABEL} at {base_url}: set MIRANTE_CRM_USER_KEY or "
            "user_key under [sources.crm] in .dlt/secrets.toml"
        )
    return CrmSettings(base_url=base_url.rstrip("/"), user_key=user_key)
