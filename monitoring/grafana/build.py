"""Mirante's Grafana dashboards, as code: writes monitoring/grafana/dashboards/*.json (checked in).

    .venv/bin/python monitoring/grafana/build.py

Why a generator: four dashboards share one datasource, one layout and one panel shape; the JSON model
repeats all of it per panel. Edit here and regenerate: tests/test_grafana.py fails when the checked-in
JSON differs from this output, and tests/test_metrics.py runs every panel's query against a real
Prometheus scraping the exporter and the data API (an error or an empty answer fails).

Series: orchestration/metrics.py (the exporter) and api/metrics.py (the data API). The SLA dashboard
reads mirante_sla_ok / mirante_sla_target_seconds / mirante_sla_observed_seconds {process}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
#: the datasource of every panel: monitoring/grafana/provisioning/datasources/mirante.yml
DATASOURCE = {"type": "prometheus", "uid": "mirante-prometheus"}
WIDTH = 24


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict:
    return {
        "datasource": DATASOURCE,
        "refId": ref,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "instant": instant,
        "range": not instant,
    }


def panel(
    kind: str, title: str, targets: list[dict], w: int = 12, h: int = 8, unit: str = "short", **extra
) -> dict:
    """A panel of `kind` (timeseries, stat, bargauge, table); `thresholds`: [(value, color)] after green."""
    steps = [{"color": "green", "value": None}]
    steps += [{"color": color, "value": value} for value, color in extra.pop("thresholds", [])]
    out = {
        "type": kind,
        "title": title,
        "description": extra.pop("description", ""),
        "datasource": DATASOURCE,
        "gridPos": {"w": w, "h": h},
        "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": extra.pop("options", {}),
    }
    if kind == "stat":
        out["options"] = {
            "colorMode": "background",
            "graphMode": "none",
            "reduceOptions": {"calcs": ["lastNotNull"]},
        }
    if kind == "bargauge":
        out["options"] = {"displayMode": "basic", "orientation": "horizontal", "showUnfilled": True}
    out.update(extra)
    return out


def dashboard(uid: str, title: str, description: str, panels: list[dict], variables: list[dict] = ()) -> dict:
    """The dashboard model, panels laid out left to right in rows of WIDTH columns."""
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > WIDTH:
            x, y, row_h = 0, y + row_h, 0
        p["id"], p["gridPos"] = i, {"x": x, "y": y, "w": w, "h": h}
        x, row_h = x + w, max(row_h, h)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["mirante"],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "timezone": "browser",
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": list(variables)},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["mirante"], "title": "Mirante", "asDropdown": True}],
        "panels": panels,
    }


def pipeline() -> dict:
    return dashboard(
        "mirante-pipeline",
        "Mirante — pipeline health",
        "Runs, loads, dbt models, asset checks and freshness, read from Dagster's storage by `mirante metrics`.",
        [
            panel(
                "stat",
                "Failed runs in the range",
                [target('sum(increase(mirante_runs_total{status="FAILURE"}[$__range]))', instant=True)],
                w=6,
                h=5,
                thresholds=[(1, "red")],
            ),
            panel(
                "stat",
                "Failing asset checks",
                [target("count(mirante_asset_check_passed == 0) or vector(0)", instant=True)],
                w=6,
                h=5,
                thresholds=[(1, "orange")],
            ),
            panel(
                "stat",
                "Stale raw sources and marts",
                [
                    target(
                        'count(mirante_seconds_since_materialization{asset=~"raw_.+"} > 30 * 3600 '
                        'or mirante_seconds_since_materialization{asset=~"marts/.+"} > 36 * 3600) or vector(0)',
                        instant=True,
                    )
                ],
                w=6,
                h=5,
                thresholds=[(1, "orange")],
                description="Older than the alerts' limits: raw 30 h (MiranteSourceStale), marts 36 h (MiranteMartStale).",
            ),
            panel(
                "stat",
                "Exporter scrape errors (1 h)",
                [target("sum(increase(mirante_exporter_scrape_errors_total[1h]))", instant=True)],
                w=6,
                h=5,
                thresholds=[(1, "red")],
            ),
            panel(
                "timeseries",
                "Runs by job and status",
                [target("sum by (job, status) (mirante_runs_total)", "{{job}} {{status}}")],
            ),
            panel(
                "timeseries",
                "Failures by job (per hour)",
                [target('sum by (job) (increase(mirante_runs_total{status="FAILURE"}[1h]))', "{{job}}")],
            ),
            panel(
                "timeseries",
                "Run duration p50 / p95 by job (all finished runs)",
                [
                    target(
                        "histogram_quantile(0.5, sum by (job, le) (mirante_run_duration_seconds_bucket))",
                        "{{job}} p50",
                    ),
                    target(
                        "histogram_quantile(0.95, sum by (job, le) (mirante_run_duration_seconds_bucket))",
                        "{{job}} p95",
                    ),
                ],
                unit="s",
            ),
            panel(
                "bargauge",
                "Rows loaded (latest load of each raw table)",
                [target("sort_desc(mirante_rows_loaded)", "{{schema}}.{{table}}", instant=True)],
            ),
            panel(
                "bargauge",
                "dlt load duration by pipeline (latest load)",
                [target("mirante_load_duration_seconds", "{{pipeline}}", instant=True)],
                unit="s",
            ),
            panel(
                "bargauge",
                "dbt model durations, top 10 (latest build)",
                [target("topk(10, mirante_dbt_model_duration_seconds)", "{{model}}", instant=True)],
                unit="s",
            ),
            panel(
                "table",
                "Asset checks, failing first (1 passed, 0 failed)",
                [target("bottomk(20, mirante_asset_check_passed)", instant=True)],
                w=24,
            ),
            panel(
                "bargauge",
                "Time since the latest materialization",
                [target("sort_desc(mirante_seconds_since_materialization)", "{{asset}}", instant=True)],
                w=24,
                h=14,
                unit="s",
                thresholds=[(30 * 3600, "red")],
            ),
        ],
    )


MUNICIPIO = {
    "name": "id_municipio",
    "label": "Município (IBGE)",
    "type": "query",
    "datasource": DATASOURCE,
    "query": {"query": "label_values(mirante_esus_days_late, id_municipio)", "refId": "id_municipio"},
    "definition": "label_values(mirante_esus_days_late, id_municipio)",
    "refresh": 2,
    "multi": True,
    "includeAll": True,
    "allValue": ".*",
    "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    "sort": 1,
}


def esus() -> dict:
    sel = '{id_municipio=~"$id_municipio"}'
    return dashboard(
        "mirante-esus",
        "Mirante — e-SUS municipalities",
        "Lateness and volume of each enabled municipality's PEC deliveries (raw_esus, loaders/esus/monitoring.py).",
        [
            panel(
                "stat",
                "Municipalities 2 or more days late",
                [target(f"count(mirante_esus_days_late{sel} >= 2) or vector(0)", instant=True)],
                w=8,
                h=5,
                thresholds=[(1, "red")],
                description="The MiranteMunicipalityLate alert's condition.",
            ),
            panel(
                "stat",
                "Municipalities watched",
                [target(f"count(mirante_esus_days_late{sel})", instant=True)],
                w=8,
                h=5,
            ),
            panel(
                "stat",
                "Care records of the latest day (sum)",
                [target(f"sum(mirante_esus_records_latest_day{sel})", instant=True)],
                w=8,
                h=5,
            ),
            panel(
                "bargauge",
                "Days late per municipality",
                [target(f"sort_desc(mirante_esus_days_late{sel})", "{{id_municipio}}", instant=True)],
                thresholds=[(2, "red")],
            ),
            panel(
                "timeseries",
                "Days late over time",
                [target(f"mirante_esus_days_late{sel}", "{{id_municipio}}")],
            ),
            panel(
                "bargauge",
                "Volume: latest day / mean of the 7 days before",
                [
                    target(
                        f"mirante_esus_records_latest_day{sel} / mirante_esus_records_mean_7d{sel}",
                        "{{id_municipio}}",
                        instant=True,
                    )
                ],
                unit="percentunit",
                thresholds=[(1.5, "orange")],
                description="1 = as many care records as the 7-day mean; the Dagster `volume` check flags "
                "a change beyond 50 % (or 3 sigma for small municipalities).",
            ),
            panel(
                "timeseries",
                "Care records: latest day and 7-day mean",
                [
                    target(f"mirante_esus_records_latest_day{sel}", "{{id_municipio}} latest day"),
                    target(f"mirante_esus_records_mean_7d{sel}", "{{id_municipio}} 7-day mean"),
                ],
            ),
        ],
        variables=[MUNICIPIO],
    )


def slas() -> dict:
    return dashboard(
        "mirante-slas",
        "Mirante — SLAs",
        "Delivery SLAs per process: state, target and observed (mirante_sla_* of the exporter).",
        [
            panel(
                "stat",
                "SLAs breached",
                [target("count(mirante_sla_ok == 0) or (count(mirante_sla_ok) * 0)", instant=True)],
                w=8,
                h=5,
                thresholds=[(1, "red")],
            ),
            panel(
                "table",
                "SLA state by process (1 within, 0 breached)",
                [target("mirante_sla_ok", instant=True)],
                w=16,
                h=5,
            ),
            panel(
                "bargauge",
                "Observed / target",
                [
                    target(
                        "mirante_sla_observed_seconds / mirante_sla_target_seconds",
                        "{{process}}",
                        instant=True,
                    )
                ],
                unit="percentunit",
                thresholds=[(1, "red")],
            ),
            panel(
                "timeseries",
                "Observed and target by process",
                [
                    target("mirante_sla_observed_seconds", "{{process}} observed"),
                    target("mirante_sla_target_seconds", "{{process}} target"),
                ],
                unit="s",
            ),
        ],
    )


def api() -> dict:
    requests = "mirante_api_requests_total"
    buckets = "mirante_api_request_duration_seconds_bucket"
    return dashboard(
        "mirante-api",
        "Mirante — data API",
        "Requests, errors and latency of the data API by route template (api/metrics.py).",
        [
            panel("stat", "API up", [target('up{job="mirante_api"}', instant=True)], w=6, h=5),
            panel(
                "stat",
                "5xx share (5 min)",
                [
                    target(
                        f'(sum(rate({requests}{{status=~"5.."}}[5m])) or vector(0)) / sum(rate({requests}[5m]))',
                        instant=True,
                    )
                ],
                w=6,
                h=5,
                unit="percentunit",
                thresholds=[(0.05, "red")],
                description="The MiranteApiErrors alert fires above 5 % for 5 minutes.",
            ),
            panel(
                "stat",
                "Requests per second",
                [target(f"sum(rate({requests}[$__rate_interval]))", instant=True)],
                w=6,
                h=5,
                unit="reqps",
            ),
            panel(
                "stat",
                "Refused (401/403) per second",
                [
                    target(
                        f'sum(rate({requests}{{status=~"401|403"}}[$__rate_interval])) or vector(0)',
                        instant=True,
                    )
                ],
                w=6,
                h=5,
                unit="reqps",
            ),
            panel(
                "timeseries",
                "Request rate by route and status",
                [
                    target(
                        f"sum by (route, status) (rate({requests}[$__rate_interval]))", "{{route}} {{status}}"
                    )
                ],
                unit="reqps",
            ),
            panel(
                "timeseries",
                "5xx rate",
                [target(f'sum(rate({requests}{{status=~"5.."}}[$__rate_interval])) or vector(0)', "5xx")],
                unit="reqps",
            ),
            panel(
                "timeseries",
                "Latency p50 by route",
                [
                    target(
                        f"histogram_quantile(0.5, sum by (route, le) (rate({buckets}[$__rate_interval])))",
                        "{{route}}",
                    )
                ],
                unit="s",
            ),
            panel(
                "timeseries",
                "Latency p99 by route",
                [
                    target(
                        f"histogram_quantile(0.99, sum by (route, le) (rate({buckets}[$__rate_interval])))",
                        "{{route}}",
                    )
                ],
                unit="s",
            ),
        ],
    )


#: file name (without .json) -> builder
DASHBOARDS = {"pipeline": pipeline, "esus": esus, "slas": slas, "api": api}


def render(model: dict) -> str:
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, build in DASHBOARDS.items():
        (OUT / f"{name}.json").write_text(render(build()), encoding="utf-8")
        print(f"wrote {(OUT / f'{name}.json').relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
