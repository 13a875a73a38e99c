"""Resources and paths shared by the domain modules (built in one place).

Every external system reaches assets, checks and sensors as a resource built from
mirante.config, never through the environment: the warehouse (`warehouse`: connection URLs per
role, from MIRANTE_DATABASE_URL or the embedded server already running), and one resource per dlt
loader, keyed by its pipeline name (`snis`, `ibge`, `crm`, `erp`), whose settings are read from
mirante.config when a run starts. Their `overrides` (empty by default) let an operator point one
run elsewhere from the Dagster launchpad (e.g. `resources: {crm: {config: {overrides: {base_url:
...}}}}`); secrets are never resource config, so the UI never shows them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource
from pydantic import Field

from mirante import config
from mirante.config import ROOT

DBT_PROJECT_DIR = ROOT / "dbt_project"
DBT_MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"

#: profile values dbt needs only to parse (no connection is made by `dbt parse`)
_PARSE_ENV = {
    "MIRANTE_PG_HOST": "127.0.0.1",
    "MIRANTE_PG_PORT": "5432",
    "MIRANTE_DB": "mirante",
    "MIRANTE_TRANSFORMER_PASSWORD": "parse-only",
}


def dbt_manifest() -> Path:
    """The dbt manifest the definitions are built from; parsed once if missing (no database)."""
    if not DBT_MANIFEST.exists():
        env = config.child_environment(defaults=_PARSE_ENV)
        subprocess.run(
            [
                str(DBT_EXECUTABLE),
                "parse",
                "--quiet",
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
            ],
            check=True,
            env=env,
            cwd=DBT_PROJECT_DIR,
        )
    return DBT_MANIFEST


class Warehouse(ConfigurableResource):
    """The analytical PostgreSQL server (mirante.db.running_server): never started by a run."""

    def server(self) -> config.Server:
        from mirante import db

        return db.running_server()

    def url(self, role: str) -> str:
        return self.server().url(role)


class LoaderSettings(ConfigurableResource):
    """The settings of one dlt loader (loaders/<source>/settings.py, `read_settings`), read when a
    run starts; `overrides` are passed to it (non-secret values only)."""

    loader: str = Field(description="pipeline name of the loader (loaders/<source>)")
    overrides: dict[str, str] = Field(
        default_factory=dict, description="settings for this run instead of mirante.config's"
    )

    def read(self):
        from mirante.loaders import dlt_loaders

        return dlt_loaders()[self.loader].read_settings(**self.overrides)


def resources() -> dict:
    from mirante.loaders import dlt_loaders

    return {
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            dbt_executable=str(DBT_EXECUTABLE),
        ),
        "warehouse": Warehouse(),
        **{name: LoaderSettings(loader=name) for name in dlt_loaders()},
    }
