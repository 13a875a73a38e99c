"""Resources and paths shared by the domain modules (built in one place).

Every external system reaches assets, checks and sensors as a resource built from
mirante.config, never through the environment: the warehouse (`warehouse`: connection URLs per
role, from MIRANTE_DATABASE_URL or the embedded server already running), and one resource per dlt
loader, keyed by its pipeline name (`snis`, `ibge`, `crm`, `erp`), whose settings are read from
mirante.config when a run starts. Their `overrides` (empty by default) let an operator point one
run elsewhere from the Dagster launchpad (e.g. `resources: {crm: {config: {overrides: {base_url:
...}}}}`); secrets are never resource config, so the UI never shows them. Operator alerts go out
through `alerts` (a Slack-compatible webhook, MIRANTE_ALERT_WEBHOOK_URL; orchestration/alerts.py).
"""

from __future__ import annotations

import http.client
import json
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource
from pydantic import Field

from mirante import config
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
        env = config.child_environment(defaults=_PARSE_ENV)
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


class Warehouse(ConfigurableResource):
    """The analytical PostgreSQL server (mirante.db.running_server): never started by a run."""

    def server(self) -> config.Server:
        from mirante import db

        return db.running_server()

    def url(self, role: str) -> str:
        return self.server().url(role)


class LoaderSettings(ConfigurableResource):
    """The settings of one loader (loaders/<source>/settings.py, `read_settings`), read when a
    run starts; `overrides` are passed to it (non-secret values only)."""

    loader: str = Field(description="pipeline name of the loader (loaders/<source>)")
    overrides: dict[str, str] = Field(
        default_factory=dict, description="settings for this run instead of mirante.config's"
    )

    def read(self):
        from mirante.loaders import all_loaders

        return all_loaders()[self.loader].read_settings(**self.overrides)


class Alerts(ConfigurableResource):
    """Operator alerts posted to a Slack-compatible incoming webhook: MIRANTE_ALERT_WEBHOOK_URL, read
    from mirante.config at each message (the URL holds the webhook's secret, so it is never
    resource config and never logged). Body: `{"text": ..., "mirante": {structured fields}}`.
    Connection errors, timeouts and 5xx are retried with backoff; a 4xx is logged and not retried.
    `send` says whether the message was delivered: the sensors keep what was not for their next tick."""

    timeout_s: float = Field(5.0, description="seconds one POST to the webhook may take")
    attempts: int = Field(3, description="POSTs per message on connection errors, timeouts and 5xx")
    backoff_s: float = Field(1.0, description="wait before the second attempt, doubled after each")

    def configured(self) -> bool:
        return config.alert_webhook_url() is not None

    def send(self, text: str, fields: dict | None = None, log: logging.Logger | None = None) -> bool:
        log = log or logging.getLogger("mirante.alerts")
        url = config.alert_webhook_url()
        if url is None:
            return False
        body = json.dumps({"text": text, "mirante": fields or {}}, ensure_ascii=False, default=str).encode()
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(
                url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
                return True
            except urllib.error.HTTPError as e:
                if e.code < 500:
                    log.error(
                        f"alert webhook refused the message with HTTP {e.code} ({_reason(e)}): not retried; "
                        "check MIRANTE_ALERT_WEBHOOK_URL. The alert stays pending for the next tick."
                    )
                    return False
                problem = f"HTTP {e.code}"
            except (OSError, http.client.HTTPException) as e:  # refused, reset, timed out, bad answer
                problem = type(getattr(e, "reason", e)).__name__
            if attempt < self.attempts:
                wait = self.backoff_s * 2 ** (attempt - 1)
                log.warning(
                    f"alert webhook attempt {attempt}/{self.attempts} failed ({problem}); retry in {wait:g} s"
                )
                time.sleep(wait)
        log.error(
            f"alert webhook unreachable after {self.attempts} attempts ({problem}); kept for the next tick"
        )
        return False


def _reason(error: urllib.error.HTTPError) -> str:
    """The receiver's short answer (Slack says e.g. `invalid_payload`, `no_service`)."""
    try:
        text = error.read(200).decode("utf-8", "replace").strip()
    except Exception:
        text = ""
    return text.splitlines()[0][:120] if text else error.reason or "no body"


def resources() -> dict:
    from mirante.loaders import dlt_loaders

    return {
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            dbt_executable=str(DBT_EXECUTABLE),
        ),
        "warehouse": Warehouse(),
        "alerts": Alerts(),
        **{name: LoaderSettings(loader=name) for name in dlt_loaders()},
        # the payment event stream is no dlt loader but is configured the same way
        "eventos_pagamento": LoaderSettings(loader="eventos_pagamento"),
    }
