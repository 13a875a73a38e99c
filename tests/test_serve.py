"""`mirante serve` runs unattended: the daemon heartbeats into the PostgreSQL storage, a sensor
launches a run by itself, the run ends, and `mirante serve stop` stops everything it started."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql

from mirante import config
from mirante.emulators.world import environ

from .helpers import SNIS_SAMPLE

DATABASE = "mirante_serve_test"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, probe, timeout: float, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"mirante serve exited ({proc.returncode}) waiting for {what}:\n{_tail(log)}"
            )
        value = probe()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"no {what} within {timeout:.0f} s; mirante serve said:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


@pytest.fixture
def serve_env(server, built, tmp_path):
    """A database and a SNIS folder of the test's own (one new export), on the session's server."""
    exports = tmp_path / "snis"
    exports.mkdir()
    shutil.copy(SNIS_SAMPLE, exports / SNIS_SAMPLE.name)
    # the finance files' sensor watches an empty folder: its run would share the 2 cores and the one
    # dbt slot with the SNIS run this test waits for
    empty = tmp_path / "arquivos_financeiros"
    empty.mkdir()
    yield {
        "MIRANTE_DB": DATABASE,
        "MIRANTE_SNIS_DIR": str(exports),
        "MIRANTE_ARQUIVOS_FINANCEIROS_DIR": str(empty),
    }
    with psycopg.connect(server.admin("postgres"), autocommit=True) as conn:
        for name in (DATABASE, f"{DATABASE}_dagster"):
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def test_serve_runs_daemon_and_webserver_and_a_sensor_launches_a_run(server, serve_env, tmp_path):
    from dagster import DagsterInstance, RunsFilter
    from dagster._core.storage.dagster_run import FINISHED_STATUSES

    from mirante.orchestration import service

    port, metrics_port = _free_port(), _free_port()
    # the service's output goes to a file: a pipe nobody drains fills up and blocks every process
    # writing to it (the daemon, the webserver, the runs it launches)
    log = tmp_path / "serve.log"
    with environ(serve_env), log.open("w") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "mirante"),
                "serve",
                "--port",
                str(port),
                "--metrics-port",
                str(metrics_port),
            ],
            env=config.child_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait("pid file", service.running_pid, 180, proc, log)
            # the UI answers, and its instance is the PostgreSQL one
            _wait("webserver", lambda: _answers(f"http://127.0.0.1:{port}/server_info"), 180, proc, log)
            # the exporter reads the service's instance (PostgreSQL)
            metrics = _wait(
                "the exporter", lambda: _text(f"http://127.0.0.1:{metrics_port}/metrics"), 180, proc, log
            )
            assert "mirante_runs_total" in metrics
            yaml = (service.instance_home() / "dagster.yaml").read_text()
            assert "postgres_db:" in yaml and "password:\n        env:" in yaml
            with (
                environ(
                    {
                        "DAGSTER_HOME": str(service.instance_home()),
                        # what the service's processes get: Dagster reads the storage password itself
                        "MIRANTE_DAGSTER_PASSWORD": config.role_password(config.DAGSTER_ROLE) or "",
                    }
                ),
                DagsterInstance.get() as instance,
            ):
                beats = _wait("daemon heartbeat", lambda: instance.get_daemon_heartbeats(), 180, proc, log)
                assert {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR"} <= set(beats)
                run = _wait(
                    "a run launched by the SNIS sensor",
                    lambda: next(
                        iter(
                            instance.get_runs(
                                RunsFilter(tags={"dagster/sensor_name": "snis_new_export_sensor"})
                            )
                        ),
                        None,
                    ),
                    240,
                    proc,
                    log,
                )
                ended = _wait(
                    "the run's end",
                    lambda: (r := instance.get_run_by_id(run.run_id)).status in FINISHED_STATUSES and r,
                    300,
                    proc,
                    log,
                )
                assert ended.job_name == "saneamento_snis"
            # ... and counts the run the daemon launched
            series = f'mirante_runs_total{{job="saneamento_snis",status="{ended.status.value}"}} 1.0'
            _wait(
                f"the exporter counting the run ({series})",
                lambda: series in (_text(f"http://127.0.0.1:{metrics_port}/metrics") or ""),
                120,
                proc,
                log,
            )
            # the sensor's load reached the service's own database
            with psycopg.connect(server.url("transformer", DATABASE)) as conn:
                loaded = conn.execute("select count(*) from raw_snis.arquivos").fetchone()[0]
            assert loaded == 1
        finally:
            stopped = service.stop_service(timeout=120) if service.running_pid() else False
            proc.wait(timeout=120)
    assert stopped, _tail(log)
    assert proc.returncode == 0, _tail(log)
    assert service.running_pid() is None


def _text(url: str) -> str | None:
    try:
        response = requests.get(url, timeout=30)
    except requests.RequestException:
        return None
    return response.text if response.status_code == 200 else None


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False
