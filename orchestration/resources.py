"""Resources and paths shared by the domain modules (built in one place)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

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
        env = {**_PARSE_ENV, **os.environ}
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


def resources() -> dict:
    return {
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            dbt_executable=str(DBT_EXECUTABLE),
        ),
    }
