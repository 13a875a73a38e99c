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
    MIRANTE_SNIS_DIR           folder of SNIS exports (default ../shared/data/snis)
    MIRANTE_SHARED_DATA        shared reference data (default ../shared/data)
    MIRANTE_IBGE_BASE_URL      IBGE Localidades base URL (default: the live API)
    MIRANTE_DLT_LOCK_TIMEOUT_S how long a dlt run or dbt build waits for the one holding its lock
    MIRANTE_ESUS_MAX_RUNTIME_SECONDS  deadline of the e-SUS pull job (`dagster/max_runtime`)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, unquote

ROOT = Path(__file__).resolve().parent.parent

#: the three least-privilege roles: loading, transforming, reading
ROLES = ("loader", "transformer", "reader")

#: raw schemas written by the loader role (one per source; dlt's merge staging beside each)
RAW_SCHEMAS = ("raw_snis", "raw_ibge", "raw_esus", "raw_crm", "raw_erp")
#: schemas written by dbt (the transformer role); marts are the only ones readers see
DBT_SCHEMAS = ("staging", "intermediate", "marts")
MARTS_SCHEMA = "marts"


def home() -> Path:
    return Path(os.environ.get("MIRANTE_HOME") or ROOT / ".mirante").resolve()


def secrets_file() -> Path:
    return ROOT / ".dlt" / "secrets.toml"


def read_secrets() -> dict:
    path = secrets_file()
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


#: where the shared reference data lives when the checkout is not beside it (a clone under /tmp)
SHARED_DATA_FALLBACK = Path("/work/shared/data")


def shared_data_dir() -> Path:
    """Shared reference data: MIRANTE_SHARED_DATA, else ../shared/data beside the checkout, else
    /work/shared/data."""
    if os.environ.get("MIRANTE_SHARED_DATA"):
        return Path(os.environ["MIRANTE_SHARED_DATA"]).resolve()
    beside = ROOT.parent / "shared" / "data"
    return beside.resolve() if beside.exists() or not SHARED_DATA_FALLBACK.exists() else SHARED_DATA_FALLBACK


def snis_dir() -> Path:
    return Path(os.environ.get("MIRANTE_SNIS_DIR") or shared_data_dir() / "snis").resolve()


def database_name() -> str:
    return os.environ.get("MIRANTE_DB", "mirante")


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


@dataclass(frozen=True)
class Server:
    """Where the PostgreSQL server listens (TCP on host:port)."""

    host: str
    port: int
    admin_url: str  # URL of a role allowed to create roles and schemas

    def url(self, role: str, database: str | None = None) -> str:
        """TCP URL of one of the Mirante roles (the form dlt, dbt, GE and psycopg all accept)."""
        pw = role_password(role)
        if not pw:
            raise RuntimeError(
                f"no password for role {role_name(role)}: set MIRANTE_{role.upper()}_PASSWORD "
                f"or run `mirante db setup` to generate .dlt/secrets.toml"
            )
        return (
            f"postgresql://{role_name(role)}:{quote(pw, safe='')}@{self.host}:{self.port}/"
            f"{database or database_name()}"
        )

    def admin(self, database: str | None = None) -> str:
        """Admin URL pointed at another database."""
        parts = urlsplit(self.admin_url)
        path = "/" + (database or database_name())
        return parts._replace(path=path).geturl()


def external_server() -> Server | None:
    url = os.environ.get("MIRANTE_DATABASE_URL")
    if not url:
        return None
    parts = urlsplit(url)
    return Server(host=unquote(parts.hostname or "127.0.0.1"), port=parts.port or 5432, admin_url=url)


def ibge_base_url() -> str | None:
    return os.environ.get("MIRANTE_IBGE_BASE_URL")


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
    out = {v for k, v in os.environ.items()
           if k.startswith(("MIRANTE_", "SOURCES__", "DESTINATION__")) and _is_secret_name(k) and v}

    def walk(node, path: tuple[str, ...]) -> None:
        for key, value in node.items():
            here = (*path, str(key))
            if isinstance(value, dict):
                walk(value, here)
            elif isinstance(value, str) and value and (
                    _is_secret_name(str(key)) or any(here[:len(s)] == s for s in _SECRET_SECTIONS)):
                out.add(value)

    walk(read_secrets(), ())
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
# Orchestration: exclusion of runs (docs/concurrency.md)


def dlt_lock_timeout() -> float:
    """MIRANTE_DLT_LOCK_TIMEOUT_S (default 21600, 6 h): how long a dlt run (or a dbt build) waits
    for the run of the same pipeline that holds its lock before it fails with a lock timeout."""
    return _positive_number("MIRANTE_DLT_LOCK_TIMEOUT_S", 21600.0)


def esus_max_runtime() -> int:
    """MIRANTE_ESUS_MAX_RUNTIME_SECONDS (default 10800, 3 h): the `dagster/max_runtime` of the
    e-SUS pull job; run monitoring stops a pull still running after it."""
    return int(_positive_number("MIRANTE_ESUS_MAX_RUNTIME_SECONDS", 10800.0))
