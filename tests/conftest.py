"""Test fixtures: a real PostgreSQL (the embedded one under .mirante/test, or MIRANTE_DATABASE_URL)
with the Mirante roles, a test database, and helpers to reset the raw SNIS tables."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from mirante import config
from mirante.emulators.world import environ  # noqa: F401  (tests set variables through it)

TEST_HOME = config.ROOT / ".mirante" / "test"
SNIS_FULL = config.shared_data_dir() / "snis" / "agua-esgoto-agregado_2021.utf16.csv"
SNIS_SAMPLE = config.shared_data_dir() / "snis" / "snis_agregado_2021_AL_sample.utf16.csv"


@pytest.fixture(scope="session")
def server():
    """The server with roles, schemas and grants in database mirante_test; stopped at the end if
    the tests started it."""
    os.environ.setdefault("MIRANTE_HOME", str(TEST_HOME))
    os.environ["MIRANTE_DB"] = "mirante_test"
    from mirante import db

    started = config.external_server() is None and not db.embedded_running()
    srv = db.setup()
    db.export_env(srv)
    yield srv
    if started:
        db.stop_embedded()


@pytest.fixture(scope="session")
def comercial_emulators():
    """The CRM and ERP emulators over HTTP for the whole session, as `make run` starts them (base
    URLs and emulator credentials in MIRANTE_CRM_* / MIRANTE_ERP_*), so every run of the whole
    graph in the session (e.g. `mirante_all` again in test_pipeline_e2e) reaches them."""
    from mirante.emulators.world import http_emulators

    with http_emulators(force=True, sources=("crm", "erp")) as started:
        yield started


@pytest.fixture(scope="session")
def built(server, comercial_emulators, tmp_path_factory):
    """The whole graph materialized once, as `make run` does it: the emulated PEC databases of the
    registry pulled one partition each, then every other asset (shared SNIS data, IBGE, CRM and ERP
    emulators over HTTP)."""
    from dagster import DagsterInstance

    from mirante.emulators.world import ensure_pec_sources, http_emulators
    from mirante.orchestration.run import materialize

    ensure_pec_sources(server)
    with (
        http_emulators(force=True, sources=("ibge",)),
        environ({"DAGSTER_HOME": str(tmp_path_factory.mktemp("dagster"))}),
    ):
        with DagsterInstance.get() as instance:
            pulls, result = materialize(instance, log_config={})
    assert all(r.success for r in pulls.values()), "every emulated municipality must load"
    assert result.success, "the whole graph must build for the tests that read its tables"
    return server


@pytest.fixture
def admin(server):
    with psycopg.connect(server.admin(), autocommit=True) as conn:
        yield conn


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


@pytest.fixture
def raw_snis(server):
    reset_raw(server, "raw_snis", ("snis", "snis_test"))
    return server


def snis_text(path: Path = SNIS_FULL) -> str:
    """The real export decoded (UTF-16LE): tests build corrupted copies from it."""
    return path.read_bytes().decode("utf-16-le")


def write_export(path: Path, text: str, encoding: str = "utf-16-le") -> Path:
    path.write_bytes(text.encode(encoding))
    return path
