"""Offline emulator of the Banco Central do Brasil SGS API (https://api.bcb.gov.br).

Serves `GET /dados/serie/bcdata.sgs.{code}/dados?formato=json&dataInicial=dd/MM/yyyy&dataFinal=dd/MM/yyyy`
with the live shape, `[{"data": "dd/MM/yyyy", "valor": "0.55"}, ...]` (values as strings), from the
real series in `<shared data>/bcb/sgs_<code>.csv` (their README says where each value comes from).
Like the live API:

- a daily series (DAILY) asked for a window longer than 10 years, or without both dates, is
  refused with HTTP 406 and a JSON message (the live API's refusal as the SGS users' reports
  give it; one page reports a 400 instead: the loader never sends such a query and fails clearly
  on any 4xx);
- an unknown series is a 404; a window with no observation is `[]`.

Tests change the served data while it runs: `add(code, day, valor)` (a new observation) and
`inject(code, item)` (any item, malformed ones included); `requests` lists the queries served.

    with start() as emu:                     # or: mirante emulator bcb --port 8085
        requests.get(f"{emu.base_url}/dados/serie/bcdata.sgs.433/dados", params={"formato": "json"})
"""

from __future__ import annotations

import csv
import json
import re
import threading
from datetime import date, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mirante.emulators._servidor import LoopbackServer, cli_parser, run_in_foreground

#: the daily series among the shared files (the 10-year window applies to them)
DAILY = frozenset({1, 11, 12, 432})
WINDOW_YEARS = 10
WINDOW_MESSAGE = (
    "O sistema aceita uma janela de consulta de, no máximo, 10 anos em séries de periodicidade diária"
)
_PATH = re.compile(r"^/dados/serie/bcdata\.sgs\.(\d+)/dados/?$")


def series_dir() -> Path:
    """Folder of the shared SGS series."""
    from mirante.config import shared_data_dir

    return shared_data_dir() / "bcb"


def read_series(folder: Path) -> dict[int, list[dict]]:
    """{code: [{"data": "dd/MM/yyyy", "valor": "..."}, ...]} of every sgs_<code>.csv, in date order."""
    out = {}
    for path in sorted(folder.glob("sgs_*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            items = [{"data": r["data"], "valor": r["valor"]} for r in csv.DictReader(fh, delimiter=";")]
        out[int(path.stem.split("_")[1])] = sorted(items, key=lambda i: _day(i["data"]) or date.min)
    return out


def _day(text: object) -> date | None:
    try:
        return datetime.strptime(str(text), "%d/%m/%Y").date()
    except ValueError:
        return None


def _json(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _handler(emu: BcbEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            match = _PATH.match(url.path)
            code = int(match.group(1)) if match else None
            with emu.lock:
                emu.requests.append((code, query.get("dataInicial"), query.get("dataFinal")))
                items = list(emu.series.get(code, [])) if code is not None else None
            if code is None or code not in emu.series:
                self._send(HTTPStatus.NOT_FOUND, {"error": "Not Found", "status": 404, "path": url.path})
                return
            start, end = query.get("dataInicial"), query.get("dataFinal")
            first, last = _day(start) if start else None, _day(end) if end else None
            if (start and first is None) or (end and last is None):
                self._send(
                    HTTPStatus.BAD_REQUEST, {"error": "Requisição inválida", "message": "data inválida"}
                )
                return
            if code in DAILY and (first is None or last is None or _too_long(first, last)):
                self._send(
                    HTTPStatus.NOT_ACCEPTABLE, {"error": WINDOW_MESSAGE, "message": "Requisição inválida"}
                )
                return
            selected = [
                i
                for i in items
                if (d := _day(i.get("data"))) is None  # an injected malformed date is always served
                or ((first is None or d >= first) and (last is None or d <= last))
            ]
            self._send(HTTPStatus.OK, selected)

        def _send(self, status: HTTPStatus, body: object) -> None:
            data = _json(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
            """Keep test and run output quiet."""

    return Handler


def _too_long(first: date, last: date) -> bool:
    try:
        limit = first.replace(year=first.year + WINDOW_YEARS)
    except ValueError:  # 29 February
        limit = first.replace(year=first.year + WINDOW_YEARS, day=28)
    return last >= limit


class BcbEmulator(LoopbackServer):
    """A running emulator: `base_url`, `port`, `series`, `requests`, `add()`, `inject()`, `stop()`."""

    name = "bcb"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, folder: Path | None = None) -> None:
        self.lock = threading.Lock()
        self.series = read_series(folder or series_dir())
        self.requests: list[tuple[int | None, str | None, str | None]] = []
        self._serve(host, port, _handler(self))
        self.base_url = f"http://{host}:{self.port}"

    def add(self, code: int, day: date, valor: str) -> None:
        """A new observation of series `code` (a new series if unknown)."""
        self.inject(code, {"data": day.strftime("%d/%m/%Y"), "valor": valor})

    def inject(self, code: int, item: object) -> None:
        """Serve `item` as it is (malformed or not) among the series' observations."""
        with self.lock:
            self.series.setdefault(code, []).append(item)


def start(host: str = "127.0.0.1", port: int = 0) -> BcbEmulator:
    """Read the shared series and serve them in a daemon thread (port 0 = any free port)."""
    return BcbEmulator(host, port)


def loader_settings(emu: BcbEmulator) -> dict[str, str]:
    """The BCB loader's settings pointing at `emu` (what the offline world sets)."""
    return {"MIRANTE_BCB_BASE_URL": emu.base_url}


def main(argv: list[str] | None = None) -> None:
    """Run the emulator in the foreground until SIGINT or SIGTERM."""
    parser = cli_parser(__doc__)
    args = parser.parse_args(argv)

    run_in_foreground(start(args.host, args.port))


if __name__ == "__main__":
    main()
