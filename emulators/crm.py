"""Offline emulator of a Ploomes-like CRM API (https://api2.ploomes.com): Contacts, Deals, Interactions.

Serves the commercial world of `emulators/comercial.py` (one `Mundo`, seeded, deterministic) as it
is on the emulated day `Mundo.hoje`, in the shapes of Ploomes' public API:

- auth: header `User-Key: <key>` on every data request; missing or wrong -> 401 JSON error. The
  default key `DEFAULT_USER_KEY` is an *emulator* credential, not a secret of any real system;
- OData query options: `$top` (at most 300, like Ploomes; default 300), `$skip`, `$filter`
  (`<Field> eq|ne|gt|ge|lt|le <value>` clauses joined by `and`; ISO 8601 datetimes, numbers,
  'strings', null), `$orderby` (`Field [asc|desc], ...`; ties broken by Id, so `$skip` paging is
  stable), `$select`, `$expand`, `$count=true`;
- body `{"@odata.context": ..., "value": [...], "@odata.nextLink": "<absolute url>"}`, the link
  absent on the last page;
- dates ISO 8601 with offset -03:00 (`2025-03-04T09:15:00-03:00`).

Nested objects come only when `$expand` asks for them, as in OData: Contacts `Phones` and
`City($expand=State)` (`City` alone gives the city without its state), Deals `Stage`.

Records:
- Contacts: one per customer created on or before `hoje` (`TypeId` 1 = company), `CityId` an
  internal id, `City.IBGECode` the 7-digit IBGE code, `City.State.Short` the UF;
- Deals: `StatusId` 1 open, 2 won, 3 lost; `StageId` 1-5 (`ETAPAS_NEGOCIO`); `FinishDate` null
  while open; `LastUpdateDate` moves whenever something visible changes: the stage (weekly while
  open) or the status (won/lost on `fecha_em`, 17:30);
- Interactions: 1 to 3 per deal (calls, e-mails, meetings, visits), derived deterministically from
  the deal, dated between its creation and its close (or within 45 days when it stays open), visible
  once their date is reached.

Test and operator endpoints (no User-Key):
- `POST /_emulator/advance?dias=N`: move the clock N days (new deals and interactions, deals won or
  lost, stages moved);
- `POST /_emulator/faults` with JSON `{"status": 429, "count": 2, "retry_after": 1}` or
  `{"status": 503, "count": 1}`: the next `count` data requests fail that way (before the User-Key is
  checked, as a gateway would); `{"clear": true}` drops pending faults;
- `GET /_emulator/state`: the clock, pending faults, data requests and records served so far.

Generator mode (`generator_interval=N` / `--generator N`): the clock advances one day every N seconds.

    with start() as emu:                     # or: python -m mirante.emulators.crm --port 8082
        requests.get(f"{emu.base_url}/Deals", headers={"User-Key": emu.user_key})
"""

from __future__ import annotations

import csv
import json
import random
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from time import monotonic
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from mirante import config
from mirante.emulators._servidor import LoopbackServer, cli_parser, run_in_foreground
from mirante.emulators.comercial import _SUFIXOS, ETAPAS_NEGOCIO, Cliente, Mundo, Negocio

#: emulator default credential (override with --user-key or MIRANTE_CRM_USER_KEY)
DEFAULT_USER_KEY = "mirante-emulator-crm-user-key"
#: largest page Ploomes serves
MAX_TOP = 300
#: Ploomes answers in Brasília time
TZ = timezone(timedelta(hours=-3))

ENTITIES = ("Contacts", "Deals", "Interactions")
#: navigation properties each entity can expand (a nested `$expand` only on City)
EXPANDABLE = {"Contacts": {"Phones", "City"}, "Deals": {"Stage"}, "Interactions": set()}

#: properties of each entity (navigation properties included)
FIELDS = {
    "Contacts": {
        "Id",
        "Name",
        "LegalName",
        "Register",
        "TypeId",
        "Email",
        "Phones",
        "CityId",
        "City",
        "OwnerId",
        "CreateDate",
        "LastUpdateDate",
    },
    "Deals": {
        "Id",
        "Title",
        "ContactId",
        "PipelineId",
        "StageId",
        "Stage",
        "StatusId",
        "Amount",
        "CreateDate",
        "FinishDate",
        "OwnerId",
        "LastUpdateDate",
    },
    "Interactions": {
        "Id",
        "ContactId",
        "DealId",
        "Date",
        "TypeId",
        "Content",
        "CreateDate",
        "LastUpdateDate",
    },
}

PIPELINE_ID = 1
STATUS_ID = {"open": 1, "won": 2, "lost": 3}
STAGE_ID = {name: i + 1 for i, name in enumerate(ETAPAS_NEGOCIO)}
#: interaction type -> content templates (no personal data)
TIPOS_INTERACAO = {
    1: ("Ligação", ("Ligação de apresentação", "Ligação de follow-up", "Ligação para alinhar prazos")),
    2: ("E-mail", ("Envio da proposta comercial", "Envio de tabela de preços", "Resposta a dúvidas")),
    3: ("Reunião", ("Reunião de levantamento de necessidades", "Reunião de negociação")),
    4: ("Visita", ("Visita técnica", "Visita de demonstração")),
}
#: an open deal's interactions spread over this many days after its creation
JANELA_ABERTO_DIAS = 45
#: owners (sales reps) of the accounts
N_VENDEDORES = 12


def iso(value: datetime) -> str:
    """ISO 8601 with the -03:00 offset, seconds precision (Ploomes' format)."""
    return value.replace(microsecond=0, tzinfo=TZ).isoformat()


def _json(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- world -> Ploomes records ------------------------------------------------------------------
def _ufs_and_cities(mundo: Mundo) -> tuple[dict[str, dict], dict[str, int]]:
    """UF -> State object, and IBGE code -> internal CityId (rank of the code, from 1)."""
    from mirante.config import shared_data_dir

    reference = mundo.reference or shared_data_dir() / "reference"
    with open(reference / "estados.csv", encoding="utf-8-sig", newline="") as fh:
        states = {
            r["uf"]: {"Id": int(r["codigo_uf"]), "Short": r["uf"], "Name": r["nome"]}
            for r in csv.DictReader(fh)
        }
    with open(reference / "municipios.csv", encoding="utf-8", newline="") as fh:
        codes = sorted(r["codigo_ibge"] for r in csv.DictReader(fh))
    return states, {code: i + 1 for i, code in enumerate(codes)}


def _nome_fantasia(razao_social: str) -> str:
    for sufixo in sorted(_SUFIXOS, key=len, reverse=True):
        if razao_social.endswith(" " + sufixo):
            return razao_social[: -len(sufixo) - 1]
    return razao_social


def _owner(cliente: Cliente) -> int:
    return 1 + cliente.id_crm % N_VENDEDORES


def contact(cliente: Cliente, states: dict[str, dict], city_ids: dict[str, int]) -> dict:
    """A customer as a Ploomes company contact, with every navigation property expanded."""
    minutos = 8 * 60 + (cliente.id_crm * 37) % 600
    criado = datetime.combine(cliente.criado_em, time(minutos // 60, minutos % 60))
    return {
        "Id": cliente.id_crm,
        "Name": _nome_fantasia(cliente.razao_social),
        "LegalName": cliente.razao_social,
        "Register": cliente.cnpj,
        "TypeId": 1,
        "Email": cliente.email,
        "Phones": [{"PhoneNumber": cliente.telefone, "TypeId": 1}],
        "CityId": city_ids[cliente.id_municipio],
        "City": {
            "Id": city_ids[cliente.id_municipio],
            "Name": cliente.cidade,
            "IBGECode": int(cliente.id_municipio),
            "State": states[cliente.sigla_uf],
        },
        "OwnerId": _owner(cliente),
        "CreateDate": iso(criado),
        "LastUpdateDate": iso(criado),
    }


def deal_last_update(negocio: Negocio, hoje: date) -> datetime:
    """When the deal last changed as seen on `hoje`: its close, else its latest stage move (weekly
    while open, `Negocio.etapa`), else its creation."""
    if negocio.status(hoje) != "open":
        return negocio.atualizado_em(hoje)
    semanas = min(len(ETAPAS_NEGOCIO) - 2, max(0, (hoje - negocio.criado_em.date()).days // 7))
    return negocio.criado_em + timedelta(days=7 * semanas)


def deal(negocio: Negocio, hoje: date) -> dict:
    status = negocio.status(hoje)
    etapa = negocio.etapa(hoje)
    return {
        "Id": negocio.id,
        "Title": negocio.titulo,
        "ContactId": negocio.cliente.id_crm,
        "PipelineId": PIPELINE_ID,
        "StageId": STAGE_ID[etapa],
        "Stage": {"Id": STAGE_ID[etapa], "Name": etapa},
        "StatusId": STATUS_ID[status],
        "Amount": float(negocio.valor),
        "CreateDate": iso(negocio.criado_em),
        "FinishDate": None if status == "open" else iso(datetime.combine(negocio.fecha_em, time(17, 30))),
        "OwnerId": _owner(negocio.cliente),
        "LastUpdateDate": iso(deal_last_update(negocio, hoje)),
    }


def interactions_of(negocio: Negocio, seed: int) -> list[tuple[datetime, dict]]:
    """The deal's 1-3 interactions, whatever the clock says: (date, record), oldest first."""
    rng = random.Random(f"{seed}:interacoes:{negocio.id}")
    inicio = negocio.criado_em
    if negocio.fecha_em is not None:
        fim = datetime.combine(negocio.fecha_em, time(17, 0))
    else:
        fim = inicio + timedelta(days=JANELA_ABERTO_DIAS)
    span = int((fim - inicio).total_seconds() // 60)
    minutos = sorted(rng.randrange(max(1, span)) for _ in range(rng.randint(1, 3)))
    out = []
    for k, m in enumerate(minutos):
        quando = inicio + timedelta(minutes=m)
        # office hours: anything outside 8h-19h moves to 9h of the same day
        if not 8 <= quando.hour < 19:
            quando = quando.replace(hour=9, minute=quando.minute)
        quando = max(quando, inicio)
        tipo = rng.choice(tuple(TIPOS_INTERACAO))
        nome, assuntos = TIPOS_INTERACAO[tipo]
        out.append(
            (
                quando,
                {
                    "Id": negocio.id * 10 + k + 1,
                    "ContactId": negocio.cliente.id_crm,
                    "DealId": negocio.id,
                    "Date": iso(quando),
                    "TypeId": tipo,
                    "Content": f"{nome}: {rng.choice(assuntos)}",
                    "CreateDate": iso(quando),
                    "LastUpdateDate": iso(quando),
                },
            )
        )
    return out


def build_records(mundo: Mundo, entity: str, hoje: date, refs: tuple[dict, dict]) -> list[dict]:
    """Every record of `entity` visible on `hoje`, ordered by Id."""
    if entity == "Contacts":
        rows = [contact(c, *refs) for c in mundo.clientes if c.criado_em <= hoje]
    elif entity == "Deals":
        rows = [deal(n, hoje) for d in mundo.dias(hoje) for n in mundo.negocios_do_dia(d)]
    else:
        rows = [
            r
            for d in mundo.dias(hoje)
            for n in mundo.negocios_do_dia(d)
            for quando, r in interactions_of(n, mundo.seed)
            if quando.date() <= hoje
        ]
    rows.sort(key=lambda r: r["Id"])
    dup = next((a["Id"] for a, b in zip(rows, rows[1:], strict=False) if a["Id"] == b["Id"]), None)
    if dup is not None:
        # Mundo numbers a day's deals ordinal*100 + n: 100 deals on one day run into the next day
        raise ValueError(
            f"{entity} Id {dup} is not unique: this Mundo (negocios_dia="
            f"{mundo.negocios_dia:g}) opens 100 or more deals on some day"
        )
    return rows


# -- OData query options -----------------------------------------------------------------------
class ODataError(ValueError):
    """A bad query option: answered with 400 and the message."""


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}
_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*$", re.IGNORECASE)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$")


def _literal(text: str) -> Any:
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1].replace("''", "'")
        return _as_datetime(text) if _DATETIME.match(text) else text
    if _DATETIME.match(text):
        return _as_datetime(text)
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise ODataError(f"cannot read the value {text!r} in $filter") from None


def _as_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ODataError(f"cannot read the datetime {text!r} in $filter") from None
    return value if value.tzinfo else value.replace(tzinfo=TZ)


def _field_value(row: dict, name: str, like: Any) -> Any:
    value = row.get(name)
    if isinstance(like, datetime) and isinstance(value, str):
        return _as_datetime(value)
    return value


def _sort_key(value: Any) -> tuple:
    """Nulls last; ISO datetimes compared as instants."""
    if value is None:
        return (1, 0)
    if isinstance(value, str) and _DATETIME.match(value):
        return (0, _as_datetime(value))
    return (0, value)


def parse_filter(text: str, fields: set[str]) -> Callable[[dict], bool]:
    """`Field op value [and ...]` -> a row predicate."""
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(part)
        if not m:
            raise ODataError(
                f"unsupported $filter clause {part!r}: use '<Field> eq|ne|gt|ge|lt|le <value>'"
                " joined by 'and'"
            )
        name, op, raw = m.group(1), m.group(2).lower(), m.group(3)
        if name not in fields:
            raise ODataError(f"unknown property {name!r} in $filter")
        clauses.append((name, _OPS[op], _literal(raw)))

    def predicate(row: dict) -> bool:
        return all(fn(_field_value(row, name, value), value) for name, fn, value in clauses)

    return predicate


def parse_orderby(text: str, fields: set[str]) -> list[tuple[str, bool]]:
    """`Field [asc|desc], ...` -> [(field, descending)]."""
    out = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ODataError(f"unsupported $orderby item {part.strip()!r}")
        if words[0] not in fields:
            raise ODataError(f"unknown property {words[0]!r} in $orderby")
        out.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return out


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += (ch == "(") - (ch == ")")
        current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def parse_expand(text: str, entity: str) -> dict[str, set[str]]:
    """`Phones,City($expand=State)` -> {"Phones": set(), "City": {"State"}}."""
    out: dict[str, set[str]] = {}
    for part in _split_top_level(text):
        m = re.fullmatch(r"(\w+)(?:\(\$expand=(\w+)\))?", part)
        if not m or m.group(1) not in EXPANDABLE[entity]:
            raise ODataError(
                f"cannot expand {part!r} on {entity}: expandable are "
                f"{', '.join(sorted(EXPANDABLE[entity])) or 'none'}"
            )
        nested = {m.group(2)} if m.group(2) else set()
        if nested and (m.group(1), m.group(2)) != ("City", "State"):
            raise ODataError(f"cannot expand {part!r} on {entity}")
        out[m.group(1)] = nested
    return out


def _int_option(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ODataError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ODataError(f"{name} must not be negative, got {value}")
    return value


def _shape(row: dict, entity: str, expand: dict[str, set[str]], select: list[str] | None) -> dict:
    out = {}
    for key, value in row.items():
        if key in EXPANDABLE[entity]:
            if key not in expand:
                continue
            if key == "City" and "State" not in expand[key]:
                value = {k: v for k, v in value.items() if k != "State"}
        elif select is not None and key not in select:
            continue
        out[key] = value
    return out


# -- server ------------------------------------------------------------------------------------
@dataclass
class Fault:
    status: int
    count: int
    retry_after: int | None = None


@dataclass
class RequestRecord:
    method: str
    path: str
    params: dict[str, str]
    status: int
    rows: int = 0
    at: float = field(default_factory=monotonic)  # arrival, for checking waits between retries


@dataclass
class _State:
    mundo: Mundo
    user_key: str
    base_url: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    faults: list[Fault] = field(default_factory=list)
    log: list[RequestRecord] = field(default_factory=list)
    records: dict[tuple[str, date], list[dict]] = field(default_factory=dict)
    views: OrderedDict = field(default_factory=OrderedDict)
    refs: tuple[dict, dict] | None = None


class CrmEmulator(LoopbackServer):
    """A running emulator: `base_url`, `user_key`, `mundo`, `requests()`, `advance()`, `stop()`;
    also a context manager."""

    name = "crm"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        mundo: Mundo,
        user_key: str = DEFAULT_USER_KEY,
        generator_interval: float | None = None,
    ) -> None:
        self._state = _State(mundo=mundo, user_key=user_key)
        self.user_key = user_key
        self.mundo = mundo
        self._serve(host, port, _handler(self._state), generator_interval)
        self.base_url = self._state.base_url = f"http://{host}:{self.port}"

    def advance(self, dias: int = 1) -> date:
        """Move the emulated clock (what `POST /_emulator/advance` does)."""
        with self._state.lock:
            return _advance(self._state, dias)

    def inject(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """Make the next `count` data requests fail with `status` (what `POST /_emulator/faults` does)."""
        with self._state.lock:
            self._state.faults.append(Fault(status, count, retry_after))

    def requests(self, path: str | None = None) -> list[RequestRecord]:
        """Data requests served so far (oldest first), optionally for one entity path."""
        with self._state.lock:
            return [r for r in self._state.log if path is None or r.path == path]

    def records(self, entity: str) -> list[dict]:
        """Every record of an entity visible now, fully expanded, ordered by Id."""
        with self._state.lock:
            return list(_records(self._state, entity, self._state.mundo.hoje))


def _advance(state: _State, dias: int) -> date:
    hoje = state.mundo.avancar(dias)
    # records of other days are no longer served
    state.records = {k: v for k, v in state.records.items() if k[1] == hoje}
    state.views.clear()
    return hoje


def _records(state: _State, entity: str, hoje: date) -> list[dict]:
    key = (entity, hoje)
    if key not in state.records:
        if state.refs is None:
            state.refs = _ufs_and_cities(state.mundo)
        state.records[key] = build_records(state.mundo, entity, hoje, state.refs)
    return state.records[key]


def _view(state: _State, entity: str, hoje: date, filter_text: str, orderby_text: str) -> list[dict]:
    """Records filtered and ordered (ties by Id); the last few views are kept."""
    key = (entity, hoje, filter_text, orderby_text)
    if key in state.views:
        state.views.move_to_end(key)
        return state.views[key]
    rows = _records(state, entity, hoje)
    fields = FIELDS[entity] - EXPANDABLE[entity]
    if filter_text:
        predicate = parse_filter(filter_text, fields)
        rows = [r for r in rows if predicate(r)]
    if orderby_text:
        # one stable sort per key, last key first; rows come ordered by Id, which breaks ties
        for name, desc in reversed(parse_orderby(orderby_text, fields)):
            rows = sorted(rows, key=lambda r: _sort_key(r[name]), reverse=desc)
    state.views[key] = rows
    while len(state.views) > 8:
        state.views.popitem(last=False)
    return rows


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            url = urlsplit(self.path)
            path = url.path.rstrip("/")
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            if path == "/_emulator/state":
                with state.lock:
                    body = {
                        "hoje": state.mundo.hoje.isoformat(),
                        "requests": len(state.log),
                        "rows": sum(r.rows for r in state.log),
                        "faults": [f.__dict__ for f in state.faults],
                    }
                return self._send(HTTPStatus.OK, body)
            entity = path.lstrip("/")
            if entity not in ENTITIES:
                return self._send(HTTPStatus.NOT_FOUND, _error(404, f"no resource at {url.path}"))
            with state.lock:
                fault = _take_fault(state)
                record = RequestRecord("GET", entity, params, 0)
                state.log.append(record)
                hoje = state.mundo.hoje
            if fault is not None:
                record.status = fault.status
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                reason = "Too many requests" if fault.status == 429 else "Service unavailable (injected)"
                return self._send(fault.status, _error(fault.status, reason), headers)
            if self.headers.get("User-Key") != state.user_key:
                record.status = 401
                return self._send(
                    HTTPStatus.UNAUTHORIZED,
                    _error(
                        401,
                        "Authorization has been denied for this request: missing or invalid User-Key header.",
                    ),
                )
            try:
                body, record.rows = _page(state, entity, hoje, params)
            except ODataError as exc:
                record.status = 400
                return self._send(HTTPStatus.BAD_REQUEST, _error(400, str(exc)))
            except ValueError as exc:  # a world the emulator cannot serve faithfully
                record.status = 500
                return self._send(HTTPStatus.INTERNAL_SERVER_ERROR, _error(500, str(exc)))
            record.status = 200
            self._send(HTTPStatus.OK, body)

        def do_POST(self) -> None:  # noqa: N802 (stdlib name)
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if url.path == "/_emulator/advance":
                try:
                    dias = int(params.get("dias", "1"))
                    if dias < 0:
                        raise ValueError
                except ValueError:
                    return self._send(HTTPStatus.BAD_REQUEST, _error(400, "dias must be a whole number >= 0"))
                with state.lock:
                    hoje = _advance(state, dias)
                return self._send(HTTPStatus.OK, {"hoje": hoje.isoformat()})
            if url.path == "/_emulator/faults":
                try:
                    spec = json.loads(raw or b"{}")
                    with state.lock:
                        if spec.get("clear"):
                            state.faults.clear()
                        else:
                            status = int(spec["status"])
                            if not (status == 429 or 500 <= status < 600):
                                raise ValueError("status must be 429 or 5xx")
                            retry_after = spec.get("retry_after")
                            state.faults.append(
                                Fault(
                                    status,
                                    int(spec.get("count", 1)),
                                    None if retry_after is None else int(retry_after),
                                )
                            )
                        pending = [f.__dict__ for f in state.faults]
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    return self._send(HTTPStatus.BAD_REQUEST, _error(400, f"bad fault spec: {exc}"))
                return self._send(HTTPStatus.OK, {"faults": pending})
            if url.path.lstrip("/") in ENTITIES:
                return self._send(HTTPStatus.METHOD_NOT_ALLOWED, _error(405, "the emulator is read-only"))
            self._send(HTTPStatus.NOT_FOUND, _error(404, f"no resource at {url.path}"))

        def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = _json(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
            """Keep test and run output quiet."""

    return Handler


def _error(code: int, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def _take_fault(state: _State) -> Fault | None:
    while state.faults:
        fault = state.faults[0]
        if fault.count <= 0:
            state.faults.pop(0)
            continue
        fault.count -= 1
        if fault.count == 0:
            state.faults.pop(0)
        return fault
    return None


def _page(state: _State, entity: str, hoje: date, params: dict[str, str]) -> tuple[dict, int]:
    unknown = sorted(
        k
        for k in params
        if k.startswith("$")
        and k not in ("$top", "$skip", "$filter", "$orderby", "$expand", "$select", "$count")
    )
    if unknown:
        raise ODataError(f"unsupported query option {', '.join(unknown)}")
    top = min(_int_option(params, "$top", MAX_TOP), MAX_TOP)
    skip = _int_option(params, "$skip", 0)
    expand = parse_expand(params.get("$expand", ""), entity)
    select = [s.strip() for s in params["$select"].split(",")] if params.get("$select") else None
    with state.lock:
        rows = _view(state, entity, hoje, params.get("$filter", ""), params.get("$orderby", ""))
    if select is not None:
        missing = [s for s in select if s not in FIELDS[entity]]
        if missing:
            raise ODataError(f"unknown property {missing[0]!r} in $select")
    page = rows[skip : skip + top]
    body: dict[str, Any] = {"@odata.context": f"{state.base_url}/$metadata#{entity}"}
    if params.get("$count", "").lower() == "true":
        body["@odata.count"] = len(rows)
    body["value"] = [_shape(r, entity, expand, select) for r in page]
    if top and skip + top < len(rows):
        nxt = {**params, "$top": str(top), "$skip": str(skip + top)}
        body["@odata.nextLink"] = f"{state.base_url}/{entity}?{urlencode(nxt, quote_via=quote, safe='$,()')}"
    return body, len(page)


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 42,
    hoje: date | None = None,
    generator_interval: float | None = None,
    *,
    user_key: str = DEFAULT_USER_KEY,
    mundo: Mundo | None = None,
) -> CrmEmulator:
    """Serve the world of `Mundo(seed)` as seen on `hoje` (default: the Mundo's) in daemon threads.
    `mundo` replaces seed/hoje with a world built by the caller (e.g. a larger one for the bench)."""
    if mundo is None:
        mundo = Mundo(seed=seed) if hoje is None else Mundo(seed=seed, hoje=hoje)
    return CrmEmulator(host, port, mundo=mundo, user_key=user_key, generator_interval=generator_interval)


def loader_settings(emu: CrmEmulator) -> dict[str, str]:
    """The CRM loader's settings pointing at `emu` (what the offline world sets)."""
    return {"MIRANTE_CRM_BASE_URL": emu.base_url, "MIRANTE_CRM_USER_KEY": emu.user_key}


def main(argv: list[str] | None = None) -> None:
    """Run the emulator in the foreground until SIGINT or SIGTERM; prints the base URL."""
    parser = cli_parser(__doc__)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--inicio", type=date.fromisoformat, help="first day with activity (YYYY-MM-DD)")
    parser.add_argument("--hoje", type=date.fromisoformat, help="the emulated today (YYYY-MM-DD)")
    parser.add_argument("--clientes", type=int, help="number of customers (default: the Mundo's)")
    parser.add_argument("--negocios-dia", type=float, help="average new deals per weekday")
    parser.add_argument(
        "--generator", type=float, metavar="SECONDS", help="advance the clock one day every SECONDS"
    )
    parser.add_argument(
        "--user-key",
        default=config.source_setting("crm", "user_key") or DEFAULT_USER_KEY,
        help="User-Key to accept (default: MIRANTE_CRM_USER_KEY or [sources.crm] user_key, else the "
        "emulator default)",
    )
    args = parser.parse_args(argv)

    kwargs: dict[str, Any] = {"seed": args.seed}
    for name, value in (
        ("inicio", args.inicio),
        ("hoje", args.hoje),
        ("n_clientes", args.clientes),
        ("negocios_dia", args.negocios_dia),
    ):
        if value is not None:
            kwargs[name] = value
    run_in_foreground(
        start(
            args.host,
            args.port,
            generator_interval=args.generator,
            user_key=args.user_key,
            mundo=Mundo(**kwargs),
        )
    )


if __name__ == "__main__":
    main()
