"""Helpers the tests import (conftest.py holds only fixtures): the shared SNIS exports, a database
of a test module's own, emptying a raw schema, and reading or writing SNIS exports."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from mirante import config

SNIS_FULL = config.shared_data_dir() / "snis" / "agua-esgoto-agregado_2021.utf16.csv"
SNIS_SAMPLE = config.shared_data_dir() / "snis" / "snis_agregado_2021_AL_sample.utf16.csv"


@contextmanager
def own_database(server, name: str):
    """A database of the test module's own (roles, schemas, grants), set as MIRANTE_DB while in use
    and dropped afterwards: tests that reset raw schemas (drop ... cascade also drops the dbt views
    on them) or swap source data never touch the database the `built` graph lives in."""
    from mirante import db

    saved = os.environ.get("MIRANTE_DB")
    db.setup(server, database=name)
    os.environ["MIRANTE_DB"] = name
    try:
        yield server
    finally:
        if saved is None:
            os.environ.pop("MIRANTE_DB", None)
        else:
            os.environ["MIRANTE_DB"] = saved
        with psycopg.connect(server.admin("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def reset_raw(server, schema: str, pipeline_names: tuple[str, ...] = ()) -> None:
    """Empty a raw schema (tables and dlt state) and the local dlt pipeline folders."""
    with psycopg.connect(server.admin(), autocommit=True) as conn:
        for s in (schema, f"{schema}_staging"):
            conn.execute(f"drop schema if exists {s} cascade")
    from mirante import db

    db.setup(server)
    for name in pipeline_names:
        shutil.rmtree(config.home() / "dlt" / name, ignore_errors=True)


def snis_text(path: Path = SNIS_FULL) -> str:
    """The real export decoded (UTF-16LE): tests build corrupted copies from it."""
    return path.read_bytes().decode("utf-16-le")


def write_export(path: Path, text: str, encoding: str = "utf-16-le") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def monitoring_tool(name: str) -> str:
    """The path of a Prometheus tool (prometheus, promtool, amtool, prometheus-alertmanager; Debian's
    packages, installed by `make test` as root). Missing: the test skips, except under CI=true
    where it fails."""
    import pytest

    exe = shutil.which(name)
    if exe is None:
        reason = (
            f"`{name}` not found (Debian packages prometheus, prometheus-alertmanager: `make prometheus`)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return exe


def dbt_cli(*args: str, target: str):
    """The dbt CLI on the session's database (as the transformer), artifacts under target/<target>:
    a completed process with its output captured."""
    import subprocess

    from mirante.orchestration.resources import DBT_EXECUTABLE, DBT_PROJECT_DIR

    dirs = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    return subprocess.run(
        [str(DBT_EXECUTABLE), "--no-use-colors", *args, *dirs, "--target-path", f"target/{target}"],
        cwd=DBT_PROJECT_DIR,
        env=config.child_environment(),
        capture_output=True,
        text=True,
    )
