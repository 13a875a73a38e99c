"""`mirante metrics` and the data API's /metrics as Prometheus sees them, end to end.

Over a copy of the Dagster instance the `built` fixture wrote (the whole graph materialized once),
the exporter (orchestration/metrics.py) and the data API (api/app.py) are served on free loopback
ports; the real `prometheus` binary scrapes them with monitoring/prometheus.yml (ports and intervals
substituted) and evaluates monitoring/alerts.yml, and the real Alertmanager, configured from
monitoring/alertmanager.yml, posts to a webhook receiver on loopback. Then a trivial job with a
succeeding and a failing op runs in that instance: its failure is counted, the alert fires and the
webhook receives it. Every series family is then read back from Prometheus's HTTP API and compared
with what the instance and the warehouse say, read independently here. The same Prometheus (one
per module) then answers every panel query of the Grafana dashboards (monitoring/grafana).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import math
import re
import shutil
import socket
import subprocess
import threading
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest
import requests
import yaml
from dagster import AssetKey, DagsterInstance, job, op

from mirante import config
from mirante.orchestration import metrics

from .helpers import monitoring_tool

pytestmark = pytest.mark.integration

MONITORING = config.ROOT / "monitoring"
PROBE_JOB = "metrics_probe"
#: the `job` label Prometheus gives the series of each scrape target (the exporter's own `job`
#: label, a Dagster job, wins: honor_labels in monitoring/prometheus.yml)
TARGET_JOBS = {("job", "mirante"), ("job", "mirante_api")}


@op
def probe_succeeds() -> int:
    return 1


@op
def probe_fails(n: int) -> None:
    raise RuntimeError(f"probe failure after {n} succeeding op")


@job
def metrics_probe():
    probe_fails(probe_succeeds())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check, timeout: float = 45.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


class Receiver(http.server.BaseHTTPRequestHandler):
    """The webhook: keeps every JSON body Alertmanager posts."""

    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def prometheus_config(exporter: int, api: int, alertmanager: int) -> dict:
    """monitoring/prometheus.yml with the test's ports, 1 s intervals, rule files by absolute path."""
    cfg = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in cfg["scrape_configs"]}
    assert targets == {"mirante": ["127.0.0.1:9108"], "mirante_api": ["127.0.0.1:8000"]}
    ports = {"mirante": exporter, "mirante_api": api}
    cfg["global"].update(scrape_interval="1s", evaluation_interval="1s")
    cfg["rule_files"] = [str(MONITORING / f) for f in cfg["rule_files"]]
    cfg["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{alertmanager}"]}]
    for j in cfg["scrape_configs"]:
        # an exporter scrape reads ~500 check summaries from SQLite: 2-4 s on 2 busy cores
        j.update(
            {"scrape_interval": "5s", "scrape_timeout": "5s"}
            if j["job_name"] == "mirante"
            else {"scrape_interval": "1s", "scrape_timeout": "1s"}
        )
        j["static_configs"] = [{"targets": [f"127.0.0.1:{ports[j['job_name']]}"]}]
    return cfg


def alertmanager_config(webhook: str) -> dict:
    """monitoring/alertmanager.yml with the placeholder URL replaced by the loopback receiver (what
    `make alertmanager-config` does with MIRANTE_ALERT_WEBHOOK_URL) and no wait before sending."""
    text = (MONITORING / "alertmanager.yml").read_text()
    assert "http://mirante-alert-webhook.invalid/" in text
    cfg = yaml.safe_load(text.replace("http://mirante-alert-webhook.invalid/", webhook))
    cfg["route"].update(group_wait="0s", group_interval="1s")
    return cfg


@dataclasses.dataclass
class Stack:
    """The module's running Prometheus (`base`) scraping the exporter and the data API (`api`) over
    `instance_home` (a copy of the built graph's instance), with the exporter's catalogue `cat`."""

    base: str
    api: str
    instance_home: Path
    cat: metrics.Catalogue

    def answer(self, q: str) -> dict:
        return requests.get(f"{self.base}/api/v1/query", params={"query": q}, timeout=10).json()

    def query(self, q: str) -> dict[tuple, float]:
        try:
            answer = self.answer(q)
        except requests.ConnectionError:
            return {}
        assert answer["status"] == "success", answer
        # keys: the series' labels without the name and the target's instance and job
        return {
            tuple(
                sorted(
                    (k, v)
                    for k, v in r["metric"].items()
                    if k not in ("__name__", "instance") and (k, v) not in TARGET_JOBS
                )
            ): float(r["value"][1])
            for r in answer["data"]["result"]
        }

    def one(self, q: str) -> float:
        found = self.query(q)
        assert len(found) == 1, (q, found)
        return next(iter(found.values()))


@pytest.fixture(scope="module")
def stack(built, built_dagster_home, server, tmp_path_factory):
    """Over a copy of the built graph's instance (the probe run is added to the copy only): the
    exporter (Mirante's catalogue plus the probe job, as if the definitions had it), the data API,
    the webhook receiver, Alertmanager and Prometheus, all on loopback, until both targets are up.
    Every process started here is stopped (by PID) at the end."""
    from mirante.api import dashboard
    from mirante.api.app import create_app

    prometheus = monitoring_tool("prometheus")
    alertmanager = monitoring_tool("prometheus-alertmanager")
    tmp_path = tmp_path_factory.mktemp("metrics")
    instance_home = tmp_path / "dagster"
    shutil.copytree(built_dagster_home, instance_home)

    cat = metrics.catalogue()
    cat = dataclasses.replace(cat, jobs=(*cat.jobs, PROBE_JOB))
    collector = metrics.collector_for(instance_home, cat)
    started: list[subprocess.Popen] = []
    with contextlib.ExitStack() as stop:
        exporter, _thread = metrics.serve(0, "127.0.0.1", collector)
        stop.callback(exporter.shutdown)
        receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        stop.callback(receiver.shutdown)
        Receiver.received = []
        api = stop.enter_context(dashboard.serving(create_app(server.url("api"))))

        @stop.callback
        def stop_processes():
            for proc in started:
                proc.terminate()
            for proc in started:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

        am_port, prom_port = free_port(), free_port()
        am_cfg = tmp_path / "alertmanager.yml"
        am_cfg.write_text(yaml.safe_dump(alertmanager_config(f"http://127.0.0.1:{receiver.server_port}/")))
        started.append(
            subprocess.Popen(
                [
                    alertmanager,
                    f"--config.file={am_cfg}",
                    f"--storage.path={tmp_path / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                stdout=(tmp_path / "alertmanager.log").open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        prom_cfg = tmp_path / "prometheus.yml"
        prom_cfg.write_text(
            yaml.safe_dump(prometheus_config(exporter.server_port, int(api.rsplit(":", 1)[1]), am_port))
        )
        started.append(
            subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={prom_cfg}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=(tmp_path / "prometheus.log").open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        found = Stack(f"http://127.0.0.1:{prom_port}", api, instance_home, cat)
        wait_until("both targets up", lambda: found.query("count(up == 1)").get(()) == 2)
        yield found


def test_prometheus_scrapes_every_series_and_a_failed_run_alerts(stack, server):
    api, instance_home, cat, query, one = stack.api, stack.instance_home, stack.cat, stack.query, stack.one
    assert requests.get(f"{api}/health", timeout=10).status_code == 200
    assert requests.get(f"{api}/v1/marts", timeout=10).status_code == 401
    assert requests.get(f"{api}/v1/nao_existe", timeout=10).status_code == 401
    api_metrics = requests.get(f"{api}/metrics", timeout=10)
    assert api_metrics.status_code == 200  # open: no key
    # the first scrape saw no probe run: its FAILURE series starts at 0
    assert wait_until("a probe series", lambda: query(f'mirante_runs_total{{job="{PROBE_JOB}"}}'))
    assert one(f'mirante_runs_total{{job="{PROBE_JOB}",status="FAILURE"}}') == 0

    with DagsterInstance.from_config(str(instance_home)) as instance:
        result = metrics_probe.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success

    wait_until(
        "the probe's failure in Prometheus",
        lambda: query(f'mirante_runs_total{{job="{PROBE_JOB}",status="FAILURE"}} == 1'),
    )
    firing = wait_until(
        "MiranteJobFailed firing",
        lambda: query(f'ALERTS{{alertname="MiranteJobFailed",alertstate="firing",job="{PROBE_JOB}"}}'),
    )
    assert len(firing) == 1
    notified = wait_until(
        "the webhook to receive MiranteJobFailed",
        lambda: [
            a
            for body in Receiver.received
            for a in body["alerts"]
            if a["labels"]["alertname"] == "MiranteJobFailed" and a["status"] == "firing"
        ],
    )
    assert notified[0]["labels"]["job"] == PROBE_JOB
    assert notified[0]["annotations"]["summary"] == f"Dagster job {PROBE_JOB} failed"

    # ---- every family, against the instance and the warehouse read here
    runs = query("mirante_runs_total")
    assert runs[(("job", PROBE_JOB), ("status", "FAILURE"))] == 1
    assert runs[(("job", "mirante_all"), ("status", "SUCCESS"))] == 1
    assert runs[(("job", "esus_pull"), ("status", "SUCCESS"))] == 1
    assert runs[(("job", "mirante_all"), ("status", "FAILURE"))] == 0
    assert one('mirante_run_duration_seconds_count{job="mirante_all"}') == 1
    assert one(f'mirante_run_duration_seconds_count{{job="{PROBE_JOB}"}}') == 1
    assert one('mirante_run_duration_seconds_bucket{job="mirante_all",le="+Inf"}') == 1

    with DagsterInstance.from_config(str(instance_home)) as instance:
        ibge = instance.get_latest_materialization_event(AssetKey(["raw_ibge", "municipios"]))
        step = instance.get_run_step_stats(ibge.run_id, step_keys=["raw_ibge"])[0]
        dim = instance.get_latest_materialization_event(AssetKey(["marts", "dim_municipio"]))
    with psycopg.connect(server.url("transformer")) as conn:
        municipios = conn.execute("select count(*) from raw_ibge.municipios").fetchone()[0]
        latest_day = dict(
            conn.execute(
                "select id_municipio, max(co_dim_tempo) from raw_esus.tb_fat_atendimento_individual "
                "group by 1"
            ).fetchall()
        )
    assert one('mirante_rows_loaded{schema="raw_ibge",table="municipios"}') == municipios == 5571
    loads = query("mirante_load_duration_seconds")
    # every dlt pipeline of the Definitions (by rule: a new loader is one more)
    assert {dict(k)["pipeline"] for k in loads} == {pipeline for pipeline, _ in cat.dlt_ops.values()}
    assert {"snis", "ibge", "crm", "erp"} <= {dict(k)["pipeline"] for k in loads}
    assert loads[(("op", "raw_ibge"), ("pipeline", "ibge"))] == pytest.approx(step.end_time - step.start_time)
    dbt = query("mirante_dbt_model_duration_seconds")
    assert len(dbt) == len(cat.dbt_models)
    assert dbt[(("model", "dim_municipio"),)] == pytest.approx(
        dim.asset_materialization.metadata["Execution Duration"].value
    )
    checks = query("mirante_asset_check_passed")
    assert len(checks) == len(cat.checks)  # every check ran in the built graph
    failed = [dict(k) for k, v in checks.items() if v == 0]
    # the one failing check: the warning on the Alagoas cut (README, "Reconciliation")
    assert failed == [
        {
            "asset": "raw_snis/agua_esgoto_agregado",
            "check": "reconciliacao_rodape",
            "severity": "WARN",
        }
    ]
    fresh = query("mirante_seconds_since_materialization")
    assert {dict(k)["asset"] for k in fresh} == {"/".join(p) for p in cat.watched}
    assert all(0 < v < float("inf") for v in fresh.values())  # all materialized by `built`
    late = query("mirante_esus_days_late")
    expected = {
        i: (date.today() - date(d // 10000, d // 100 % 100, d % 100)).days for i, d in latest_day.items()
    }
    # latest day with ANY fact (the exporter) is at least as recent as that of one fact
    assert {dict(k)["id_municipio"] for k in late} == set(expected)
    assert all(late[(("id_municipio", i),)] <= days for i, days in expected.items())
    # volume: the latest day's care records and the mean of the 7 days with records before it
    with psycopg.connect(server.url("transformer")) as conn:
        daily: dict[str, list[int]] = {}
        for ident, n in conn.execute(
            "select id_municipio, count(*) from raw_esus.tb_fat_atendimento_individual "
            "group by id_municipio, co_dim_tempo order by id_municipio, co_dim_tempo desc"
        ):
            daily.setdefault(ident, []).append(n)
    latest_records = query("mirante_esus_records_latest_day")
    assert {dict(k)["id_municipio"]: v for k, v in latest_records.items()} == {
        i: daily.get(i, [0])[0] for i in expected
    }
    means = {dict(k)["id_municipio"]: v for k, v in query("mirante_esus_records_mean_7d").items()}
    assert means.keys() == {i for i in expected if len(daily.get(i, [])) > 1}
    assert all(v == pytest.approx(sum(daily[i][1:8]) / len(daily[i][1:8])) for i, v in means.items())
    assert one("mirante_exporter_scrape_errors_total") == 0

    api_requests = query("mirante_api_requests_total")
    assert api_requests[(("route", "/health"), ("status", "200"))] == 1
    assert api_requests[(("route", "/v1/marts"), ("status", "401"))] == 1
    assert api_requests[(("route", "/v1/{mart}"), ("status", "401"))] == 1
    assert not any("nao_existe" in dict(k)["route"] for k in api_requests)
    assert one('mirante_api_request_duration_seconds_count{route="/health"}') == 1


# ------------------------------------------------------------------------- Grafana panel queries

GRAFANA = config.ROOT / "monitoring" / "grafana" / "dashboards"
#: the series families each dashboard reads: its panels may use no other, and each must be in
#: Prometheus
EXPECTED_FAMILIES = {
    "pipeline": {
        "mirante_runs_total",
        "mirante_run_duration_seconds_bucket",
        "mirante_rows_loaded",
        "mirante_load_duration_seconds",
        "mirante_dbt_model_duration_seconds",
        "mirante_asset_check_passed",
        "mirante_seconds_since_materialization",
        "mirante_exporter_scrape_errors_total",
    },
    "esus": {"mirante_esus_days_late", "mirante_esus_records_latest_day", "mirante_esus_records_mean_7d"},
    "slas": {"mirante_sla_ok", "mirante_sla_target_seconds", "mirante_sla_observed_seconds"},
    "api": {"up", "mirante_api_requests_total", "mirante_api_request_duration_seconds_bucket"},
}
#: what Grafana puts in place of its variables (a range as long as the test's Prometheus has data
#: is fine: rate() and increase() use the samples there are)
VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s", "$id_municipio": ".*"}
FAMILY = re.compile(r"\b(mirante_[a-z0-9_]+|up)\b(?!\s*\()")


def substitute(expr: str) -> str:
    for name, value in sorted(VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a variable the test does not know: {expr}"
    return expr


def test_every_dashboard_is_tested():
    assert sorted(p.stem for p in GRAFANA.glob("*.json")) == sorted(EXPECTED_FAMILIES)


@pytest.mark.parametrize("name", sorted(EXPECTED_FAMILIES))
def test_every_grafana_panel_query_answers(stack, name):
    """Every target of every panel of the dashboard, variables substituted, asked to the module's
    Prometheus: an error, an empty result or only NaN fails."""
    model = json.loads((GRAFANA / f"{name}.json").read_text())
    targets = [(p["title"], t["expr"]) for p in model["panels"] for t in p["targets"]]
    variables = [v["definition"] for v in model["templating"]["list"]]
    texts = [re.sub(r'"[^"]*"', '""', text) for text in [e for _, e in targets] + variables]
    used = {m for text in texts for m in FAMILY.findall(text)}  # names outside label values
    assert used == EXPECTED_FAMILIES[name]

    # rate() and increase() need two samples: two scrapes of each target (exporter every 5 s)
    wait_until(
        "two scrapes of each target",
        lambda: stack.query("min(count_over_time(up[1m])) >= 2"),
    )
    families = set(requests.get(f"{stack.base}/api/v1/label/__name__/values", timeout=10).json()["data"])
    assert EXPECTED_FAMILIES[name] <= families, EXPECTED_FAMILIES[name] - families

    for title, expr in targets:
        q = substitute(expr)
        answer = stack.answer(q)
        assert answer["status"] == "success", (name, title, q, answer)
        data = answer["data"]
        result = [data["result"]] if data["resultType"] == "scalar" else data["result"]
        assert result, f"{name}: panel {title!r} has no data: {q}"
        values = [float(r[1] if data["resultType"] == "scalar" else r["value"][1]) for r in result]
        assert any(not math.isnan(v) for v in values), f"{name}: panel {title!r} is all NaN: {q}"
    for definition in variables:  # label_values(<family>, <label>): the label has values
        family, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", definition).groups()
        assert stack.query(f"count by ({label}) ({family})"), definition
