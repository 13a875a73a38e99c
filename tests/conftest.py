"""Test fixtures: a real PostgreSQL (the embedded one under .mirante/test, or MIRANTE_DATABASE_URL)
with the Mirante roles, a test database, and the raw SNIS tables reset. The helpers tests import
live in tests/helpers.py."""

from __future__ import annotations

import os

import psycopg
import pytest

from mirante import config
from mirante.emulators.world import environ

from .helpers import reset_raw

TEST_HOME = config.ROOT / ".mirante" / "test"


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
def built_dagster_home(tmp_path_factory):
    """The Dagster instance folder the `built` graph's runs are recorded in (tests/test_metrics.py
    reads a copy of it)."""
    return tmp_path_factory.mktemp("dagster")


@pytest.fixture(scope="session")
def built_lineage_file(tmp_path_factory):
    """The JSON-lines file that receives the OpenLineage events of the `built` graph's runs
    (tests/test_lineage.py reads it)."""
    return tmp_path_factory.mktemp("openlineage") / "events.jsonl"


@pytest.fixture(scope="session")
def built(server, comercial_emulators, built_dagster_home, built_lineage_file):
    """The whole graph materialized once, as `make run` does it: the emulated PEC databases of the
    registry pulled one partition each, then every other asset (shared SNIS data, IBGE, CRM, ERP,
    BCB and payment stream emulators over HTTP, generated finance history files, the emulated ledger
    database captured through its replication slot)."""
    from dagster import DagsterInstance

    from mirante.emulators.world import (
        ensure_file_sources,
        ensure_ledger_source,
        ensure_pec_sources,
        http_emulators,
    )
    from mirante.orchestration.run import materialize

    ensure_pec_sources(server)
    ensure_file_sources()
    ensure_ledger_source(server)
    with (
        http_emulators(force=True, sources=("ibge", "bcb", "eventos_pagamento")),
        environ(
            {"DAGSTER_HOME": str(built_dagster_home), "MIRANTE_OPENLINEAGE_FILE": str(built_lineage_file)}
        ),
    ):
        with DagsterInstance.get() as instance:
            pulls, result = materialize(instance, log_config={})
    assert all(r.success for r in pulls.values()), "every emulated municipality must load"
    assert result.success, "the whole graph must build for the tests that read its tables"
    # every source's freshness is evaluated for real (dlt child tables take their parent's last load)
    freshness = _dbt_source_freshness()
    assert freshness.returncode == 0, freshness.stdout[-3000:]
    return server


@pytest.fixture
def admin(server):
    with psycopg.connect(server.admin(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def raw_snis(server):
    reset_raw(server, "raw_snis", ("snis", "snis_test"))
    return server


def _dbt_source_freshness():
    """`dbt source freshness` of every source, as the transformer, on the session's database."""
    from .helpers import dbt_cli

    return dbt_cli("source", "freshness", target="freshness")
