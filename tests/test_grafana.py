"""The Grafana dashboards as code (monitoring/grafana): the checked-in JSON is the generator's output,
every panel reads the provisioned datasource, and the provisioning files point at the dashboards.
The panels' queries themselves run against a real Prometheus in tests/test_metrics.py. Also: the
Operação page's limits (orchestration/operacao.py) are those of monitoring/alerts.yml."""

from __future__ import annotations

import importlib.util
import json
import re

import yaml

from mirante import config
from mirante.orchestration import operacao

GRAFANA = config.ROOT / "monitoring" / "grafana"


def load_build():
    spec = importlib.util.spec_from_file_location("mirante_grafana_build", GRAFANA / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboards() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def test_checked_in_json_is_the_generators_output():
    build = load_build()
    files = sorted(p.name for p in (GRAFANA / "dashboards").iterdir())
    assert files == sorted(f"{name}.json" for name in build.DASHBOARDS)
    for name, make in build.DASHBOARDS.items():
        assert (GRAFANA / "dashboards" / f"{name}.json").read_text() == build.render(make()), (
            f"{name}.json is stale: run .venv/bin/python monitoring/grafana/build.py"
        )


def test_every_panel_reads_the_provisioned_datasource():
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "mirante.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://127.0.0.1:9090"
    uids = set()
    for name, model in dashboards().items():
        assert model["uid"] == f"mirante-{name}" and model["panels"], name
        ids = [p["id"] for p in model["panels"]]
        assert len(set(ids)) == len(ids), f"{name}: panel ids must be unique"
        for p in model["panels"]:
            assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), (name, p["title"])
            for ref in (p["datasource"], *(t["datasource"] for t in p["targets"])):
                uids.add(ref["uid"])
            # panels inside the 24-column grid, none overlapping the one before on its row
            assert 0 <= p["gridPos"]["x"] and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        for v in model["templating"]["list"]:
            uids.add(v["datasource"]["uid"])
    assert uids == {source["uid"]}


def test_dashboard_provider_points_at_the_dashboards():
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "mirante.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"].replace("${MIRANTE_ROOT}", str(config.ROOT))
    assert sorted(p.name for p in (GRAFANA / "dashboards").glob("*.json")) == sorted(
        p.name for p in config.ROOT.joinpath(path).glob("*.json")
    )
    assert len(list(config.ROOT.joinpath(path).glob("*.json"))) == 4


def test_operacao_limits_are_the_alerts():
    rules = {
        r["alert"]: r["expr"]
        for g in yaml.safe_load((config.ROOT / "monitoring" / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }

    def hours(expr: str) -> int:
        return int(re.search(r">\s*(\d+)\s*\*\s*3600", expr).group(1)) * 3600

    assert operacao.STALE_AFTER_S == {
        "raw": hours(rules["MiranteSourceStale"]),
        "marts": hours(rules["MiranteMartStale"]),
    }
    assert rules["MiranteMunicipalityLate"] == f"mirante_esus_days_late >= {operacao.LATE_DAYS}"
