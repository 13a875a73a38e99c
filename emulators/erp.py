"""Offline emulator of an ERP in the shape of the SAP Business One Service Layer (OData v3, `/b1s/v1`).

Serves the sales documents of the shared commercial world (`mirante.emulators.comercial.Mundo`) as
the Service Layer does:

* `POST /b1s/v1/Login` with `{"CompanyDB", "UserName", "Password"}` -> 200 with `SessionId` and
  `SessionTimeout` (minutes) and the cookies `B1SESSION` (HttpOnly) and `ROUTEID`; bad credentials ->
  401 with error code -304. A session expires after `SessionTimeout` minutes without use (or when the
  test asks for it through the fault endpoint); then every request gets 401 with code 301
  "Invalid session.". `POST /b1s/v1/Logout` ends the session (204).
* `GET /b1s/v1/Orders` and `GET /b1s/v1/Invoices` (also `Orders(<DocEntry>)`): query options
  `$filter` (comparisons `eq ne gt ge lt le` joined by `and`, e.g. `UpdateDate ge '2025-06-01'`),
  `$select`, `$orderby`, `$top`, `$skip`. The page size comes from the header
  `Prefer: odata.maxpagesize=N` (default 20, like SAP; 0 = everything in one page); the next page is a
  *relative* `odata.nextLink` (`Orders?$skip=20&...`), absent on the last page. Documents are sorted by
  the requested keys and then by `DocEntry`, so `$skip` paging is consistent.

Documents, built from the world as seen on its clock (`Mundo.hoje`):

* Orders: one per `Pedido`, with `DocumentLines` and `AddressExtension` (`ShipToCounty` = 7-digit
  IBGE code). An order cancelled later shows `Cancelled: "tYES"` and `UpdateDate` = the cancellation
  day once the clock reaches it; before that it is `tNO` with `UpdateDate` = its date.
* Invoices: one per order that is never cancelled, dated 0-3 days after the order (visible once the
  clock reaches that day); own `DocEntry`/`DocNum` series (1, 2, ... in invoice-date order, stable as
  the clock moves on); lines carry `BaseType` 17 and `BaseEntry` = the order's `DocEntry`.
* Prices include taxes (ICMS "por dentro"): `DocTotal` is the sum of the lines' `LineTotal` and
  `VatSum` the tax contained in it (18%), for information only.

Test and demo controls (not part of the Service Layer):

* `POST /_emulator/advance?dias=N` moves the clock N days (new orders, invoices, cancellations).
* Generator mode (`generator_interval` seconds / `--generator`): a thread advances one day each time.
* `POST /_emulator/faults` with JSON: `{"status": 429, "count": 2, "retry_after": 1}`,
  `{"status": 503, "count": 1}` (the next `count` data requests fail that way), or
  `{"expire_sessions": true}` (every open session becomes invalid); any of them with `"after": N` to
  hit only after N more data requests (mid-load), `{"clear": true}` drops pending faults.
* `GET /_emulator/stats`: clock, document counts and request counters (logins, failed logins, ...).

Credentials are configuration; the defaults below are the emulator's own, never a real system's.

    with start() as emu:                     # or: python -m mirante.emulators.erp --port 50000 [--generator S]
        requests.post(f"{emu.base_url}/Login", json={"CompanyDB": ..., "UserName": ..., "Password": ...})
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from mirante.emulators._servidor import LoopbackServer, cli_parser, run_in_foreground
from mirante.emulators.comercial import Mundo, Pedido

PREFIX = "/b1s/v1"

#: the emulator's own credentials (defaults of `start()` and of the CLI; not a real system's)
EMULATOR_COMPANY_DB = "SBO_MIRANTE"
EMULATOR_USERNAME = "manager"
EMULATOR_PASSWORD = "emulator-manager"

VERSION = "1000190"
#: minutes, as the Service Layer reports it at login
SESSION_TIMEOUT_MIN = 30
ROUTE_ID = ".node1"
DEFAULT_PAGE_SIZE = 20
#: ICMS contained in the (tax-inclusive) prices
ALIQUOTA_ICMS = Decimal("0.18")
#: days between the order and its delivery due date, per modality
PRAZO_ENTREGA = {"loja": 0, "online": 5, "televendas": 7, "representante": 15}
PRAZO_PAGAMENTO_DIAS = 30
#: SAP object type of sales orders (BaseType of the invoice lines)
OBJ_PEDIDO = 17

CONTENT_TYPE = "application/json;odata=minimalmetadata;charset=utf-8"
ENTITIES = ("Orders", "Invoices")


def _money(value: Decimal) -> float:
    """A BRL amount as a JSON number (the Service Layer sends numbers)."""
    return float(value)


def _hhmmss(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def _icms(total: Decimal) -> float:
    return _money((total * ALIQUOTA_ICMS / (1 + ALIQUOTA_ICMS)).quantize(Decimal("0.01")))


def dias_para_faturar(pedido: Pedido) -> int:
    """Days from the order to its invoice (0-3), a fixed function of the order."""
    return (pedido.doc_entry * 7919) % 4


def _cabecalho(p: Pedido) -> dict[str, Any]:
    c = p.cliente
    return {
        "CardCode": c.codigo,
        "CardName": c.razao_social,
        "DocTotal": _money(p.total),
        "VatSum": _icms(p.total),
        "DocCurrency": "R$",
        "SalesPersonCode": p.vendedor,
        "U_Modalidade": p.modalidade,
        "U_Contrato": p.contrato,
        "AddressExtension": {
            "ShipToCity": c.cidade,
            "ShipToState": c.sigla_uf,
            "ShipToCounty": c.id_municipio,
            "ShipToCountry": "BR",
        },
    }


def order_document(p: Pedido, doc_num: int, hoje: date) -> dict[str, Any]:
    """A sales order (ORDR/RDR1) as the Service Layer returns it, seen on `hoje`."""
    cancelado = p.cancelado(hoje)
    criado = p.criado_em.hour * 60 + p.criado_em.minute
    return {
        "DocEntry": p.doc_entry,
        "DocNum": doc_num,
        "DocType": "dDocument_Items",
        "DocDate": p.data.isoformat(),
        "DocDueDate": (p.data + timedelta(days=PRAZO_ENTREGA[p.modalidade])).isoformat(),
        "CreationDate": p.criado_em.date().isoformat(),
        "UpdateDate": p.atualizado_em(hoje).isoformat(),
        # a cancellation is recorded during office hours, at a time fixed by the order
        "UpdateTime": _hhmmss(9 * 60 + p.doc_entry % 480) if cancelado else _hhmmss(criado),
        "Cancelled": "tYES" if cancelado else "tNO",
        **_cabecalho(p),
        "DocumentLines": _linhas(p, base=False),
    }


def _linhas(p: Pedido, base: bool) -> list[dict[str, Any]]:
    """DocumentLines of order `p`; with `base`, each line points at the order line it bills
    (BaseType/BaseEntry/BaseLine, as on an invoice)."""
    return [
        {
            "LineNum": linha.num,
            "ItemCode": linha.produto.codigo,
            "ItemDescription": linha.produto.descricao,
            "Quantity": float(linha.quantidade),
            "Price": _money(linha.preco),
            "LineTotal": _money(linha.total),
            "Currency": "R$",
            "BaseType": OBJ_PEDIDO if base else -1,
            "BaseEntry": p.doc_entry if base else None,
            "BaseLine": linha.num if base else None,
        }
        for linha in p.linhas
    ]


def invoice_document(p: Pedido, doc_entry: int, dia: date) -> dict[str, Any]:
    """The A/R invoice (OINV/INV1) of order `p`, issued on `dia`."""
    hora = 8 * 60 + (p.doc_entry * 31) % 600
    return {
        "DocEntry": doc_entry,
        "DocNum": doc_entry,
        "DocType": "dDocument_Items",
        "DocDate": dia.isoformat(),
        "DocDueDate": (dia + timedelta(days=PRAZO_PAGAMENTO_DIAS)).isoformat(),
        "CreationDate": dia.isoformat(),
        "UpdateDate": dia.isoformat(),
        "UpdateTime": _hhmmss(hora),
        "Cancelled": "tNO",
        **_cabecalho(p),
        "DocumentLines": _linhas(p, base=True),
    }


def build_documents(mundo: Mundo, memo: dict | None = None) -> dict[str, list[dict[str, Any]]]:
    """Orders and invoices visible on `mundo.hoje`, each sorted by DocEntry.

    `memo` (kept by the caller between clock moves) reuses the documents that did not change: an
    order is rebuilt only when its cancellation becomes visible; an invoice never changes."""
    memo = {} if memo is None else memo
    hoje = mundo.hoje
    orders, faturaveis = [], []
    for n, p in enumerate(mundo.pedidos()):  # oldest first = DocEntry order
        key = ("order", p.doc_entry, p.cancelado(hoje))
        doc = memo.get(key)
        if doc is None:
            doc = memo[key] = order_document(p, n + 1, hoje)
        orders.append(doc)
        if p.cancelado_em is None:
            faturaveis.append((p.data + timedelta(days=dias_para_faturar(p)), p.doc_entry, p))
    faturaveis.sort(key=lambda t: (t[0], t[1]))
    invoices = []
    for dia, _, p in faturaveis:
        if dia > hoje:
            break
        key = ("invoice", p.doc_entry)
        doc = memo.get(key)
        if doc is None:
            doc = memo[key] = invoice_document(p, len(invoices) + 1, dia)
        invoices.append(doc)
    return {"Orders": orders, "Invoices": invoices}


# -- OData query options ---------------------------------------------------------------------


class ODataError(ValueError):
    """A query the emulator (like the Service Layer) rejects with 400."""


_CLAUSE = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+(eq|ne|gt|ge|lt|le)\s+('(?:[^']|'')*'|-?\d+(?:\.\d+)?)\s*$",
    re.IGNORECASE,
)
_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}
_DATE_FIELDS = {"DocDate", "DocDueDate", "CreationDate", "UpdateDate"}


def parse_filter(expr: str) -> list[tuple[str, str, Any]]:
    """`UpdateDate ge '2025-06-01' and DocEntry gt 5` -> [(field, op, value), ...]."""
    clauses = []
    for part in re.split(r"\s+and\s+", expr.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(part)
        if not m:
            raise ODataError(f"unsupported $filter clause: {part!r}")
        field, op, raw = m.group(1), m.group(2).lower(), m.group(3)
        if raw.startswith("'"):
            value: Any = raw[1:-1].replace("''", "'")
            if field in _DATE_FIELDS:
                try:  # dates may come as 'YYYY-MM-DD' or with a time part
                    value = date.fromisoformat(value[:10]).isoformat()
                except ValueError:
                    raise ODataError(f"invalid date in $filter: {raw}") from None
        else:
            value = float(raw) if "." in raw else int(raw)
        clauses.append((field, op, value))
    return clauses


def parse_orderby(expr: str) -> list[tuple[str, bool]]:
    """`UpdateDate desc,DocEntry` -> [(field, descending), ...]."""
    keys = []
    for part in expr.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ODataError(f"invalid $orderby: {expr!r}")
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return keys


def _int_option(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    try:
        value = int(query[name])
    except ValueError:
        raise ODataError(f"{name} must be a non-negative integer, got {query[name]!r}") from None
    if value < 0:
        raise ODataError(f"{name} must be a non-negative integer, got {value}")
    return value


def _check_fields(fields: list[str], known: set[str], option: str) -> None:
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise ODataError(f"unknown property in {option}: {', '.join(unknown)}")


# -- state shared by the request threads ------------------------------------------------------


@dataclass
class _Fault:
    after: int
    count: int = 1
    status: int | None = None
    retry_after: int | None = None
    expire_sessions: bool = False


class ErpState:
    """The world, its documents, sessions, pending faults and counters, behind one lock."""

    def __init__(
        self, mundo: Mundo, company_db: str, username: str, password: str, session_timeout: int
    ) -> None:
        self.mundo = mundo
        self.credentials = (company_db, username, password)
        self.session_timeout = session_timeout
        self.lock = threading.RLock()
        self.sessions: dict[str, float] = {}  # session id -> last use (monotonic seconds)
        self.faults: list[_Fault] = []
        self.stats = {
            "logins": 0,
            "logins_failed": 0,
            "logouts": 0,
            "data_requests": 0,
            "invalid_session": 0,
            "faults_served": 0,
        }
        self._docs: tuple[date, dict[str, list[dict]]] | None = None
        self._memo: dict = {}
        self._queries: dict[tuple, list[dict]] = {}

    # documents
    def documents(self) -> dict[str, list[dict]]:
        with self.lock:
            if self._docs is None or self._docs[0] != self.mundo.hoje:
                self._docs = (self.mundo.hoje, build_documents(self.mundo, self._memo))
                self._queries.clear()
            return self._docs[1]

    def query(self, entity: str, filtro: str | None, orderby: str | None) -> list[dict]:
        """Documents of `entity` matching `$filter`, in `$orderby` then DocEntry order (cached
        per clock day, so every page of one paging sequence sees the same list)."""
        with self.lock:
            docs = self.documents()[entity]
            key = (entity, filtro, orderby)
            if key in self._queries:
                return self._queries[key]
            rows = list(docs)
            clauses = parse_filter(filtro) if filtro else []
            keys = parse_orderby(orderby) if orderby else []
            if docs:
                _check_fields([c[0] for c in clauses], set(docs[0]), "$filter")
                _check_fields([k for k, _ in keys], set(docs[0]), "$orderby")
                if any(isinstance(docs[0][k], (dict, list)) for k, _ in keys):
                    raise ODataError(f"$orderby on a complex property: {orderby!r}")
                for f, _, v in clauses:
                    sample = next((d[f] for d in docs if d[f] is not None), None)
                    if isinstance(sample, (dict, list)) or (
                        sample is not None and isinstance(sample, str) != isinstance(v, str)
                    ):
                        raise ODataError(f"$filter compares {f} with a value of another type: {v!r}")
            if clauses:
                rows = [
                    d for d in rows if all(d[f] is not None and _OPS[op](d[f], v) for f, op, v in clauses)
                ]
            if keys:
                rows.sort(key=lambda d: d["DocEntry"])
                for field, desc in reversed(keys):  # stable sorts, last key first
                    rows.sort(key=lambda d, f=field: (d[f] is not None, d[f]), reverse=desc)
            self._queries[key] = rows
            return rows

    def advance(self, dias: int) -> date:
        with self.lock:
            return self.mundo.avancar(dias)

    # sessions
    def login(self, body: dict) -> str | None:
        with self.lock:
            given = (body.get("CompanyDB"), body.get("UserName"), body.get("Password"))
            if given != self.credentials:
                self.stats["logins_failed"] += 1
                return None
            self.stats["logins"] += 1
            sid = str(uuid.uuid4())
            self.sessions[sid] = time.monotonic()
            return sid

    def session_valid(self, sid: str | None) -> bool:
        with self.lock:
            last = self.sessions.get(sid) if sid else None
            now = time.monotonic()
            if last is None or now - last > self.session_timeout * 60:
                self.sessions.pop(sid, None)
                self.stats["invalid_session"] += 1
                return False
            self.sessions[sid] = now
            return True

    def logout(self, sid: str | None) -> bool:
        with self.lock:
            if sid and self.sessions.pop(sid, None) is not None:
                self.stats["logouts"] += 1
                return True
            return False

    # faults
    def add_fault(self, spec: dict) -> None:
        with self.lock:
            if spec.get("clear"):
                self.faults.clear()
                return
            after = int(spec.get("after", 0))
            if spec.get("expire_sessions"):
                self.faults.append(_Fault(after=after, expire_sessions=True))
            elif "status" in spec:
                status = int(spec["status"])
                if not 400 <= status <= 599:
                    raise ValueError("status must be an HTTP error status (400-599)")
                retry_after = spec.get("retry_after")
                self.faults.append(
                    _Fault(
                        after=after,
                        count=int(spec.get("count", 1)),
                        status=status,
                        retry_after=None if retry_after is None else int(retry_after),
                    )
                )
            else:
                raise ValueError('expected {"status": N, "count": N} or {"expire_sessions": true}')

    def next_fault(self) -> _Fault | None:
        """Called once per data request: expires sessions when due, returns a status fault to serve."""
        with self.lock:
            self.stats["data_requests"] += 1
            serve = None
            for fault in list(self.faults):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                if fault.expire_sessions:
                    self.sessions.clear()
                    self.faults.remove(fault)
                elif serve is None:
                    serve = fault
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
            if serve is not None:
                self.stats["faults_served"] += 1
            return serve

    def snapshot(self) -> dict:
        with self.lock:
            docs = self.documents()
            return {
                "hoje": self.mundo.hoje.isoformat(),
                "orders": len(docs["Orders"]),
                "invoices": len(docs["Invoices"]),
                "open_sessions": len(self.sessions),
                "pending_faults": len(self.faults),
                **self.stats,
            }


def _json(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sap_error(code: int, message: str) -> dict:
    return {"error": {"code": code, "message": {"lang": "en-us", "value": message}}}


_ENTITY_PATH = re.compile(rf"^{re.escape(PREFIX)}/(Orders|Invoices)(?:\((\d+)\))?$")
_PREFER_PAGE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


def _handler(state: ErpState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        # -- routing -------------------------------------------------------------------------
        def do_POST(self) -> None:  # noqa: N802 (stdlib name)
            url = urlsplit(self.path)
            body = self._read_body()
            if url.path == f"{PREFIX}/Login":
                self._login(body)
            elif url.path == f"{PREFIX}/Logout":
                state.logout(self._session_id())
                self._send_bytes(HTTPStatus.NO_CONTENT, b"")
            elif url.path == "/_emulator/advance":
                self._advance(dict(parse_qsl(url.query)))
            elif url.path == "/_emulator/faults":
                self._faults(body)
            else:
                self._send(HTTPStatus.NOT_FOUND, sap_error(-1, f"Resource not found: {url.path}"))

        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            url = urlsplit(self.path)
            if url.path == "/_emulator/stats":
                self._send(HTTPStatus.OK, state.snapshot())
                return
            m = _ENTITY_PATH.match(url.path)
            if not m:
                self._send(HTTPStatus.NOT_FOUND, sap_error(-1, f"Resource not found: {url.path}"))
                return
            fault = state.next_fault()
            if fault is not None:
                self._serve_fault(fault)
                return
            if not state.session_valid(self._session_id()):
                self._send(HTTPStatus.UNAUTHORIZED, sap_error(301, "Invalid session."))
                return
            entity, key = m.group(1), m.group(2)
            try:
                if key is not None:
                    self._single(entity, int(key))
                else:
                    self._collection(entity, url.query)
            except ODataError as exc:
                self._send(HTTPStatus.BAD_REQUEST, sap_error(-1000, str(exc)))

        # -- Service Layer -------------------------------------------------------------------
        def _login(self, body: bytes) -> None:
            try:
                creds = json.loads(body or b"{}")
                if not isinstance(creds, dict):
                    raise ValueError
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST, sap_error(-1000, "Invalid JSON body"))
                return
            sid = state.login(creds)
            if sid is None:
                self._send(
                    HTTPStatus.UNAUTHORIZED,
                    sap_error(-304, "Login failed: invalid company, user name or password"),
                )
                return
            payload = {
                "odata.metadata": f"{self._root()}/$metadata#B1Sessions/@Element",
                "SessionId": sid,
                "Version": VERSION,
                "SessionTimeout": state.session_timeout,
            }
            cookies = [f"B1SESSION={sid}; path={PREFIX}; HttpOnly", f"ROUTEID={ROUTE_ID}; path={PREFIX}"]
            self._send(HTTPStatus.OK, payload, cookies=cookies)

        def _single(self, entity: str, doc_entry: int) -> None:
            doc = next((d for d in state.documents()[entity] if d["DocEntry"] == doc_entry), None)
            if doc is None:
                self._send(HTTPStatus.NOT_FOUND, sap_error(-2028, "No matching records found (ODBC -2028)"))
            else:
                self._send(
                    HTTPStatus.OK, {"odata.metadata": f"{self._root()}/$metadata#{entity}/@Element", **doc}
                )

        def _collection(self, entity: str, raw_query: str) -> None:
            query = dict(parse_qsl(raw_query, keep_blank_values=True))
            unknown = [
                k
                for k in query
                if k.startswith("$") and k not in ("$filter", "$select", "$orderby", "$top", "$skip")
            ]
            if unknown:
                raise ODataError(f"unsupported query option: {', '.join(unknown)}")
            rows = state.query(entity, query.get("$filter") or None, query.get("$orderby") or None)
            skip = _int_option(query, "$skip") or 0
            top = _int_option(query, "$top")
            end = len(rows) if top is None else min(len(rows), skip + top)
            page_size = self._page_size()
            stop = end if page_size == 0 else min(end, skip + page_size)
            page = rows[skip:stop]
            if query.get("$select"):
                fields = [f.strip() for f in query["$select"].split(",") if f.strip()]
                if rows:
                    _check_fields(fields, set(rows[0]), "$select")
                page = [{f: d[f] for f in fields} for d in page]
            body: dict[str, Any] = {"odata.metadata": f"{self._root()}/$metadata#{entity}", "value": page}
            if stop < end:
                nxt = {k: v for k, v in query.items() if k not in ("$skip", "$top")}
                if top is not None:
                    nxt["$top"] = str(end - stop)
                nxt["$skip"] = str(stop)
                body["odata.nextLink"] = (
                    entity + "?" + "&".join(f"{k}={quote(v, safe=chr(39) + ',()')}" for k, v in nxt.items())
                )
            extra = [("Preference-Applied", f"odata.maxpagesize={page_size}")] if self._prefer() else []
            self._send(HTTPStatus.OK, body, headers=extra)

        # -- emulator controls ---------------------------------------------------------------
        def _advance(self, query: dict[str, str]) -> None:
            try:
                dias = int(query.get("dias", "1"))
                if not 0 <= dias <= 3660:
                    raise ValueError
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST, {"error": "dias must be an integer from 0 to 3660"})
                return
            hoje = state.advance(dias)
            self._send(HTTPStatus.OK, {"hoje": hoje.isoformat()})

        def _faults(self, body: bytes) -> None:
            try:
                spec = json.loads(body or b"{}")
                state.add_fault(spec)
            except (ValueError, TypeError, AttributeError) as exc:
                self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            self._send(HTTPStatus.OK, {"pending_faults": len(state.faults)})

        def _serve_fault(self, fault: _Fault) -> None:
            status = HTTPStatus(fault.status)
            headers = [("Retry-After", str(fault.retry_after))] if fault.retry_after is not None else []
            self._send(status, sap_error(-fault.status, f"Emulated fault: {status.phrase}"), headers=headers)

        # -- helpers ------------------------------------------------------------------------
        def _root(self) -> str:
            host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
            return f"http://{host}{PREFIX}"

        def _prefer(self) -> str | None:
            return self.headers.get("Prefer")

        def _page_size(self) -> int:
            m = _PREFER_PAGE.search(self._prefer() or "")
            return int(m.group(1)) if m else DEFAULT_PAGE_SIZE

        def _session_id(self) -> str | None:
            cookie = SimpleCookie()
            try:
                cookie.load(self.headers.get("Cookie") or "")
            except Exception:  # malformed cookie header: no session
                return None
            morsel = cookie.get("B1SESSION")
            return morsel.value if morsel else None

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self, status: HTTPStatus, body: dict, cookies: list[str] = (), headers: list[tuple[str, str]] = ()
        ) -> None:
            self._send_bytes(status, _json(body), cookies, headers)

        def _send_bytes(
            self,
            status: HTTPStatus,
            body: bytes,
            cookies: list[str] = (),
            headers: list[tuple[str, str]] = (),
        ) -> None:
            self.send_response(status)
            if status != HTTPStatus.NO_CONTENT:
                self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("DataServiceVersion", "3.0")
            for c in cookies:
                self.send_header("Set-Cookie", c)
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
            """Keep test and run output quiet."""

    return Handler


class ErpEmulator(LoopbackServer):
    """A running emulator: `base_url` (ends in /b1s/v1), `root_url`, `mundo`, `state`, `stop()`;
    also a context manager."""

    name = "erp"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        mundo: Mundo | None = None,
        company_db: str = EMULATOR_COMPANY_DB,
        username: str = EMULATOR_USERNAME,
        password: str = EMULATOR_PASSWORD,
        session_timeout: int = SESSION_TIMEOUT_MIN,
        generator_interval: float | None = None,
    ) -> None:
        self.mundo = mundo or Mundo()
        self.state = ErpState(self.mundo, company_db, username, password, session_timeout)
        self.state.documents()  # build before the first request
        self._serve(host, port, _handler(self.state), generator_interval)
        self.root_url = f"http://{host}:{self.port}"
        self.base_url = f"{self.root_url}{PREFIX}"

    def _generate(self, interval: float) -> None:
        # the generator also rebuilds the documents, so requests never pay for it
        while not self._stopping.wait(interval):
            self.state.advance(1)
            self.state.documents()

    def advance(self, dias: int = 1) -> date:
        return self.state.advance(dias)


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 42,
    hoje: date | None = None,
    generator_interval: float | None = None,
    *,
    mundo: Mundo | None = None,
    **kwargs: Any,
) -> ErpEmulator:
    """Serve the world of `seed` seen on `hoje` (default: the world's default clock) in daemon
    threads; `mundo` replaces seed/hoje with a world of your own (e.g. a bigger one for a bench).
    Other keyword arguments: company_db, username, password, session_timeout (minutes)."""
    if mundo is None:
        mundo = Mundo(seed=seed) if hoje is None else Mundo(seed=seed, hoje=hoje)
    return ErpEmulator(host, port, mundo=mundo, generator_interval=generator_interval, **kwargs)


def loader_settings(emu: ErpEmulator) -> dict[str, str]:
    """The ERP loader's settings pointing at `emu` (what the offline world sets)."""
    return {
        "MIRANTE_ERP_BASE_URL": emu.base_url,
        "MIRANTE_ERP_COMPANY_DB": EMULATOR_COMPANY_DB,
        "MIRANTE_ERP_USERNAME": EMULATOR_USERNAME,
        "MIRANTE_ERP_PASSWORD": EMULATOR_PASSWORD,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the emulator in the foreground until SIGINT or SIGTERM."""
    parser = cli_parser(__doc__, prog="python -m mirante.emulators.erp")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--hoje", type=date.fromisoformat, help="the world's clock (default 2025-12-31)")
    parser.add_argument("--inicio", type=date.fromisoformat, help="first day with sales (default 2025-01-01)")
    parser.add_argument(
        "--pedidos-dia", type=float, help="average orders per day (default 40; bigger worlds)"
    )
    parser.add_argument(
        "--generator", type=float, metavar="SECONDS", help="advance the clock one day every SECONDS"
    )
    args = parser.parse_args(argv)
    world = {
        k: v
        for k, v in (("inicio", args.inicio), ("hoje", args.hoje), ("pedidos_dia", args.pedidos_dia))
        if v is not None
    }

    emulator = start(
        args.host, args.port, mundo=Mundo(seed=args.seed, **world), generator_interval=args.generator
    )

    run_in_foreground(
        emulator,
        f"{emulator.base_url} (CompanyDB {EMULATOR_COMPANY_DB}, UserName {EMULATOR_USERNAME}; "
        f"emulator credentials)",
    )


if __name__ == "__main__":
    main()
