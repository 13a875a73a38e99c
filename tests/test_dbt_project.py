"""The dbt project parses, and its manifest meets the conventions: every model, source and column is
described, every mart enforces a typed contract, every model is tested (no database needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mirante.config import ROOT

DBT_PROJECT_DIR = ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"

#: profiles.yml reads these through env_var(); `dbt parse` renders them but opens no connection
PARSE_ENV = {
    "MIRANTE_PG_HOST": "127.0.0.1",
    "MIRANTE_PG_PORT": "5432",
    "MIRANTE_DB": "mirante",
    "MIRANTE_TRANSFORMER_PASSWORD": "parse-only",
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    """Manifest of a fresh full parse, written to a temporary target (the project's stays as is)."""
    out = tmp_path_factory.mktemp("dbt")
    result = subprocess.run(
        [
            str(DBT),
            "--no-use-colors",
            "parse",
            "--no-partial-parse",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(out / "target"),
            "--log-path",
            str(out / "logs"),
        ],
        env={**PARSE_ENV, **os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"dbt parse failed:\n{result.stdout}\n{result.stderr}"
    return json.loads((out / "target" / "manifest.json").read_text())


def project_nodes(manifest: dict, resource_type: str) -> dict[str, dict]:
    return {
        uid: n
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] == resource_type and n["package_name"] == "mirante"
    }


@pytest.fixture(scope="module")
def models(manifest) -> dict[str, dict]:
    found = project_nodes(manifest, "model")
    assert found, "the manifest has no model"
    return found


def undocumented(node: dict) -> list[str]:
    missing = [] if node["description"].strip() else ["<model>"]
    return missing + [c for c, col in node["columns"].items() if not col["description"].strip()]


def test_parse_finds_the_layers(models):
    assert {n["schema"] for n in models.values()} == {"staging", "intermediate", "marts"}
    assert {
        "dim_municipio",
        "fct_saneamento_prestador_ano",
        "agg_saneamento_uf_ano",
        "agg_saneamento_brasil_ano",
    } <= {n["name"] for n in models.values()}


def test_every_model_and_column_is_described(models):
    gaps = {n["name"]: m for n in models.values() if (m := undocumented(n))}
    assert not gaps, f"missing descriptions: {gaps}"
    assert all(n["columns"] for n in models.values()), "a model documents no column"


def test_every_source_table_and_column_is_described(manifest):
    sources = {s["unique_id"]: s for s in manifest["sources"].values() if s["package_name"] == "mirante"}
    assert {s["source_name"] for s in sources.values()} == {
        "raw_snis",
        "raw_ibge",
        "raw_esus",
        "raw_crm",
        "raw_erp",
        "raw_arquivos_financeiros",
        "raw_bcb",
        # the ledger's change data capture (loaders/razao)
        "raw_razao",
        "raw_eventos_pagamento",
        # what Mirante records about its own operation (SLA evaluations and breaches)
        "operacao",
    }
    gaps = {}
    for s in sources.values():
        missing = [] if s["description"].strip() and s["source_description"].strip() else ["<table>"]
        missing += [c for c, col in s["columns"].items() if not col["description"].strip()]
        if missing or not s["columns"]:
            gaps[f"{s['source_name']}.{s['name']}"] = missing or ["<no columns>"]
    assert not gaps, f"missing source descriptions: {gaps}"


def test_every_mart_enforces_a_typed_contract(models):
    marts = [n for n in models.values() if n["schema"] == "marts"]
    assert marts
    for node in marts:
        materialized = node["config"]["materialized"]
        assert materialized in ("table", "incremental"), node["name"]
        if materialized == "incremental":  # a contract on an incremental model needs this
            assert node["config"]["on_schema_change"] in ("append_new_columns", "fail"), node["name"]
        assert node["config"]["contract"]["enforced"] is True, node["name"]
        untyped = [c for c, col in node["columns"].items() if not col.get("data_type")]
        assert not untyped, f"{node['name']}: columns without data_type {untyped}"


def test_every_model_is_tested(manifest, models):
    tested = {t.get("attached_node") for t in project_nodes(manifest, "test").values()}
    tested |= {t["depends_on"]["nodes"][0] for t in manifest.get("unit_tests", {}).values()}
    assert set(models) <= tested, f"models without tests: {sorted(set(models) - tested)}"


def test_the_docs_open_on_the_project_overview(manifest):
    """dbt docs show the project's `__overview__` (layers, domains, how to navigate) instead of dbt's
    generic welcome page, and it names every mart domain folder."""
    overview = manifest["docs"].get("doc.mirante.__overview__")
    assert overview, "dbt_project/models/overview.md must define {% docs __overview__ %}"
    domains = {
        p.name
        for p in (Path(__file__).resolve().parents[1] / "dbt_project/models/marts").iterdir()
        if p.is_dir()
    }
    assert domains and all(f"marts/{d}" in overview["block_contents"] for d in domains)
