"""The Dagster instance under MIRANTE_HOME/dagster: local storage, and a run queue that runs at
most MIRANTE_ESUS_CONCURRENCY (default 4) e-SUS pulls at once."""

import os
from pathlib import Path

from mirante import config
from mirante.loaders.esus.settings import DEFAULT_CONCURRENCY

from .defs.atencao_primaria import CONCURRENCY_TAG


def esus_concurrency() -> int:
    value = int(os.environ.get("MIRANTE_ESUS_CONCURRENCY", DEFAULT_CONCURRENCY))
    if value < 1:
        raise ValueError("MIRANTE_ESUS_CONCURRENCY must be at least 1")
    return value


def prepare(home: Path | None = None) -> Path:
    """Write dagster.yaml (idempotent), point DAGSTER_HOME at it, return the folder."""
    home = home or config.home() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    limit = esus_concurrency()
    (home / "dagster.yaml").write_text(f"""\
# written by mirante.orchestration.instance: edit MIRANTE_ESUS_CONCURRENCY, not this file
concurrency:
  runs:
    max_concurrent_runs: {max(limit + 2, 6)}
    tag_concurrency_limits:
      - key: "{CONCURRENCY_TAG}"
        limit: {limit}
  pools:
    default_limit: {limit}
telemetry:
  enabled: false
""")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
