"""Read-only data API over the marts (FastAPI), connecting as mirante_api, behind API keys.

    mirante api [--port 8000] [--host 127.0.0.1]        (make api; starts the embedded DB if needed)
    uvicorn --factory mirante.api.app:create_app        (server resolved like the CLI: db.server())

Routes:
    GET /health           {"status": "ok"} when the database answers              (open)
    GET /openapi.json     one path per mart, each with only the filters that apply;  (open)
                          /docs renders it with the swagger-ui files of the pip package
                          swagger-ui-bundle (served from here: nothing from a CDN)
    GET /v1/marts         the marts the key may read: name, description, path, columns, filters
    GET /v1/{mart}        rows of one mart, filtered and paged:
                          {"mart", "data": [...], "pagination": {"limit", "offset", "total", "next"}}

Every /v1/* request needs `Authorization: Bearer mrt_<id>_<secret>` (api/keys.py; `mirante api-key
create`). Missing, malformed, unknown or revoked key: 401 with `WWW-Authenticate: Bearer`; a mart
outside the key's scopes: 403. The key is checked in the request's own read-only transaction, which
also sets `mirante.municipios` (set_config(..., true): this transaction only) from the key's
municipality list, so the row-level security policies on the e-SUS marts (dbt macro
rls_por_municipio) hide every other municipality's rows, totals included. Revoking a key takes
effect on the next request.

The marts are what the api role sees in schema `marts` (information_schema.columns), read at start;
descriptions come from the dbt manifest (dbt_project/target/manifest.json) when present, else from
the relation comments dbt persists. An unknown mart is answered 404 from memory; the catalogue is
re-read for it at most once per MIRANTE_API_CATALOGUE_TTL_S (60 s), so a 404 flood costs no query
and a mart built after the API started appears within that time (/v1/marts re-reads it as well when
older). Pagination links (`next`) are relative (`/v1/<mart>?...`), or absolute on
MIRANTE_API_PUBLIC_URL when set: never built from the request's Host header.

Filters, each offered only where it applies:
    id_municipio   7-digit IBGE code            where the mart has an `id_municipio` column
    sigla_uf       one of the 27 UFs            where the mart has a `sigla_uf` column
    ano, mes       1900-2100, 1-12              on the `ano` / `mes` columns, else on the date column
    data_inicio,   ISO dates (inclusive),       on the mart's date column (the first date/timestamp
    data_fim       data_inicio <= data_fim      column named data*, else the first one)
    limit, offset  1..1000 (default 100), 0..1,000,000 (default 0)
Anything else (an unknown or inapplicable parameter, a repeated one, a bad value) is a 400 with a
JSON `{"detail": "..."}` naming the parameter; no request reaches SQL with text of its own: values
are validated, then bound as parameters, and names come from the catalogue (sql.Identifier).

Rows are ordered by the mart's primary key (in column order) or, without one, by all its columns,
so pages are stable; `total` and the page come from one read-only REPEATABLE READ transaction.
Postgres renders the rows as JSON (numerics as JSON numbers, dates ISO 8601).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg import sql
from starlette.exceptions import HTTPException as StarletteHTTPException

from mirante import config
from mirante.api import keys

log = logging.getLogger("mirante.api")

#: the 27 federative units
UFS = (
    "AC",
    "AL",
    "AM",
    "AP",
    "BA",
    "CE",
    "DF",
    "ES",
    "GO",
    "MA",
    "MG",
    "MS",
    "MT",
    "PA",
    "PB",
    "PE",
    "PI",
    "PR",
    "RJ",
    "RN",
    "RO",
    "RR",
    "RS",
    "SC",
    "SE",
    "SP",
    "TO",
)
FILTERS = ("id_municipio", "sigla_uf", "ano", "mes", "data_inicio", "data_fim")
PAGING = ("limit", "offset")
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 100, 1000, 1_000_000
ANO_MIN, ANO_MAX = 1900, 2100

APPLICATION_NAME = "mirante-api"
MANIFEST = config.ROOT / "dbt_project" / "target" / "manifest.json"

_NUMERIC = {"smallint", "integer", "bigint", "numeric", "real", "double precision"}
_INTEGER = {"smallint", "integer", "bigint"}
_DATES = {"date", "timestamp without time zone", "timestamp with time zone"}
_TEXT = {"text", "character varying", "character"}
_UNORDERABLE = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"}
#: relations dbt creates for a moment while it rebuilds a model
_DBT_TEMP = re.compile(r"__dbt_(tmp|backup)")
_ROUTABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ApiError(Exception):
    """A request the API refuses: `status` and a message for the client."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def _unauthorized(detail: str, error: str | None = "invalid_token") -> ApiError:
    challenge = 'Bearer realm="mirante"' + (f', error="{error}"' if error else "")
    return ApiError(401, detail, {"WWW-Authenticate": challenge})


HOW_TO_GET_A_KEY = "keys are created with `mirante api-key create --nome NAME --escopo MART`"


def bearer_token(request: Request) -> str:
    """The API key of the request's Authorization header (401 when missing or malformed; no query)."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized(
            f"missing API key: send the header 'Authorization: Bearer <key>' ({HOW_TO_GET_A_KEY})", error=None
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <key>'", error="invalid_request")
    return token.strip()


# --------------------------------------------------------------------------------------------
# catalogue


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # information_schema data_type
    nullable: bool
    description: str = ""


@dataclass(frozen=True)
class Mart:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # primary key columns in column order ((): none)
    description: str = ""
    domain: str = "marts"

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def date_column(self) -> Column | None:
        dates = [c for c in self.columns if c.type in _DATES]
        return next((c for c in dates if c.name.startswith("data")), dates[0] if dates else None)

    @property
    def filters(self) -> tuple[str, ...]:
        has = {c.name for c in self.columns}
        dated = self.date_column is not None
        ok = {
            "id_municipio": "id_municipio" in has,
            "sigla_uf": "sigla_uf" in has,
            "ano": "ano" in has or dated,
            "mes": "mes" in has or dated,
            "data_inicio": dated,
            "data_fim": dated,
        }
        return tuple(f for f in FILTERS if ok[f])

    @property
    def order_by(self) -> tuple[str, ...]:
        return self.key or tuple(c.name for c in self.columns if c.type not in _UNORDERABLE)

    def signature(self) -> tuple:
        return (self.name, tuple((c.name, c.type) for c in self.columns), self.key)


def _manifest_docs(path: Path = MANIFEST) -> dict[str, dict]:
    """{relation name: {"description", "domain", "columns": {name: description}}} of the dbt models
    in schema marts, from the manifest (empty when there is none or it cannot be read)."""
    try:
        nodes = json.loads(path.read_text())["nodes"]
    except (OSError, ValueError, KeyError):
        return {}
    docs = {}
    for node in nodes.values():
        if node.get("resource_type") != "model" or node.get("schema") != config.MARTS_SCHEMA:
            continue
        fqn = node.get("fqn") or []
        docs[node.get("alias") or node["name"]] = {
            "description": " ".join((node.get("description") or "").split()),
            "domain": fqn[2] if len(fqn) > 3 and fqn[1] == "marts" else "marts",
            "columns": {
                k: " ".join((v.get("description") or "").split())
                for k, v in (node.get("columns") or {}).items()
            },
        }
    return docs


def read_catalogue(conn: psycopg.Connection, manifest: Path = MANIFEST) -> dict[str, Mart]:
    """Every relation of schema marts the connection's role may read, with its columns, primary key
    and descriptions (dbt manifest first, else the comments dbt persists on the relations)."""
    schema = config.MARTS_SCHEMA
    rows = conn.execute(
        """select c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES',
                  col_description(to_regclass(format('%%I.%%I', c.table_schema, c.table_name)),
                                  c.ordinal_position::int)
           from information_schema.columns c
           where c.table_schema = %s order by c.table_name, c.ordinal_position""",
        (schema,),
    ).fetchall()
    keys = dict(
        conn.execute(
            """select t.relname, array_agg(a.attname::text order by a.attnum)
           from pg_index i join pg_class t on t.oid = i.indrelid
           join pg_namespace n on n.oid = t.relnamespace
           join pg_attribute a on a.attrelid = t.oid and a.attnum = any(i.indkey)
           where n.nspname = %s and i.indisprimary group by t.relname""",
            (schema,),
        ).fetchall()
    )
    comments = dict(
        conn.execute(
            """select t.relname, obj_description(t.oid, 'pg_class') from pg_class t
           join pg_namespace n on n.oid = t.relnamespace where n.nspname = %s""",
            (schema,),
        ).fetchall()
    )
    docs = _manifest_docs(manifest)
    columns: dict[str, list[Column]] = {}
    for table, name, data_type, nullable, comment in rows:
        if _DBT_TEMP.search(table) or not _ROUTABLE.match(table) or table == "marts":
            continue
        described = docs.get(table, {}).get("columns", {}).get(name) or " ".join((comment or "").split())
        columns.setdefault(table, []).append(Column(name, data_type, nullable, described))
    marts = {}
    for table, cols in columns.items():
        doc = docs.get(table, {})
        marts[table] = Mart(
            name=table,
            columns=tuple(cols),
            key=tuple(keys.get(table) or ()),
            description=doc.get("description") or " ".join((comments.get(table) or "").split()),
            domain=doc.get("domain", "marts"),
        )
    return marts


# --------------------------------------------------------------------------------------------
# connections


class Pool:
    """A small thread-safe pool of reader connections (at most `size` open at once).

    Every session is read-only and has a statement timeout; a broken connection is dropped, an
    idle one reused (LIFO, so the warm ones)."""

    def __init__(self, url: str, size: int = 4, timeout: float = 10.0, statement_timeout_ms: int = 5000):
        self.url, self.size, self.timeout = url, size, timeout
        self.statement_timeout_ms = statement_timeout_ms
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=10,
            application_name=APPLICATION_NAME,
            options=f"-c statement_timeout={self.statement_timeout_ms} -c default_transaction_read_only=on",
        )
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if self._closed:
            raise ApiError(503, "the API is shutting down")
        if not self._slots.acquire(timeout=self.timeout):
            raise ApiError(503, "all database connections are busy; retry shortly")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                pass
            if conn is None or conn.closed or conn.broken:
                try:
                    conn = self._connect()
                except psycopg.OperationalError:
                    log.exception("cannot connect to the database")
                    raise ApiError(503, "the database is unavailable; retry shortly") from None
            yield conn
        finally:
            if conn is not None:
                if (
                    self._closed
                    or conn.closed
                    or conn.broken
                    or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
                ):
                    conn.close()
                else:
                    self._idle.put(conn)
            self._slots.release()

    def discard_idle(self) -> None:
        """Close the idle connections (after one was found dead: the others likely are too)."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def close(self) -> None:
        self._closed = True
        self.discard_idle()


# --------------------------------------------------------------------------------------------
# parameters


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _integer(name: str, value: str, lo: int, hi: int) -> int:
    text = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", text) or not lo <= int(text) <= hi:
        raise ApiError(400, f"{name} must be an integer between {lo} and {hi}, got {_shown(value)}")
    return int(text)


def _date(name: str, value: str) -> date:
    text = value.strip()
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO date YYYY-MM-DD, got {_shown(value)}") from None


@dataclass
class Query:
    filters: dict[str, object] = field(default_factory=dict)
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_query(mart: Mart, items: list[tuple[str, str]]) -> Query:
    """Validate the query string of a request to `mart` (every problem is an ApiError 400)."""
    accepted = mart.filters + PAGING
    seen: dict[str, str] = {}
    unknown, inapplicable, repeated = [], [], []
    for key, value in items:
        if key in seen:
            repeated.append(key)
        seen[key] = value
        if key not in accepted:
            (inapplicable if key in FILTERS else unknown).append(key)
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter(s): {', '.join(map(_shown, dict.fromkeys(unknown)))}; "
            f"{mart.name} accepts: {', '.join(accepted)}",
        )
    if inapplicable:
        raise ApiError(
            400,
            f"filter(s) {', '.join(dict.fromkeys(inapplicable))} do not apply to {mart.name} "
            f"(no such column); it accepts: {', '.join(accepted)}",
        )
    if repeated:
        raise ApiError(400, f"query parameter(s) given more than once: {', '.join(dict.fromkeys(repeated))}")
    q = Query()
    for key, value in seen.items():
        if key == "id_municipio":
            if not re.fullmatch(r"[0-9]{7}", value.strip()):
                raise ApiError(
                    400, f"id_municipio must be a 7-digit IBGE municipality code, got {_shown(value)}"
                )
            q.filters[key] = value.strip()
        elif key == "sigla_uf":
            uf = value.strip().upper()
            if uf not in UFS:
                raise ApiError(
                    400, f"sigla_uf must be one of the 27 UFs ({', '.join(UFS)}), got {_shown(value)}"
                )
            q.filters[key] = uf
        elif key == "ano":
            q.filters[key] = _integer(key, value, ANO_MIN, ANO_MAX)
        elif key == "mes":
            q.filters[key] = _integer(key, value, 1, 12)
        elif key in ("data_inicio", "data_fim"):
            q.filters[key] = _date(key, value)
        elif key == "limit":
            q.limit = _integer(key, value, 1, MAX_LIMIT)
        elif key == "offset":
            q.offset = _integer(key, value, 0, MAX_OFFSET)
    inicio, fim = q.filters.get("data_inicio"), q.filters.get("data_fim")
    if inicio and fim and inicio > fim:
        raise ApiError(400, f"data_inicio ({inicio}) is after data_fim ({fim})")
    return q


def _equals(col: Column, value: object) -> tuple[sql.Composable, object]:
    """`col = value` with the value bound in the column's own type family."""
    ident = sql.Identifier(col.name)
    if col.type in _NUMERIC:
        return sql.SQL("{} = %s").format(ident), int(value) if col.type in _INTEGER else value
    if col.type in _TEXT:
        return sql.SQL("{} = %s").format(ident), str(value)
    return sql.SQL("{}::text = %s").format(ident), str(value)


def where_clause(mart: Mart, q: Query) -> tuple[sql.Composable, list]:
    conds: list[sql.Composable] = []
    params: list = []

    def add(cond: sql.Composable, *values) -> None:
        conds.append(cond)
        params.extend(values)

    for name in ("id_municipio", "sigla_uf", "ano", "mes"):
        if name in q.filters and mart.column(name):
            add(*_equals(mart.column(name), q.filters[name]))
    dcol = mart.date_column
    if dcol is not None:
        ident = sql.Identifier(dcol.name)
        as_date = ident if dcol.type == "date" else sql.SQL("({})::date").format(ident)
        ano, mes = q.filters.get("ano"), q.filters.get("mes")
        derive_ano, derive_mes = not mart.column("ano") and ano, not mart.column("mes") and mes
        if derive_ano:  # ano (and mes) on the date column: a range of days
            first = date(ano, mes if derive_mes else 1, 1)
            after = date(ano + mes // 12, mes % 12 + 1, 1) if derive_mes else date(ano + 1, 1, 1)
            add(sql.SQL("{} >= %s and {} < %s").format(as_date, as_date), first, after)
        elif derive_mes:
            add(sql.SQL("extract(month from {}) = %s").format(ident), mes)
        if "data_inicio" in q.filters:
            add(sql.SQL("{} >= %s").format(as_date), q.filters["data_inicio"])
        if "data_fim" in q.filters:
            add(sql.SQL("{} <= %s").format(as_date), q.filters["data_fim"])
    if not conds:
        return sql.SQL(""), params
    return sql.SQL(" where ") + sql.SQL(" and ").join(conds), params


def _not_found(name: str) -> ApiError:
    return ApiError(404, f"unknown mart {_shown(name)}: GET /v1/marts lists the marts")


def next_link(request: Request, q: Query, offset: int) -> str:
    """Link to the page at `offset`: the request's path and parameters with limit/offset replaced,
    relative, or on MIRANTE_API_PUBLIC_URL; never on the Host the client sent."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in PAGING]
    query = urlencode([*params, ("limit", q.limit), ("offset", offset)])
    path = f"{request.url.path}?{query}"
    base = config.api_public_url()
    return f"{base}{path}" if base else path


# --------------------------------------------------------------------------------------------
# the service


class Api:
    """The catalogue, the pool and the request handling behind the FastAPI app."""

    def __init__(
        self,
        url: str,
        pool_size: int = 4,
        statement_timeout_ms: int = 5000,
        catalogue_ttl: float = 60.0,
        manifest: Path = MANIFEST,
    ):
        self.pool = Pool(url, size=pool_size, statement_timeout_ms=statement_timeout_ms)
        self.catalogue_ttl, self.manifest = catalogue_ttl, manifest
        self.marts: dict[str, Mart] = {}
        self.router = APIRouter()
        self._lock = threading.Lock()
        self._generation = 0
        self._read_at = 0.0

    # catalogue ------------------------------------------------------------------------------

    def refresh(self, seen_generation: int | None = None) -> bool:
        """Re-read the catalogue (once for any number of concurrent callers that saw the same
        generation); rebuild the mart routes when it changed. Returns whether it changed."""
        with self._lock:
            if seen_generation is not None and seen_generation != self._generation:
                return False  # another request re-read it meanwhile
            with self.pool.connection() as conn:
                marts = read_catalogue(conn, self.manifest)
            self._generation += 1
            self._read_at = time.monotonic()
            changed = [m.signature() for m in marts.values()] != [m.signature() for m in self.marts.values()]
            if changed:
                self.marts = marts
                self._install_routes()
            return changed

    def _install_routes(self) -> None:
        router = APIRouter()
        for mart in sorted(self.marts.values(), key=lambda m: m.name):
            router.add_api_route(
                mart.path,
                self._endpoint(mart.name),
                methods=["GET"],
                tags=[mart.domain],
                summary=f"Rows of {mart.name}",
                description=mart.description or f"Mart {mart.name}.",
                operation_id=f"get_{mart.name}",
                response_class=Response,
                openapi_extra=openapi_operation(mart),
            )
        # swap the whole list at once (requests in flight keep the old one); FastAPI caches the
        # routes of an included router and the OpenAPI document by this router's routes version
        self.router.routes = router.routes
        self.router._mark_routes_changed()

    def _endpoint(self, name: str):
        def endpoint(request: Request) -> Response:
            return self.serve(name, request)

        endpoint.__name__ = f"get_{name}"
        return endpoint

    def find(self, name: str) -> Mart | None:
        """The mart called `name`, from memory. An unknown name re-reads the catalogue only when it
        is older than catalogue_ttl (once for all the requests that find it so), so a flood of
        unknown names costs no query."""
        mart = self.marts.get(name)
        if mart is None and _ROUTABLE.match(name) and time.monotonic() - self._read_at > self.catalogue_ttl:
            self.refresh(self._generation)
            mart = self.marts.get(name)
        return mart

    def lookup(self, name: str) -> Mart:
        mart = self.find(name)
        if mart is None:
            raise _not_found(name)
        return mart

    def list_marts(self, key: keys.Chave) -> list[dict]:
        if time.monotonic() - self._read_at > self.catalogue_ttl:
            self.refresh(self._generation)
        return [describe(m) for m in sorted(self.marts.values(), key=lambda m: m.name) if key.allows(m.name)]

    # keys -----------------------------------------------------------------------------------

    @staticmethod
    def authenticate(conn: psycopg.Connection, token: str) -> keys.Chave:
        """The key of `token`, checked inside the caller's transaction, which it also restricts to
        the key's municipalities (the GUC the row-level security policies read). 401 otherwise."""
        try:
            key_id, secret = keys.parse(token)
        except ValueError:
            raise _unauthorized(
                "malformed API key: expected mrt_<id>_<secret> as issued by `mirante api-key create`"
            ) from None
        row = conn.execute(
            sql.SQL(
                "select nome, hash, escopos, municipios, revogada_em, "
                "set_config('mirante.municipios', case when municipios is null then '*' "
                "else array_to_string(municipios, ',') end, true) "
                "from {} where id = %s"
            ).format(sql.Identifier(config.SECURITY_SCHEMA, "chaves_api")),
            (key_id,),
        ).fetchone()
        if row is None or not keys.verify(row[1], secret):
            raise _unauthorized(f"invalid API key {keys.PREFIX}_{key_id}: unknown id or wrong secret")
        nome, _, escopos, municipios, revogada_em = row[:5]
        if revogada_em is not None:
            raise _unauthorized(
                f"API key {nome!r} ({keys.PREFIX}_{key_id}) was revoked on "
                f"{revogada_em:%Y-%m-%d %H:%M:%S %Z}".rstrip()
            )
        return keys.Chave(key_id, nome, tuple(escopos), tuple(municipios) if municipios is not None else None)

    def key_of(self, request: Request) -> keys.Chave:
        """The request's key, checked on its own (for routes that read no mart)."""
        token = bearer_token(request)

        def fn(conn: psycopg.Connection):
            with conn.transaction():
                return self.authenticate(conn, token)

        return self._run(fn)

    # queries --------------------------------------------------------------------------------

    def _run(self, fn):
        """fn(conn) on a pooled connection; a connection found dead is replaced once."""
        for attempt in (1, 2):
            with self.pool.connection() as conn:
                try:
                    return fn(conn)
                except psycopg.errors.QueryCanceled as e:
                    raise ApiError(
                        503,
                        f"the query took longer than {self.pool.statement_timeout_ms} ms "
                        f"and was cancelled; narrow the filters or page with a smaller limit",
                    ) from e
                except psycopg.OperationalError:
                    if attempt == 2 or not conn.broken:
                        log.exception("database error")
                        raise ApiError(503, "the database is unavailable; retry shortly") from None
                    self.pool.discard_idle()  # e.g. the server restarted: reconnect once
        raise AssertionError("unreachable")

    def page(
        self, name: str, mart: Mart | None, token: str, items: list[tuple[str, str]]
    ) -> tuple[Mart, Query, int, list[str]]:
        """(mart, query, total, JSON text of each row of the page) in one read-only snapshot, the
        key checked first in the same transaction: 401 bad key, 404 unknown mart, 403 out of
        scope, 400 bad parameters, in that order."""

        def fn(conn: psycopg.Connection):
            with conn.transaction():
                key = self.authenticate(conn, token)
                if mart is None:
                    raise _not_found(name)
                if not key.allows(mart.name):
                    raise ApiError(
                        403,
                        f"API key {key.label} may not read mart {mart.name!r}; its scopes: "
                        f"{', '.join(key.escopos)}",
                    )
                q = parse_query(mart, items)
                total, data = self._query(conn, mart, q)
            return mart, q, total, data

        return self._run(fn)

    @staticmethod
    def _query(conn: psycopg.Connection, mart: Mart, q: Query) -> tuple[int, list[str]]:
        where, params = where_clause(mart, q)
        table = sql.Identifier(config.MARTS_SCHEMA, mart.name)

        def order(alias: str) -> sql.Composable:
            return sql.SQL(", ").join(sql.Identifier(alias, c) for c in mart.order_by)

        count = sql.SQL("select count(*) from {} t{}").format(table, where)
        # rows skipped by the offset are not rendered: JSON only for the page (the outer ORDER BY
        # keeps the order guaranteed and costs nothing, the input being sorted already)
        rows = sql.SQL(
            "select to_json(p)::text from (select * from {} t{} order by {} limit %s offset %s) p order by {}"
        ).format(table, where, order("t"), order("p"))

        total = conn.execute(count, params).fetchone()[0]
        data = [r[0] for r in conn.execute(rows, [*params, q.limit, q.offset])] if q.offset < total else []
        return total, data

    def serve(self, name: str, request: Request) -> Response:
        token = bearer_token(request)
        items = request.query_params.multi_items()
        try:
            mart, q, total, data = self.page(name, self.find(name), token, items)
        except (
            psycopg.errors.UndefinedTable,  # dropped since the catalogue was read
            psycopg.errors.UndefinedColumn,
            psycopg.errors.UndefinedFunction,
        ):  # changed under us
            self.refresh()  # answer from its new shape, or 404
            mart, q, total, data = self.page(name, self.marts.get(name), token, items)
        nxt = q.offset + q.limit
        pagination = {
            "limit": q.limit,
            "offset": q.offset,
            "total": total,
            "next": next_link(request, q, nxt) if nxt < total else None,
        }
        body = (
            f'{{"mart":{json.dumps(mart.name)},"data":[{",".join(data)}],'
            f'"pagination":{json.dumps(pagination)}}}'
        )
        return Response(body, media_type="application/json")

    def ping(self) -> None:
        self._run(lambda conn: conn.execute("select 1").fetchone())


# --------------------------------------------------------------------------------------------
# OpenAPI


def _json_type(col: Column) -> dict:
    if col.type in _INTEGER:
        schema = {"type": "integer"}
    elif col.type in _NUMERIC:
        schema = {"type": "number"}
    elif col.type == "date":
        schema = {"type": "string", "format": "date"}
    elif col.type.startswith("timestamp"):
        schema = {"type": "string", "format": "date-time"}
    elif col.type == "boolean":
        schema = {"type": "boolean"}
    elif col.type in _TEXT:
        schema = {"type": "string"}
    else:
        schema = {}
    if schema and col.nullable:
        schema["type"] = [schema["type"], "null"]
    if col.description:
        schema["description"] = col.description
    return schema


def _parameter(mart: Mart, name: str) -> dict:
    dcol = mart.date_column.name if mart.date_column else None
    on = lambda what: f"column {what}" if mart.column(what) else f"derived from {dcol}"  # noqa: E731
    spec = {
        "id_municipio": (
            "7-digit IBGE municipality code",
            {"type": "string", "pattern": r"^[0-9]{7}$"},
            "3550308",
        ),
        "sigla_uf": ("UF (state) abbreviation", {"type": "string", "enum": list(UFS)}, "SP"),
        "ano": (f"Year ({on('ano')})", {"type": "integer", "minimum": ANO_MIN, "maximum": ANO_MAX}, None),
        "mes": (f"Month 1-12 ({on('mes')})", {"type": "integer", "minimum": 1, "maximum": 12}, None),
        "data_inicio": (
            f"First day, inclusive, on {dcol} (ISO date; <= data_fim)",
            {"type": "string", "format": "date"},
            None,
        ),
        "data_fim": (
            f"Last day, inclusive, on {dcol} (ISO date)",
            {"type": "string", "format": "date"},
            None,
        ),
        "limit": (
            f"Rows per page, 1-{MAX_LIMIT}",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            None,
        ),
        "offset": (
            f"Rows to skip, 0-{MAX_OFFSET:,}",
            {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
            None,
        ),
    }[name]
    param = {"name": name, "in": "query", "required": False, "description": spec[0], "schema": spec[1]}
    if spec[2]:
        param["example"] = spec[2]
    return param


ERROR_SCHEMA = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
SECURITY_SCHEME = "chave_api"
_ERROR_CONTENT = {"application/json": {"schema": ERROR_SCHEMA}}
AUTH_RESPONSES = {
    "401": {"description": "Missing, malformed, unknown or revoked API key", "content": _ERROR_CONTENT},
    "403": {"description": "The API key's scopes do not include this mart", "content": _ERROR_CONTENT},
}


def openapi_operation(mart: Mart) -> dict:
    row = {"type": "object", "properties": {c.name: _json_type(c) for c in mart.columns}}
    page = {
        "type": "object",
        "required": ["mart", "data", "pagination"],
        "properties": {
            "mart": {"type": "string", "const": mart.name},
            "data": {"type": "array", "items": row},
            "pagination": {
                "type": "object",
                "properties": {
                    "limit": {"type": "integer"},
                    "offset": {"type": "integer"},
                    "total": {"type": "integer"},
                    "next": {
                        "type": ["string", "null"],
                        "description": "URL of the next page, null on the last",
                    },
                },
            },
        },
    }
    error = lambda text: {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}  # noqa: E731
    return {
        "parameters": [_parameter(mart, f) for f in mart.filters + PAGING],
        "security": [{SECURITY_SCHEME: []}],
        "responses": {
            "200": {
                "description": f"A page of {mart.name}, ordered by {', '.join(mart.order_by)}",
                "content": {"application/json": {"schema": page}},
            },
            **AUTH_RESPONSES,
            "400": error("Unknown, inapplicable, repeated or invalid query parameter"),
            "503": error("Database unavailable, busy, or query timed out"),
        },
    }


def _add_security_scheme(app: FastAPI) -> None:
    """Declare the bearer API key in the OpenAPI document (the routes name it in `security`)."""
    build = app.openapi

    def openapi() -> dict:
        doc = build()
        doc.setdefault("components", {}).setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mrt_<id>_<secret>",
            "description": "API key from `mirante api-key create`",
        }
        return doc

    app.openapi = openapi


def _mount_docs(app: FastAPI) -> None:
    """/docs: swagger-ui from the pip package swagger-ui-bundle, served by the app itself (the
    machines may be offline; FastAPI's default page loads it from a CDN)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # the page is optional; /openapi.json is the contract
        return
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Mirante data API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )


def describe(mart: Mart) -> dict:
    return {
        "name": mart.name,
        "description": mart.description,
        "path": mart.path,
        "domain": mart.domain,
        "columns": [{"name": c.name, "type": c.type, "description": c.description} for c in mart.columns],
        "filters": list(mart.filters),
        "date_column": mart.date_column.name if mart.date_column else None,
        "order_by": list(mart.order_by),
    }


# --------------------------------------------------------------------------------------------
# the app


def api_url() -> str:
    """URL of the api role on the server Mirante uses (started if embedded), like the CLI."""
    from mirante import db

    return db.server().url("api")


def create_app(
    url: str | None = None,
    *,
    pool_size: int | None = None,
    statement_timeout_ms: int | None = None,
    catalogue_ttl: float | None = None,
    manifest: Path = MANIFEST,
) -> FastAPI:
    """The API over the marts, as the role of `url` (default: mirante_api on db.server()).

    Pool size, statement timeout and catalogue TTL default to MIRANTE_API_POOL_SIZE (4),
    MIRANTE_API_STATEMENT_TIMEOUT_MS (5000) and MIRANTE_API_CATALOGUE_TTL_S (60). Reads the
    catalogue now: the database must answer.
    """
    api = Api(
        url or api_url(),
        pool_size=pool_size or config.api_pool_size(),
        statement_timeout_ms=statement_timeout_ms or config.api_statement_timeout_ms(),
        catalogue_ttl=config.api_catalogue_ttl() if catalogue_ttl is None else catalogue_ttl,
        manifest=manifest,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        api.pool.close()

    app = FastAPI(
        title="Mirante data API",
        version="1",
        description="Read-only access to the marts of every domain: one route per mart, with only the "
        "filters that apply to it, paged. Every /v1 route needs an API key "
        "(`Authorization: Bearer mrt_<id>_<secret>`, created with `mirante api-key create`); "
        "its scopes name the marts it may read and, for the e-SUS marts, its municipalities "
        'the rows it sees. Errors are JSON `{"detail": "..."}` with a 4xx status.',
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.api = api

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [
            "{}: {}".format(".".join(str(p) for p in e.get("loc", ())[1:]) or "request", e.get("msg"))
            for e in exc.errors()
        ]
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/health", tags=["meta"], summary="Liveness: the API and its database answer")
    def health() -> dict:
        api.ping()
        return {"status": "ok"}

    @app.get(
        "/v1/marts",
        tags=["meta"],
        summary="The marts the API key may read, with their columns and filters",
        openapi_extra={"security": [{SECURITY_SCHEME: []}], "responses": {"401": AUTH_RESPONSES["401"]}},
    )
    def marts(request: Request) -> dict:
        key = api.key_of(request)
        if request.query_params:
            raise ApiError(
                400,
                f"unknown query parameter(s): {', '.join(map(_shown, request.query_params))}; "
                f"/v1/marts takes none",
            )
        return {"data": api.list_marts(key)}

    api.refresh()
    app.include_router(api.router)

    @app.get("/v1/{mart}", include_in_schema=False)
    def any_mart(mart: str, request: Request) -> Response:
        """A mart without a route yet (built after the last catalogue read), or none: 404."""
        return api.serve(mart, request)

    _mount_docs(app)
    _add_security_scheme(app)

    spec = importlib.util.find_spec("mirante.api.dashboard")
    if spec is not None:
        mount = getattr(importlib.import_module("mirante.api.dashboard"), "mount", None)
        if callable(mount):
            mount(app)
    return app
