"""`make lint` can fail: the conventions checker (dbt-score with dbt_project/score_rules/) flags
violations planted in a copy of the manifest, and sqlfluff flags a badly written model. No database:
dbt parse renders the profile's env_var()s without connecting, sqlfluff uses its jinja templater."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mirante.config import ROOT

DBT_PROJECT_DIR = ROOT / "dbt_project"
BIN = Path(sys.executable).parent
PARSE_ENV = {
    "MIRANTE_PG_HOST": "127.0.0.1",
    "MIRANTE_PG_PORT": "5432",
    "MIRANTE_TRANSFORMER_PASSWORD": "parse-only",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}

#: planted violation -> (item of the manifest that carries it, the rule that must flag it)
PLANTED = {
    "a new mart without a fct_/dim_/agg_ prefix": ("model.mirante.vendas_uf", "model_name_follows_layer"),
    "a staging model named off the layer": ("model.mirante.stg_ibge__estados", "model_name_follows_layer"),
    "a model without description": ("model.mirante.dim_municipio", "has_description"),
    "a column without description": ("model.mirante.agg_vacinacao_dose_mes", "columns_have_description"),
    "a model without data test": ("model.mirante.stg_ibge__regioes", "model_has_data_test"),
    "a mart without enforced contract": ("model.mirante.agg_saneamento_uf_ano", "mart_enforces_contract"),
    "a mart selecting from a source": ("model.mirante.agg_saneamento_brasil_ano", "mart_selects_no_source"),
    "a source table without freshness": ("source.mirante.raw_esus.tb_dim_cbo", "source_has_freshness"),
}


def fresh(manifest: Path) -> bool:
    """The manifest is newer than every model, test, macro and YAML file of the project."""
    if not manifest.exists():
        return False
    sources = [p for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in (".sql", ".yml", ".md")]
    return all(p.stat().st_mtime <= manifest.stat().st_mtime for p in sources if "target" not in p.parts)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    """The project's manifest: the one `make setup` wrote when it is up to date, else a fresh parse."""
    target = DBT_PROJECT_DIR / "target" / "manifest.json"
    if not fresh(target):
        out = tmp_path_factory.mktemp("dbt")
        result = subprocess.run(
            [str(BIN / "dbt"), "--no-use-colors", "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(out / "target"),
             "--log-path", str(out / "logs")],
            env={**os.environ, **PARSE_ENV},
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, f"dbt parse failed:\n{result.stdout}\n{result.stderr}"
        target = out / "target" / "manifest.json"
    return json.loads(target.read_text())


def plant(manifest: dict) -> dict:
    """A copy of the manifest with one violation of each rule (see PLANTED)."""
    m = copy.deepcopy(manifest)
    nodes, sources = m["nodes"], m["sources"]
    vendas_uf = nodes["model.mirante.vendas_uf"]
    vendas_uf["meta"].pop("api_v1_name")
    vendas_uf["config"]["meta"].pop("api_v1_name")
    nodes["model.mirante.stg_ibge__estados"]["name"] = "stg_estados"
    nodes["model.mirante.dim_municipio"]["description"] = ""
    next(iter(nodes["model.mirante.agg_vacinacao_dose_mes"]["columns"].values()))["description"] = ""
    for uid in [u for u, n in nodes.items() if n["resource_type"] == "test"]:
        if "model.mirante.stg_ibge__regioes" in nodes[uid]["depends_on"]["nodes"]:
            del nodes[uid]
    nodes["model.mirante.agg_saneamento_uf_ano"]["config"]["contract"]["enforced"] = False
    nodes["model.mirante.agg_saneamento_brasil_ano"]["depends_on"]["nodes"].append(
        "source.mirante.raw_snis.agua_esgoto_agregado"
    )
    sources["source.mirante.raw_esus.tb_dim_cbo"]["freshness"] = None
    return m


def dbt_score(manifest: Path) -> tuple[int, dict]:
    """Run dbt-score as `make lint` does (from dbt_project/, configured by pyproject.toml)."""
    result = subprocess.run(
        [str(BIN / "dbt-score"), "lint", "--format", "json", "--manifest", str(manifest)],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_conventions_checker_fails_on_planted_violations(manifest, tmp_path):
    planted = tmp_path / "manifest.json"
    planted.write_text(json.dumps(plant(manifest)))
    code, report = dbt_score(planted)
    assert code == 1, "dbt-score must exit 1 on a violation"
    results = report["evaluables"]
    flagged = {
        uid: {rule.rsplit(".", 1)[-1] for rule, r in item["results"].items() if r["result"] == "WARN"}
        for uid, item in results.items()
    }
    for what, (uid, rule) in PLANTED.items():
        assert rule in flagged[uid], f"{what}: {uid} not flagged by {rule} ({flagged[uid]})"
        assert not results[uid]["pass"], what
    # every other item passes, and no rule crashed (dbt-score scores a crashing rule as passed)
    failing = sorted(uid for uid, item in results.items() if not item["pass"])
    assert failing == sorted({uid for uid, _ in PLANTED.values()}), failing
    crashed = [
        (uid, r) for uid, item in results.items() for r, v in item["results"].items() if v["result"] == "ERR"
    ]
    assert not crashed, crashed
    assert {r.rsplit(".", 1)[-1] for item in results.values() for r in item["results"]} >= {
        rule for _, rule in PLANTED.values()
    }


BAD_MODEL = """SELECT ID_MUNICIPIO, count(*) AS n
from {{ ref('stg_ibge__municipios') }}  group by 1
"""


def sqlfluff(sql: str, path: str) -> subprocess.CompletedProcess:
    """sqlfluff lint of `sql` as if it were the model at `path` (its configuration: dbt_project/.sqlfluff)."""
    return subprocess.run(
        [str(BIN / "sqlfluff"), "lint", "--stdin-filename", path, "-"],
        input=sql,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sqlfluff_fails_on_a_badly_written_model():
    result = sqlfluff(BAD_MODEL, "dbt_project/models/staging/ibge/stg_ibge__planted.sql")
    assert result.returncode == 1, result.stdout + result.stderr
    for code in ("CP01", "LT01", "LT09"):  # upper case keyword, double space, targets on one line
        assert code in result.stdout, (code, result.stdout)


def test_sqlfluff_renders_a_model_with_the_project_macros():
    """A model that calls project macros lints clean through stdin: the configuration, the macros
    and dbt's builtins are found."""
    model = DBT_PROJECT_DIR / "models/staging/esus/stg_esus__atendimento_individual.sql"
    result = sqlfluff(model.read_text(), str(model.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
