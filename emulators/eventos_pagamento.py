"""Offline emulator of a live payment event stream: Pix received and sent, card settlements of the
company's accounts, as JSON lines over HTTP with a resumable offset.

    GET /v1/eventos?desde=<offset>&limite=<n>     Authorization: Bearer <token>
    200 application/x-ndjson, one event per line, in offset order, the first after `desde`
        (default 0), at most `limite` (default 1000, at most MAX_LIMITE); header
        X-Ultimo-Deslocamento: the latest offset published so far (0: none yet)
    400 bad parameters, 401 missing or wrong token (JSON error body)

An event:
    {"deslocamento": 17, "id_evento": "<uuid4>", "tipo": "pix_recebido" | "pix_enviado" |
     "liquidacao_cartao", "agencia": "0745", "conta": "12345-6", "valor": "123.45",
     "ocorrido_em": "2026-12-02T11:59:01.250-03:00", "contraparte_documento": "<11 or 14 digits>",
     "bandeira": "visa" | ... | null, "id_transacao": "<end-to-end id>"}
Offsets are dense (1, 2, 3, ...). The accounts are the company's (CONTAS of
emulators/arquivos_financeiros.py). Counterparties are people (CPF, on Pix) and card acquirers
(CNPJ, on settlements): the CPF is personal data, staging hashes it.

Time and determinism: the stream is a function of (seed, inicio, taxa, backlog). `backlog` events
are already published at `inicio` (one per second before it), so the first pull finds data; then
one event every 1/`taxa` seconds (`ocorrido_em` = when it is published: the bench measures
latency from it). Event n's content comes from its own seeded generator: any page is the same
bytes whenever it is asked for.

Test and operator endpoints (no token), and the same as methods:
- `POST /_emulator/malformados` `{"deslocamentos": [5, 9]}`: those events are served malformed (one
  of MALFORMACOES by offset: bad amount, unknown type, bad timestamp, no id), as a faulty producer
  would; the loader quarantines them;
- `POST /_emulator/lacunas` `{"deslocamentos": [12]}`: those offsets are never served (a broken
  source; the loader must fail, not skip);
- `POST /_emulator/repetidos` `{"deslocamentos": [20]}`: event n re-sends the id_evento of n-1;
- `GET /_emulator/state`: published count, requests, events served.

    with start(taxa=2, backlog=500) as emu:     # or: mirante emulator eventos_pagamento --port 8090
        requests.get(f"{emu.base_url}/v1/eventos?desde=0&limite=100",
                     headers={"Authorization": f"Bearer {emu.token}"})
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from mirante import config
from mirante.emulators._servidor import LoopbackServer, cli_parser, run_in_foreground
from mirante.emulators.arquivos_financeiros import CONTAS

#: emulator default credential (override with --token or MIRANTE_EVENTOS_PAGAMENTO_TOKEN)
DEFAULT_TOKEN = "mirante-emulator-eventos-pagamento-token"
SEED = 20261202
#: events per second once started, and events already published at the start
TAXA = 2.0
BACKLOG = 500
MAX_LIMITE = 10_000
LIMITE_PADRAO = 1_000
TZ = timezone(timedelta(hours=-3))

TIPOS = ("pix_recebido", "pix_enviado", "liquidacao_cartao")
PESOS_TIPOS = (5, 3, 4)
BANDEIRAS = ("visa", "mastercard", "elo", "amex", "hipercard")
#: card acquirers (CNPJ digits): the counterparty of a settlement
CREDENCIADORAS = ("01027058000191", "01425787000104", "16501555000157", "08561701000101")
#: ISPB of the payer's or payee's institution in Pix end-to-end ids
ISPBS = ("00000000", "60701190", "00360305", "18236120", "60746948")
#: how a malformed event is broken, chosen by its offset
MALFORMACOES = ("valor_invalido", "tipo_invalido", "data_invalida", "campo_ausente")


def _cpf(rng: random.Random) -> str:
    """A CPF with valid check digits (fictitious: random base)."""
    base = [rng.randint(0, 9) for _ in range(9)]
    for size in (9, 10):
        total = sum(d * w for d, w in zip(base, range(size + 1, 1, -1), strict=False))
        base.append((total * 10 % 11) % 10)
    return "".join(map(str, base))


def ocorrido_em(n: int, inicio: float, taxa: float, backlog: int) -> float:
    """Epoch seconds when event n is published."""
    if n <= backlog:
        return inicio - (backlog - n + 1)
    return inicio + (n - backlog) / taxa


def publicados(agora: float, inicio: float, taxa: float, backlog: int) -> int:
    """Highest offset published at `agora`."""
    if agora < inicio or taxa <= 0:
        return backlog
    return backlog + math.floor((agora - inicio) * taxa + 1e-9)


def evento(seed: int, n: int, quando: float) -> dict:
    """Event n (published at epoch `quando`), well formed."""
    rng = random.Random(f"{seed}:{n}")
    tipo = rng.choices(TIPOS, PESOS_TIPOS)[0]
    _, agencia, conta = rng.choice(CONTAS)
    momento = datetime.fromtimestamp(quando, TZ)
    if tipo == "liquidacao_cartao":
        valor = rng.randint(500, 200_000)
        documento = rng.choice(CREDENCIADORAS)
        bandeira = rng.choice(BANDEIRAS)
        transacao = f"LQ{momento:%Y%m%d}{rng.randint(0, 10**12 - 1):012d}"
    else:
        valor = rng.randint(1_000, 500_000 if tipo == "pix_recebido" else 300_000)
        documento = _cpf(rng)
        bandeira = None
        sufixo = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=11))
        transacao = f"E{rng.choice(ISPBS)}{momento.astimezone(UTC):%Y%m%d%H%M}{sufixo}"
    return {
        "deslocamento": n,
        "id_evento": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "tipo": tipo,
        "agencia": agencia,
        "conta": conta,
        "valor": f"{valor // 100}.{valor % 100:02d}",
        "ocorrido_em": momento.isoformat(timespec="milliseconds"),
        "contraparte_documento": documento,
        "bandeira": bandeira,
        "id_transacao": transacao,
    }


def malformar(ev: dict) -> dict:
    """The event broken as MALFORMACOES[offset % 4] says (the offset itself stays readable)."""
    kind = MALFORMACOES[ev["deslocamento"] % len(MALFORMACOES)]
    ev = dict(ev)
    if kind == "valor_invalido":
        ev["valor"] = "-" + ev["valor"].replace(".", ",")
    elif kind == "tipo_invalido":
        ev["tipo"] = "pix_devolvido_desconhecido"
    elif kind == "data_invalida":
        ev["ocorrido_em"] = "31/02/2026 25:61"
    else:
        del ev["id_evento"]
    return ev


@dataclass
class _State:
    seed: int
    inicio: float
    taxa: float
    backlog: int
    token: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    malformados: set[int] = field(default_factory=set)
    lacunas: set[int] = field(default_factory=set)
    repetidos: set[int] = field(default_factory=set)
    requests: int = 0
    servidos: int = 0

    def ultimo(self, agora: float | None = None) -> int:
        return publicados(time.time() if agora is None else agora, self.inicio, self.taxa, self.backlog)

    def linha(self, n: int) -> dict:
        ev = evento(self.seed, n, ocorrido_em(n, self.inicio, self.taxa, self.backlog))
        if n in self.repetidos and n > 1:
            ev["id_evento"] = evento(self.seed, n - 1, 0.0)["id_evento"]
        if n in self.malformados:
            ev = malformar(ev)
        return ev

    def pagina(self, desde: int, limite: int) -> tuple[list[dict], int]:
        ultimo = self.ultimo()
        with self.lock:
            lacunas = set(self.lacunas)
        out, n = [], desde + 1
        while n <= ultimo and len(out) < limite:
            if n not in lacunas:
                out.append(self.linha(n))
            n += 1
        return out, ultimo


class EventosPagamentoEmulator(LoopbackServer):
    """A running emulator: `base_url`, `token`, `ultimo()`, `malformar()`, `lacuna()`, `repetir()`,
    `stop()`; also a context manager."""

    name = "eventos_pagamento"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = SEED,
        taxa: float = TAXA,
        backlog: int = BACKLOG,
        inicio: float | None = None,
        token: str = DEFAULT_TOKEN,
    ) -> None:
        self._state = _State(
            seed=seed,
            inicio=time.time() if inicio is None else inicio,
            taxa=taxa,
            backlog=backlog,
            token=token,
        )
        self.token = token
        self.seed, self.taxa, self.backlog, self.inicio = seed, taxa, backlog, self._state.inicio
        self._serve(host, port, _handler(self._state))
        self.base_url = f"http://{host}:{self.port}"

    def ultimo(self) -> int:
        """The latest offset published now."""
        return self._state.ultimo()

    def evento(self, n: int) -> dict:
        """Event n as served (malformed or not)."""
        return self._state.linha(n)

    def malformar(self, *deslocamentos: int) -> None:
        with self._state.lock:
            self._state.malformados.update(deslocamentos)

    def lacuna(self, *deslocamentos: int) -> None:
        with self._state.lock:
            self._state.lacunas.update(deslocamentos)

    def repetir(self, *deslocamentos: int) -> None:
        with self._state.lock:
            self._state.repetidos.update(deslocamentos)

    def corrigir(self) -> None:
        """Drop every injected fault (malformed, gaps, repeats)."""
        with self._state.lock:
            self._state.malformados.clear()
            self._state.lacunas.clear()
            self._state.repetidos.clear()

    def state(self) -> dict:
        s = self._state
        return {"ultimo": s.ultimo(), "requests": s.requests, "servidos": s.servidos, "taxa": s.taxa}


def _int(params: dict, name: str, default: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    value = int(raw)  # ValueError -> 400
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            if url.path == "/_emulator/state":
                return self._json(HTTPStatus.OK, {**_state_body(state)})
            if url.path.rstrip("/") != "/v1/eventos":
                return self._json(HTTPStatus.NOT_FOUND, {"erro": f"nada em {url.path}"})
            with state.lock:
                state.requests += 1
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                return self._json(HTTPStatus.UNAUTHORIZED, {"erro": "token ausente ou inválido"})
            try:
                desde = _int(params, "desde", 0)
                limite = min(_int(params, "limite", LIMITE_PADRAO), MAX_LIMITE)
            except ValueError:
                return self._json(HTTPStatus.BAD_REQUEST, {"erro": "desde e limite são inteiros >= 0"})
            eventos, ultimo = state.pagina(desde, limite)
            with state.lock:
                state.servidos += len(eventos)
            body = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in eventos)
            self._send(
                HTTPStatus.OK, body.encode(), "application/x-ndjson", {"X-Ultimo-Deslocamento": str(ultimo)}
            )

        def do_POST(self) -> None:  # noqa: N802 (stdlib name)
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            target = {
                "/_emulator/malformados": state.malformados,
                "/_emulator/lacunas": state.lacunas,
                "/_emulator/repetidos": state.repetidos,
            }.get(url.path)
            if target is None:
                return self._json(HTTPStatus.NOT_FOUND, {"erro": f"nada em {url.path}"})
            try:
                offsets = [int(n) for n in json.loads(raw or b"{}")["deslocamentos"]]
            except (ValueError, KeyError, TypeError):
                return self._json(HTTPStatus.BAD_REQUEST, {"erro": 'esperado {"deslocamentos": [int, ...]}'})
            with state.lock:
                target.update(offsets)
            self._json(HTTPStatus.OK, _state_body(state))

        def _json(self, status: int, body: dict) -> None:
            self._send(
                status, json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8"
            )

        def _send(self, status: int, data: bytes, kind: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
            """Keep test and run output quiet."""

    return Handler


def _state_body(state: _State) -> dict:
    with state.lock:
        return {
            "ultimo": state.ultimo(),
            "requests": state.requests,
            "servidos": state.servidos,
            "malformados": sorted(state.malformados),
            "lacunas": sorted(state.lacunas),
            "repetidos": sorted(state.repetidos),
        }


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = SEED,
    *,
    taxa: float = TAXA,
    backlog: int = BACKLOG,
    inicio: float | None = None,
    token: str = DEFAULT_TOKEN,
) -> EventosPagamentoEmulator:
    """Serve the stream of `seed` in daemon threads: `backlog` events published at `inicio`
    (default: now), then `taxa` per second."""
    return EventosPagamentoEmulator(
        host, port, seed=seed, taxa=taxa, backlog=backlog, inicio=inicio, token=token
    )


def loader_settings(emu: EventosPagamentoEmulator) -> dict[str, str]:
    """The loader's settings pointing at `emu` (what the offline world sets)."""
    return {"MIRANTE_EVENTOS_PAGAMENTO_BASE_URL": emu.base_url, "MIRANTE_EVENTOS_PAGAMENTO_TOKEN": emu.token}


def main(argv: list[str] | None = None) -> None:
    """Run the emulator in the foreground until SIGINT or SIGTERM; prints the base URL."""
    parser = cli_parser(__doc__)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--taxa", type=float, default=TAXA, help="events per second (default 2)")
    parser.add_argument("--backlog", type=int, default=BACKLOG, help="events published at the start")
    parser.add_argument(
        "--token",
        default=config.source_setting("eventos_pagamento", "token") or DEFAULT_TOKEN,
        help="bearer token to accept (default: MIRANTE_EVENTOS_PAGAMENTO_TOKEN or [sources.eventos_pagamento] "
        "token, else the emulator default)",
    )
    args = parser.parse_args(argv)
    run_in_foreground(
        start(args.host, args.port, args.seed, taxa=args.taxa, backlog=args.backlog, token=args.token)
    )


if __name__ == "__main__":
    main()
