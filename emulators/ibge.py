"""Offline emulator of the IBGE Localidades API (https://servicodados.ibge.gov.br/api/v1/localidades).

Serves `/regioes`, `/estados` and `/municipios` with the live JSON shapes, built once at start from the
real reference CSVs in `<shared data>/reference/`. Those CSVs hold no micro/meso/imediata/intermediaria
regions, so the emulator derives deterministic plausible ones: the municipalities of each UF, sorted by
code, are cut into fixed-size buckets, ids follow IBGE's digit pattern and each region is named after
the first municipality of its bucket. Like the live API, Boa Esperança do Norte/MT (5101837) has
`"microrregiao": null`.

    with start() as emu:                     # or: python -m mirante.emulators.ibge --port 8081
        requests.get(f"{emu.base_url}/estados")
"""

from __future__ import annotations

import csv
import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from mirante.emulators._servidor import LoopbackServer, cli_parser, run_in_foreground

PREFIX = "/api/v1/localidades"

#: the five macro-regions with IBGE's ids, keyed by the name used in estados.csv
REGIOES = {
    "Norte": {"id": 1, "sigla": "N", "nome": "Norte"},
    "Nordeste": {"id": 2, "sigla": "NE", "nome": "Nordeste"},
    "Sudeste": {"id": 3, "sigla": "SE", "nome": "Sudeste"},
    "Sul": {"id": 4, "sigla": "S", "nome": "Sul"},
    "Centro-Oeste": {"id": 5, "sigla": "CO", "nome": "Centro-Oeste"},
}

#: municipalities per derived microrregiao / regiao-imediata, and how many of those make a
#: mesorregiao / regiao-intermediaria (so every child region sits inside one parent)
MICRO_SIZE, MICROS_PER_MESO = 10, 4
IMEDIATA_SIZE, IMEDIATAS_PER_INTERMEDIARIA = 12, 4

#: the one municipality that the live API returns without a microrregiao (created in 2013)
NO_MICRORREGIAO = {5101837}


def reference_dir() -> Path:
    """Folder of the shared reference CSVs."""
    from mirante.config import shared_data_dir

    return shared_data_dir() / "reference"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _json(body: object) -> bytes:
    """Compact UTF-8 JSON, as the live API sends it."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_estados(reference: Path) -> list[dict]:
    """The 27 UFs in the live `/estados` shape, ordered by id."""
    rows = _read_csv(reference / "estados.csv")
    estados = [
        {"id": int(r["codigo_uf"]), "sigla": r["uf"], "nome": r["nome"], "regiao": REGIOES[r["regiao"]]}
        for r in rows
    ]
    return sorted(estados, key=lambda e: e["id"])


def _bucket_regions(
    munis: list[dict[str, str]],
    uf: dict,
    *,
    size: int,
    per_parent: int,
    parent_key: str,
    child_mult: int,
    parent_mult: int,
) -> dict[int, dict]:
    """Map municipality code -> derived region of one UF; `per_parent` buckets make one parent.

    Ids follow IBGE's digit pattern: child = UF*child_mult + n, parent = UF*parent_mult + m (n, m from 1).
    """
    regions: dict[int, dict] = {}
    for start in range(0, len(munis), size):
        n = start // size
        bucket = munis[start : start + size]
        parent_first = munis[(n // per_parent) * per_parent * size]
        parent_id = uf["id"] * parent_mult + n // per_parent + 1
        parent = {"id": parent_id, "nome": parent_first["nome"], "UF": uf}
        child = {"id": uf["id"] * child_mult + n + 1, "nome": bucket[0]["nome"], parent_key: parent}
        for m in bucket:
            regions[int(m["codigo_ibge"])] = child
    return regions


def build_municipios(reference: Path, estados: list[dict]) -> list[dict]:
    """The 5,571 municipalities in the live nested `/municipios` shape, ordered by id."""
    ufs = {e["id"]: e for e in estados}
    by_uf: dict[int, list[dict[str, str]]] = {}
    for row in sorted(_read_csv(reference / "municipios.csv"), key=lambda r: int(r["codigo_ibge"])):
        by_uf.setdefault(int(row["codigo_uf"]), []).append(row)

    municipios = []
    for uf_id, munis in sorted(by_uf.items()):
        uf = ufs[uf_id]
        with_micro = [m for m in munis if int(m["codigo_ibge"]) not in NO_MICRORREGIAO]
        micro = _bucket_regions(
            with_micro,
            uf,
            size=MICRO_SIZE,
            per_parent=MICROS_PER_MESO,
            parent_key="mesorregiao",
            child_mult=1000,
            parent_mult=100,
        )
        imediata = _bucket_regions(
            munis,
            uf,
            size=IMEDIATA_SIZE,
            per_parent=IMEDIATAS_PER_INTERMEDIARIA,
            parent_key="regiao-intermediaria",
            child_mult=10000,
            parent_mult=100,
        )
        for m in munis:
            code = int(m["codigo_ibge"])
            municipios.append(
                {
                    "id": code,
                    "nome": m["nome"],
                    "microrregiao": micro.get(code),
                    "regiao-imediata": imediata[code],
                }
            )
    return municipios


def build_payloads() -> dict[str, bytes]:
    """UTF-8 JSON bodies keyed by request path."""
    reference = reference_dir()
    estados = build_estados(reference)
    bodies = {
        "regioes": sorted(REGIOES.values(), key=lambda r: r["id"]),
        "estados": estados,
        "municipios": build_municipios(reference, estados),
    }
    return {f"{PREFIX}/{name}": _json(body) for name, body in bodies.items()}


def _handler(payloads: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    """Request handler class serving the prebuilt payloads."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            url = urlsplit(self.path)
            path = url.path.rstrip("/")
            if url.query:
                self._send(HTTPStatus.BAD_REQUEST, {"error": "query parameters are not emulated"})
            elif path in payloads:
                self._send_bytes(HTTPStatus.OK, payloads[path])
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": "not found", "path": url.path})

        def _send(self, status: HTTPStatus, body: dict) -> None:
            self._send_bytes(status, _json(body))

        def _send_bytes(self, status: HTTPStatus, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
            """Keep test and run output quiet."""

    return Handler


class IbgeEmulator(LoopbackServer):
    """A running emulator: `base_url`, `port`, `stop()`; also a context manager."""

    name = "ibge"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._serve(host, port, _handler(build_payloads()))
        self.base_url = f"http://{host}:{self.port}{PREFIX}"


def start(host: str = "127.0.0.1", port: int = 0) -> IbgeEmulator:
    """Build the payloads and serve them in a daemon thread (port 0 = any free port)."""
    return IbgeEmulator(host, port)


def loader_settings(emu: IbgeEmulator) -> dict[str, str]:
    """The IBGE loader's settings pointing at `emu` (what the offline world sets)."""
    return {"MIRANTE_IBGE_BASE_URL": emu.base_url}


def main(argv: list[str] | None = None) -> None:
    """Run the emulator in the foreground until SIGINT or SIGTERM."""
    parser = cli_parser(__doc__)
    args = parser.parse_args(argv)

    run_in_foreground(start(args.host, args.port))


if __name__ == "__main__":
    main()
