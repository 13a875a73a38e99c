"""One offline world: `mirante ui` and `mirante run` enter the same `emulators/world.offline()`, so
the UI sees every source `make run` loads (issue: `make ui` used to start the IBGE emulator only)."""

from __future__ import annotations

import argparse
import os

import psycopg

from mirante import cli
from mirante.emulators import pec
from mirante.loaders.esus import registry


def _emulated() -> tuple[str, ...]:
    """Every dlt loader with an HTTP emulator (emulators/<source>.py with `start()`): the world must
    serve each one (the finance files' generator has no server: the world fills a folder instead)."""
    from mirante.emulators.world import emulated_sources

    return tuple(f"MIRANTE_{n.upper()}_BASE_URL" for n in emulated_sources())


SOURCES = _emulated()


def test_the_ui_serves_a_world_with_every_source(server, monkeypatch, tmp_path):
    folder = tmp_path / "financas"  # an empty folder of finance history files: the world fills it
    monkeypatch.setenv("MIRANTE_ARQUIVOS_FINANCEIROS_DIR", str(folder))
    for name in SOURCES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", os.environ.get("DAGSTER_HOME", ""))  # prepare() points it at the home
    seen = {}

    def fake_serve(cmd, stop_server):
        """Instead of `dagster dev`: what the UI process would inherit, and each emulator answering."""
        import requests

        seen["cmd"] = cmd
        seen["env"] = {name: os.environ.get(name) for name in SOURCES}
        seen["status"] = {
            name: requests.get(url, timeout=10).status_code < 500 for name, url in seen["env"].items() if url
        }
        seen["stop_server"] = stop_server
        return 0

    monkeypatch.setattr(cli, "_serve", fake_serve)
    assert cli._ui(argparse.Namespace(port=3999)) == 0
    assert "dev" in seen["cmd"] and "mirante.orchestration.definitions" in seen["cmd"]
    assert len(SOURCES) >= 3 and all(seen["env"].values()), seen["env"]
    assert all(seen["status"].values()), seen["status"]
    assert {n: os.environ.get(n) for n in SOURCES} == dict.fromkeys(SOURCES)  # put back afterwards
    assert {m.id_municipio for m in registry.load()} <= set(pec.list_municipios(server))
    from mirante.loaders.arquivos_financeiros import list_files

    kinds = {p.suffix for p in list_files(folder)}
    assert kinds == {".csv", ".json"}, kinds
    with psycopg.connect(server.admin()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    # the company's ledger database the change data capture reads (emulators/razao.py)
    from mirante.emulators import razao

    assert razao.exists(server) and all(razao.counts(server).values())
