"""IBGE Localidades: the offline emulator and the dlt source over real HTTP on loopback (no database)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import dlt
import pytest
from dlt.extract.exceptions import ResourceExtractionError
from dlt.sources.helpers.requests import RequestException

from mirante.emulators import ibge as emulator
from mirante.loaders.ibge import ibge_source

CENTRO_OESTE = {"id": 5, "sigla": "CO", "nome": "Centro-Oeste"}
UF_MT = {"id": 51, "sigla": "MT", "nome": "Mato Grosso", "regiao": CENTRO_OESTE}


@pytest.fixture(scope="module")
def emu() -> Iterator[emulator.IbgeEmulator]:
    with emulator.start() as running:
        yield running


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.headers["Content-Type"] == "application/json;charset=UTF-8"
        return json.load(resp)


def municipio(emu: emulator.IbgeEmulator, code: int) -> dict:
    return next(m for m in get_json(f"{emu.base_url}/municipios") if m["id"] == code)


@pytest.mark.parametrize(("path", "count"), [("regioes", 5), ("estados", 27), ("municipios", 5571)])
def test_counts_and_unique_ids(emu, path, count):
    rows = get_json(f"{emu.base_url}/{path}")
    assert len(rows) == count
    assert len({r["id"] for r in rows}) == count


def test_regioes_and_estados_shape(emu):
    assert get_json(f"{emu.base_url}/regioes")[0] == {"id": 1, "sigla": "N", "nome": "Norte"}
    estados = {e["sigla"]: e for e in get_json(f"{emu.base_url}/estados")}
    assert estados["RO"] == {
        "id": 11,
        "sigla": "RO",
        "nome": "Rondônia",
        "regiao": {"id": 1, "sigla": "N", "nome": "Norte"},
    }
    assert estados["SP"]["regiao"]["sigla"] == "SE"


def test_municipio_nested_shape(emu):
    m = municipio(emu, 5103403)  # Cuiabá/MT
    assert m["nome"] == "Cuiabá"
    assert set(m) == {"id", "nome", "microrregiao", "regiao-imediata"}
    micro, imediata = m["microrregiao"], m["regiao-imediata"]
    assert micro["id"] // 1000 == 51 and micro["nome"]
    assert micro["mesorregiao"]["id"] // 100 == 51
    assert micro["mesorregiao"]["UF"] == UF_MT
    assert imediata["id"] // 10000 == 51 and imediata["nome"]
    assert imediata["regiao-intermediaria"]["id"] // 100 == 51
    assert imediata["regiao-intermediaria"]["UF"] == UF_MT


def test_boa_esperanca_do_norte_has_no_microrregiao(emu):
    m = municipio(emu, 5101837)
    assert "microrregiao" in m and m["microrregiao"] is None
    assert m["regiao-imediata"]["regiao-intermediaria"]["UF"] == UF_MT


def test_unknown_path_is_json_404(emu):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{emu.base_url}/distritos", timeout=10)
    assert err.value.code == 404
    assert json.load(err.value)["error"] == "not found"


def test_source_resources_over_http(emu):
    source = ibge_source(base_url=emu.base_url)
    assert set(source.resources) == {"regioes", "estados", "municipios"}
    municipios = source.resources["municipios"]
    assert municipios.write_disposition == "merge"
    assert municipios.compute_table_schema()["columns"]["id"]["primary_key"] is True

    rows = list(municipios)
    assert len(rows) == 5571
    assert len({r["id"] for r in rows}) == 5571
    assert len(list(ibge_source(base_url=emu.base_url).resources["estados"])) == 27


def test_normalized_columns_are_flat(emu, tmp_path):
    pipeline = dlt.pipeline(
        "ibge_test", pipelines_dir=str(tmp_path), destination="postgres", dataset_name="raw_ibge"
    )
    pipeline.extract(ibge_source(base_url=emu.base_url))
    pipeline.normalize()

    schema = pipeline.default_schema
    assert set(schema.data_table_names()) == {"regioes", "estados", "municipios"}
    assert {"regiao__id", "regiao__sigla", "regiao__nome"} <= set(schema.get_table_columns("estados"))
    columns = schema.get_table_columns("municipios")
    for chain in ("microrregiao__mesorregiao", "regiao_imediata__regiao_intermediaria"):
        for leaf in ("uf__id", "uf__sigla", "uf__nome", "uf__regiao__id", "uf__regiao__sigla"):
            assert columns[f"{chain}__{leaf}"]["data_type"] in ("bigint", "text")
    assert "microrregiao" not in columns  # the null object of 5101837 leaves no untyped column
    counts = pipeline.last_trace.last_normalize_info.row_counts
    assert (counts["regioes"], counts["estados"], counts["municipios"]) == (5, 27, 5571)


@pytest.fixture
def fast_failing_requests(monkeypatch):
    """Two attempts, one-second timeout, short backoff: failures surface in seconds."""
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "1")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.1")


def test_closed_port_raises_connection_error(fast_failing_requests):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = ibge_source(base_url=f"http://127.0.0.1:{port}/api/v1/localidades")
    with pytest.raises(ResourceExtractionError, match="Connection refused") as err:
        list(source.resources["estados"])
    assert isinstance(err.value.__cause__, RequestException)


@pytest.mark.timeout(30)
def test_silent_server_times_out(fast_failing_requests):
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        source = ibge_source(base_url=f"http://127.0.0.1:{port}/api/v1/localidades")
        with pytest.raises(ResourceExtractionError, match="timed out") as err:
            list(source.resources["regioes"])
    assert isinstance(err.value.__cause__, RequestException)


@pytest.mark.timeout(60)
def test_cli_serves_until_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "mirante.emulators.ibge", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.endswith("/api/v1/localidades")
        assert len(get_json(f"{base_url}/estados")) == 27
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.stdout.close()
