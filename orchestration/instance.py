"""The Dagster instance: storage, the run queue, concurrency pools and run monitoring, written in
one place so that every run (the daemon's, the UI's, `mirante run`) obeys the same limits.

- Storage: local files under MIRANTE_HOME/dagster for `mirante run` and `mirante ui`; the
  always-on service (`mirante serve`) keeps runs, events and schedule state in PostgreSQL, in a
  database of its own on the warehouse server (role mirante_dagster, see mirante/db.py
  `setup_dagster_storage`), under MIRANTE_HOME/dagster-serve.

- Run queue: at most MIRANTE_ESUS_CONCURRENCY (default 4) e-SUS pull runs at once (run tag).
- Pools (op granularity): every pool defaults to ONE slot, so the op of a dlt pipeline
  (`dlt_snis`, `dlt_ibge`, `dlt_crm`, `dlt_erp`) and the dbt build (`dbt`) run one at a time and a
  second run's op waits for the slot; the e-SUS pool (`esus`) gets MIRANTE_ESUS_CONCURRENCY.
- Run monitoring: enforces the `dagster/max_runtime` of the e-SUS pull job and frees the pool
  slots of runs that ended without freeing them.
See docs/concurrency.md.
"""

from pathlib import Path

from mirante import config
from mirante.loaders.esus import read_settings

#: run tag whose concurrency the instance limits: runs of the e-SUS pull
#: (orchestration/defs/atencao_primaria.py)
CONCURRENCY_TAG = "mirante/esus"
#: the pool of the e-SUS pull op (orchestration/defs/atencao_primaria.py)
ESUS_POOL = "esus"
#: slots of every pool without a limit of its own: one run at a time
DEFAULT_POOL_LIMIT = 1


def esus_concurrency() -> int:
    return read_settings().concurrency


def postgres_storage(srv: config.Server) -> str:
    """The `storage:` section of an instance kept in PostgreSQL (dagster-postgres), TLS as every
    other connection; the password is read from MIRANTE_DAGSTER_PASSWORD by Dagster itself (the
    service exports it), never written in the file."""
    params = "".join(f"\n        {k}: {v}" for k, v in srv.ssl.items())
    return f"""storage:
  postgres:
    postgres_db:
      username: {config.role_name(config.DAGSTER_ROLE)}
      password:
        env: MIRANTE_{config.DAGSTER_ROLE.upper()}_PASSWORD
      hostname: {srv.host}
      port: {srv.port}
      db_name: {config.dagster_database()}
      # psycopg2: dagster-postgres binds NOTIFY's payload client-side, which psycopg 3 (SQLAlchemy
      # 2.1's default PostgreSQL driver) sends as a server-side parameter and the server refuses
      scheme: postgresql+psycopg2
      params:{params or " {}"}
"""


def prepare(home: Path | None = None, storage: str = "") -> Path:
    """Write dagster.yaml (idempotent) with `storage` (a `postgres_storage` section; default: local
    files), point DAGSTER_HOME at it, set the pool limits, return the folder."""
    home = home or config.home() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    limit = esus_concurrency()
    (home / "dagster.yaml").write_text(f"""\
# written by mirante.orchestration.instance: edit MIRANTE_ESUS_CONCURRENCY, not this file
{storage}concurrency:
  runs:
    max_concurrent_runs: {max(limit + 2, 6)}
    tag_concurrency_limits:
      - key: "{CONCURRENCY_TAG}"
        limit: {limit}
  pools:
    # one slot per pool (dlt_<pipeline>, dbt) unless set below; a run whose op finds its pool
    # full starts and waits for the slot
    default_limit: {DEFAULT_POOL_LIMIT}
    granularity: op
run_monitoring:
  enabled: true
  poll_interval_seconds: 60
  # a run killed without ending its steps keeps its pool slots: free them
  free_slots_after_run_end_seconds: 60
# Dagster freshness policies (orchestration/slas.yml, `frescor`) evaluated by the daemon
freshness:
  enabled: true
telemetry:
  enabled: false
""")
    config.export({"DAGSTER_HOME": str(home)})  # DagsterInstance.get() reads it
    set_pool_limits()
    return home


def set_pool_limits() -> None:
    """Pools whose limit is not the default: `esus`, MIRANTE_ESUS_CONCURRENCY slots."""
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots(ESUS_POOL, esus_concurrency())
