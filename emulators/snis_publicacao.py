"""Offline emulator of an SNIS publication endpoint (what loaders/snis/publicacao.py polls).

Serves the shared SNIS exports (`<shared data>/snis`, read where they lie: never copied) with a
bearer token, the JSON index and HTTP validators of a real publication:

    GET /exports            [{"nome", "url", "sha256", "tamanho", "atualizado_em"}, ...]
    GET /exports/<nome>     the file's bytes; ETag (its sha256, quoted) and Last-Modified; 304 Not
                            Modified on a matching If-None-Match (or, without one, an
                            If-Modified-Since not older than the file)

Every request needs `Authorization: Bearer <token>` (401 otherwise). Test controls (methods of the
running emulator): `replace(nome, content)` publishes new bytes under a name (a new export when the
name is new), `fail_next(n, status=500)` makes the next n requests fail, `requests()` lists what
was served (method, path, status, bytes sent).

    with start(files=["snis_agregado_2021_AL_sample.utf16.csv"]) as emu:
        requests.get(f"{emu.base_url}/exports", headers={"Authorization": f"Bearer {emu.token}"})

    python -m mirante.emulators.snis_publicacao --port 8084   (prints the base URL; token: --token,
    else MIRANTE_SNIS_PUBLICACAO_TOKEN, else the emulator's DEFAULT_TOKEN)

Not started by the offline world (emulators/world.py starts the emulator of a dlt loader's base URL;
this one feeds a folder): `make run` loads the shared folder directly, as before.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from mirante.emulators._servidor import LoopbackServer, cli_parser, run_in_foreground

#: emulator default credential (override with --token or MIRANTE_SNIS_PUBLICACAO_TOKEN): a
#: credential of this emulator only, not a secret of any real system
DEFAULT_TOKEN = "mirante-emulator-snis-publicacao-token"
CONTENT_TYPE = "text/csv; charset=utf-16le"
_BLOCK = 1 << 20


def exports_dir() -> Path:
    """The shared SNIS exports the emulator publishes."""
    from mirante.config import shared_data_dir

    return shared_data_dir() / "snis"


@dataclass
class _Published:
    """One export: on disk (`path`) or replaced in memory (`content`)."""

    sha256: str
    size: int
    modified: datetime
    path: Path | None = None
    content: bytes | None = None

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'


@dataclass
class Served:
    method: str
    path: str
    status: int
    bytes_sent: int = 0


@dataclass
class _State:
    token: str
    exports: dict[str, _Published]
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: list[int] = field(default_factory=list)
    log: list[Served] = field(default_factory=list)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            path = urlsplit(self.path).path.rstrip("/")
            with state.lock:
                failure = state.failures.pop(0) if state.failures else None
                record = Served("GET", path, 0)
                state.log.append(record)
            if failure is not None:
                return self._json(record, failure, {"erro": "falha injetada pelo emulador"})
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                return self._json(
                    record,
                    HTTPStatus.UNAUTHORIZED,
                    {"erro": "token ausente ou invalido"},
                    {"WWW-Authenticate": 'Bearer realm="snis", error="invalid_token"'},
                )
            if path == "/exports":
                return self._json(record, HTTPStatus.OK, self._index())
            if path.startswith("/exports/"):
                nome = unquote(path.removeprefix("/exports/"))
                with state.lock:
                    export = state.exports.get(nome)
                if export is not None:
                    return self._file(record, export)
            return self._json(record, HTTPStatus.NOT_FOUND, {"erro": "nao encontrado", "caminho": path})

        def _index(self) -> list[dict]:
            with state.lock:
                return [
                    {
                        "nome": nome,
                        "url": f"{state.base_url}/exports/{quote(nome)}",
                        "sha256": e.sha256,
                        "tamanho": e.size,
                        "atualizado_em": e.modified.isoformat().replace("+00:00", "Z"),
                    }
                    for nome, e in sorted(state.exports.items())
                ]

        def _not_modified(self, export: _Published) -> bool:
            inm = self.headers.get("If-None-Match")
            if inm is not None:  # RFC 9110: If-Modified-Since is ignored when If-None-Match is sent
                return inm.strip() == "*" or export.etag in [t.strip() for t in inm.split(",")]
            ims = self.headers.get("If-Modified-Since")
            if ims:
                try:
                    return export.modified.replace(microsecond=0) <= parsedate_to_datetime(ims)
                except (TypeError, ValueError):
                    return False
            return False

        def _file(self, record: Served, export: _Published) -> None:
            headers = {"ETag": export.etag, "Last-Modified": _http_date(export.modified)}
            if self._not_modified(export):
                record.status = 304
                self.send_response(HTTPStatus.NOT_MODIFIED)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                return
            record.status = 200
            self.send_response(HTTPStatus.OK)
            for k, v in {**headers, "Content-Type": CONTENT_TYPE, "Content-Length": str(export.size)}.items():
                self.send_header(k, v)
            self.end_headers()
            if export.content is not None:
                self.wfile.write(export.content)
            else:
                with export.path.open("rb") as fh:
                    while block := fh.read(_BLOCK):
                        self.wfile.write(block)
            record.bytes_sent = export.size

        def _json(self, record: Served, status: int, body: object, headers: dict | None = None) -> None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            record.status = int(status)
            self.send_response(status)
            for k, v in {
                **(headers or {}),
                "Content-Type": "application/json; charset=utf-8",
                "Content-Length": str(len(data)),
            }.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
            """Keep test and run output quiet."""

    return Handler


class SnisPublicacaoEmulator(LoopbackServer):
    """A running emulator: `base_url`, `token`, `replace()`, `fail_next()`, `requests()`, `stop()`."""

    name = "snis_publicacao"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        directory: Path | None = None,
        files: list[str] | None = None,
        token: str = DEFAULT_TOKEN,
    ) -> None:
        directory = Path(directory) if directory else exports_dir()
        paths = [directory / f for f in files] if files else sorted(directory.glob("*.csv"))
        exports = {}
        for p in paths:
            stat = p.stat()
            exports[p.name] = _Published(
                _file_sha256(p), stat.st_size, datetime.fromtimestamp(int(stat.st_mtime), UTC), path=p
            )
        self.token = token
        self._state = _State(token=token, exports=exports)
        self._serve(host, port, _handler(self._state))
        self.base_url = self._state.base_url = f"http://{host}:{self.port}"

    def replace(self, nome: str, content: bytes) -> str:
        """Publish `content` under `nome` (new ETag; Last-Modified at least a second later than the
        previous version's, HTTP dates having whole seconds). Returns its sha256."""
        sha = hashlib.sha256(content).hexdigest()
        with self._state.lock:
            previous = self._state.exports.get(nome)
            now = datetime.now(UTC).replace(microsecond=0)
            if previous is not None:
                now = max(now, previous.modified.replace(microsecond=0) + timedelta(seconds=1))
            self._state.exports[nome] = _Published(sha, len(content), now, content=content)
        return sha

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """The next `count` requests (any path) answer `status` before anything else is checked."""
        with self._state.lock:
            self._state.failures.extend([status] * count)

    def requests(self) -> list[Served]:
        """Requests served so far, oldest first."""
        with self._state.lock:
            return list(self._state.log)


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    directory: Path | None = None,
    files: list[str] | None = None,
    token: str = DEFAULT_TOKEN,
) -> SnisPublicacaoEmulator:
    """Publish the exports of `directory` (default: the shared SNIS data; only `files` if given)."""
    return SnisPublicacaoEmulator(host, port, directory=directory, files=files, token=token)


def poller_settings(emu: SnisPublicacaoEmulator) -> dict[str, str]:
    """The poller's settings pointing at `emu` (environment variables read by mirante.config)."""
    return {"MIRANTE_SNIS_PUBLICACAO_URL": emu.base_url, "MIRANTE_SNIS_PUBLICACAO_TOKEN": emu.token}


def main(argv: list[str] | None = None) -> None:
    """Run the emulator in the foreground until SIGINT or SIGTERM."""
    from mirante import config

    parser = cli_parser(__doc__)
    parser.add_argument("--token", default=None, help="bearer token (default: the emulator's own)")
    args = parser.parse_args(argv)
    token = args.token or config.snis_publication_token() or DEFAULT_TOKEN

    run_in_foreground(start(args.host, args.port, token=token))


if __name__ == "__main__":
    main()
