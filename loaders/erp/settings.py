"""Constants and configuration of the ERP source (SAP Business One Service Layer).

Configuration, read at call time by `read_settings()`: environment first, then `[sources.erp]` of the
git-ignored `.dlt/secrets.toml` (the section dlt itself resolves for `erp_source()` called without
arguments):

    MIRANTE_ERP_BASE_URL      Service Layer root, e.g. https://b1.example:50000/b1s/v1
                              (`/b1s/v1` is appended when missing)
    MIRANTE_ERP_COMPANY_DB    company database (CompanyDB of the login)
    MIRANTE_ERP_USERNAME      user name
    MIRANTE_ERP_PASSWORD      password (never logged nor shown in errors)
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATASET = "raw_erp"
PIPELINE_NAME = "erp"
DOMAIN = "comercial"

#: the Service Layer's OData v3 root under the server URL
API_PATH = "/b1s/v1"

#: resource (raw table) name -> Service Layer entity set
RESOURCES = {"orders": "Orders", "invoices": "Invoices"}

#: documents per page asked through `Prefer: odata.maxpagesize=N` (the Service Layer's default is 20)
PAGE_SIZE = 500

#: incremental cursor: the document's UpdateDate (a date; the time is the separate UpdateTime)
CURSOR_FIELD = "UpdateDate"
#: first load reads every document updated on or after this day
INITIAL_UPDATE_DATE = "2000-01-01"
#: a killed run's pending dlt packages are resumed (mirante.pipelines.settle_pending): the package is
#: a whole extract and the local UpdateDate cursor already moved past it, so it is loaded (merge on
#: `doc_entry` replaces a document and its lines: no duplicate) before the next run reads from there.
#: A package whose load began is dropped (and the cursor rewound) whatever this says
PENDING_PACKAGES = "resume"

#: retries on 429 and 5xx (dlt's retrying client: exponential backoff, Retry-After honoured)
REQUEST_MAX_ATTEMPTS = 6
REQUEST_BACKOFF_FACTOR = 1.0
REQUEST_MAX_RETRY_DELAY = 60.0
REQUEST_TIMEOUT = 60.0

#: renew the session this many seconds before SessionTimeout runs out (an expired one is renewed
#: on its 401 "Invalid session." anyway)
SESSION_MARGIN_SECONDS = 60

#: Service Layer error codes: invalid session (401) and refused login
SAP_INVALID_SESSION = 301
SAP_LOGIN_FAILED = -304


#: DocumentLines become the child tables `<resource>__document_lines`; AddressExtension (an object)
#: is flattened into `address_extension__*` columns
MAX_TABLE_NESTING = 1

MONEY = {"data_type": "decimal", "precision": 18, "scale": 2}


def _named(columns: dict[str, dict]) -> dict[str, dict]:
    """Column hints with their `name` (nested-table hints are not completed by dlt)."""
    return {name: {"name": name, **hints} for name, hints in columns.items()}


#: header columns whose type is not left to inference (dates are ISO strings in the JSON). dlt
#: writes into these dicts: hand it copies (`copy.deepcopy`), never these objects.
DOCUMENT_COLUMNS = _named(
    {
        "doc_entry": {"data_type": "bigint", "nullable": False},
        "doc_num": {"data_type": "bigint"},
        "doc_date": {"data_type": "date"},
        "doc_due_date": {"data_type": "date"},
        "creation_date": {"data_type": "date"},
        # named as in the JSON like the incremental cursor's own hint, so the two merge (update_date)
        CURSOR_FIELD: {"data_type": "date"},
        "update_time": {"data_type": "text"},
        "doc_total": dict(MONEY),
        "vat_sum": dict(MONEY),
        "sales_person_code": {"data_type": "bigint"},
        "u_modalidade": {"data_type": "text"},
        "u_contrato": {"data_type": "bigint"},
        "address_extension__ship_to_county": {"data_type": "text"},
    }
)
#: DocumentLines columns (BaseEntry is null on orders, so declared to exist on both tables)
LINE_COLUMNS = _named(
    {
        "line_num": {"data_type": "bigint"},
        "quantity": {"data_type": "decimal", "precision": 19, "scale": 6},
        "price": {"data_type": "decimal", "precision": 19, "scale": 6},
        "line_total": dict(MONEY),
        "base_type": {"data_type": "bigint"},
        "base_entry": {"data_type": "bigint"},
        "base_line": {"data_type": "bigint"},
    }
)

ENV = {
    "base_url": "MIRANTE_ERP_BASE_URL",
    "company_db": "MIRANTE_ERP_COMPANY_DB",
    "username": "MIRANTE_ERP_USERNAME",
    "password": "MIRANTE_ERP_PASSWORD",
}


@dataclass(frozen=True)
class ErpSettings:
    base_url: str
    company_db: str
    username: str
    password: str = field(repr=False)

    def source_kwargs(self) -> dict[str, str]:
        return {
            "base_url": self.base_url,
            "company_db": self.company_db,
            "username": self.username,
            "password": self.password,
        }


def read_settings(**overrides: str) -> ErpSettings:
    """The ERP connection: the arguments, else MIRANTE_ERP_* or `[sources.erp]` of
    .dlt/secrets.toml; a clear error naming what is missing (never a value)."""
    from mirante import config

    values = {key: overrides.get(key) or config.source_setting("erp", key) for key in ENV}
    missing = [ENV[k] for k, v in values.items() if not v]
    if missing:
        raise RuntimeError(
            f"ERP (SAP Business One Service Layer) not configured: set {', '.join(missing)} "
            "(or base_url/company_db/username/password under [sources.erp] in .dlt/secrets.toml)"
        )
    return ErpSettings(**{k: str(v) for k, v in values.items()})


def service_root(base_url: str) -> str:
    """`http://host:port` or `http://host:port/b1s/v1[/]` -> `http://host:port/b1s/v1`."""
    url = base_url.rstrip("/")
    return url if url.endswith(API_PATH) else url + API_PATH
