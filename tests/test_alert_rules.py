"""The shipped monitoring files pass Prometheus's and Alertmanager's own checkers: `promtool check
rules` and `promtool check config` on monitoring/, the rule unit tests of
monitoring/tests/alerts_test.yml (`promtool test rules`), and `amtool check-config` on
monitoring/alertmanager.yml and on the file `make alertmanager-config` renders from it."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from mirante import config

from .helpers import monitoring_tool

MONITORING = config.ROOT / "monitoring"
#: every alert issue 11 asks for (other people's work and dashboards refer to them)
ALERTS = {
    "MiranteJobFailed",
    "MiranteSourceStale",
    "MiranteMartStale",
    "MiranteMunicipalityLate",
    "MiranteApiErrors",
    "MiranteExporterDown",
    "MiranteSlaBreached",
    # the ledger's replication slot (loaders/razao, docs/cdc.md)
    "MiranteRazaoSlotRetemWal",
    "MiranteRazaoSlotInvalidado",
}


def run(*cmd, cwd=MONITORING) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def test_rules_are_valid_and_complete():
    out = run(monitoring_tool("promtool"), "check", "rules", "alerts.yml")
    assert f"SUCCESS: {len(ALERTS)} rules found" in out
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == ALERTS


def test_rule_unit_tests_pass_and_cover_every_alert():
    out = run(monitoring_tool("promtool"), "test", "rules", "tests/alerts_test.yml")
    assert "SUCCESS" in out
    cases = yaml.safe_load((MONITORING / "tests" / "alerts_test.yml").read_text())["tests"]
    tested = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert tested == ALERTS  # each alert is seen firing at least once


def test_prometheus_config_is_valid():
    out = run(monitoring_tool("promtool"), "check", "config", "prometheus.yml")
    assert "is valid prometheus config file syntax" in out


def test_a_broken_rule_is_refused(tmp_path):
    """The checker used above does refuse a bad expression (so its SUCCESS means something)."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(mirante_runs_total[5m]\n"
    )
    done = subprocess.run([monitoring_tool("promtool"), "check", "rules", str(bad)], capture_output=True)
    assert done.returncode != 0


@pytest.mark.parametrize("rendered", [False, True], ids=["shipped", "rendered"])
def test_alertmanager_config_is_valid(rendered, tmp_path):
    path = MONITORING / "alertmanager.yml"
    if rendered:  # as `make alertmanager-config` writes it
        url = "https://hooks.example.org/mirante?token=abc"
        subprocess.run(
            ["make", "-s", "alertmanager-config", "PYTHON=python3", f"ALERTMANAGER_CONFIG={tmp_path}/am.yml"],
            cwd=config.ROOT,
            env={"PATH": "/usr/bin:/bin", "MIRANTE_ALERT_WEBHOOK_URL": url, "HOME": str(tmp_path)},
            check=True,
            capture_output=True,
        )
        path = tmp_path / "am.yml"
        assert path.stat().st_mode & 0o077 == 0  # a secret: owner only
        cfg = yaml.safe_load(path.read_text())
        assert cfg["receivers"][0]["webhook_configs"][0]["url"] == url
    out = run(monitoring_tool("amtool"), "check-config", str(path))
    assert "SUCCESS" in out
    cfg = yaml.safe_load(path.read_text())
    assert cfg["route"]["receiver"] == "webhook" and "routes" not in cfg["route"]  # everything to it
