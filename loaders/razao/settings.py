"""Constants and settings of the ledger's change data capture (the company's operational database).

Where the source is and who the capture is there, read from mirante.config when called:
MIRANTE_RAZAO_HOST / _PORT / _DATABASE / _USER / _SLOT / _PUBLICATION / _SSLMODE / _SSLROOTCERT
(or the same keys under [sources.razao] in .dlt/secrets.toml) and the capture role's password
(MIRANTE_RAZAO_PASSWORD or `[razao] senha_cdc`, read at connection time, never kept here). The
defaults are the emulated source (emulators/razao.py) on the warehouse's own server.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

DATASET = "raw_razao"
#: name of its run lock and Dagster pool (`dlt_razao`, like the dlt loaders'); not a dlt pipeline
PIPELINE_NAME = "razao"
DOMAIN = "financas"
#: the published source tables = the raw tables (one append-only changelog each)
TABLES = ("clientes", "contas", "recebiveis", "pagaveis", "pagamentos")
SLOT = "mirante_razao"
PUBLICATION = "mirante_razao"
DEFAULT_DATABASE = "razao_origem"
DEFAULT_USER = "razao_cdc"
#: state and drift events, beside the changelogs in raw_razao
STATE_TABLE = "_estado_cdc"
EVENTS_TABLE = "_eventos_cdc"
#: changes per raw transaction (a micro-batch commits at most this many, with its LSN)
BATCH_CHANGES = 5_000
#: seconds one capture call may spend draining the slot before it returns what it committed
DRAIN_TIMEOUT_S = 300.0
#: retained WAL (bytes) above which the slot is reported (metric and alert: monitoring/alerts.yml)
RETAINED_WAL_ALERT_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class RazaoSettings:
    host: str
    port: int
    database: str
    user: str
    slot: str
    publication: str
    ssl: dict
    #: the warehouse database the raw tables are in (None: MIRANTE_DB)
    target_database: str | None = None

    def url(self) -> str:
        """libpq URL of the capture role on the source (password read now, never stored)."""
        from mirante import config

        password = config.razao_password("cdc")
        if not password:
            raise RuntimeError(
                f"no password for the capture role {self.user}: set MIRANTE_RAZAO_PASSWORD (or "
                "`senha_cdc` under [razao] in .dlt/secrets.toml)"
            )
        return config.with_params(
            f"postgresql://{quote(self.user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}/"
            f"{quote(self.database, safe='')}",
            self.ssl,
        )

    def source_kwargs(self) -> dict:
        return {}


def read_settings(srv=None, **overrides) -> RazaoSettings:
    """The source's address and names from mirante.config; defaults: the emulated source on the
    warehouse server `srv` (default: the running one), whose CA then checks the source too."""
    from mirante import config

    def setting(key: str, default=None):
        if key in overrides and overrides[key] not in (None, ""):
            return overrides[key]
        return config.source_setting("razao", key) or default

    host, port = setting("host"), setting("port")
    if host is None or port is None:
        if srv is None:
            from mirante import db

            srv = db.running_server()
        host, port = host or srv.host, port or srv.port
    warehouse = srv if srv is not None and (host, int(port)) == (srv.host, srv.port) else None
    mode, rootcert = setting("sslmode"), setting("sslrootcert")
    if warehouse is not None and not (mode or rootcert):
        ssl = dict(warehouse.ssl)
    else:
        ssl = config.ssl_params(mode, rootcert)
    return RazaoSettings(
        host=str(host),
        port=int(port),
        database=setting("database", DEFAULT_DATABASE),
        user=setting("user", DEFAULT_USER),
        slot=setting("slot", SLOT),
        publication=setting("publication", PUBLICATION),
        ssl=ssl,
        target_database=overrides.get("target_database"),
    )
