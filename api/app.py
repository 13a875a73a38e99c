"""Read-only data API over the marts (FastAPI), connecting as mirante_api, behind API keys.

    mirante api [--port 8000] [--host 127.0.0.1]        (make api; starts the embedded DB if needed)
    uvicorn --factory mirante.api.app:create_app        (server resolved like the CLI: db.server())

Routes:
    GET /health           {"status": "ok"} when the database answers              (open)
    GET /metrics          Prometheus: requests and durations per route (api/metrics.py) (open)
    GET /openapi.json     one path per mart, each with only the filters that apply;  (open)
                          /docs renders it with the swagger-ui files of the pip package
                          swagger-ui-bundle (served from here: nothing from a CDN)
    GET /v1/marts         the marts the key may read: name, description, path, columns, filters
    GET /v1/operacao      the dashboard's Operação page data (scope `operacao`; api/operacao.py)
    GET /v1/relatorios    the monthly finance reports (scope `relatorios`; api/relatorios.py), and
    GET /v1/relatorios/{mes}/{tipo}.{pdf|csv}   one report file (every earlier version kept)
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

This module builds the app (create_app) from its parts, and still offers their names:
    errors.py     ApiError, the refusal every part raises (answered as JSON here)
    auth.py       the API key of a request's Authorization header
    catalogue.py  the marts, their columns, keys, filters and descriptions
    pool.py       the read-only connection pool
    query.py      the query string validated into a Query; its where clause and next link
    service.py    Api: catalogue, pool, key check, routes per mart and the page query
    openapi.py    the OpenAPI operation of each mart, the bearer scheme, /docs
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mirante import config
from mirante.api import operacao, relatorios
from mirante.api.auth import HOW_TO_GET_A_KEY, bearer_token
from mirante.api.catalogue import FILTERS, MANIFEST, Column, Mart, read_catalogue
from mirante.api.errors import ApiError
from mirante.api.metrics import instrument
from mirante.api.openapi import (
    AUTH_RESPONSES,
    ERROR_SCHEMA,
    SECURITY_SCHEME,
    _add_security_scheme,
    _mount_docs,
    describe,
    openapi_operation,
)
from mirante.api.pool import APPLICATION_NAME, Pool
from mirante.api.query import (
    ANO_MAX,
    ANO_MIN,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    PAGING,
    UFS,
    Query,
    _shown,
    next_link,
    parse_query,
    where_clause,
)
from mirante.api.service import Api

log = logging.getLogger("mirante.api")

#: the names this module has always offered (its parts now live in the modules above)
__all__ = [
    "ANO_MAX",
    "ANO_MIN",
    "APPLICATION_NAME",
    "AUTH_RESPONSES",
    "DEFAULT_LIMIT",
    "ERROR_SCHEMA",
    "FILTERS",
    "HOW_TO_GET_A_KEY",
    "MANIFEST",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "PAGING",
    "SECURITY_SCHEME",
    "UFS",
    "Api",
    "ApiError",
    "Column",
    "Mart",
    "Pool",
    "Query",
    "api_url",
    "bearer_token",
    "create_app",
    "describe",
    "next_link",
    "openapi_operation",
    "parse_query",
    "read_catalogue",
    "where_clause",
]


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
    operations: Callable[[], dict] | None = None,
) -> FastAPI:
    """The API over the marts, as the role of `url` (default: mirante_api on db.server()).
    /v1/operacao answers `operations()` (orchestration/operacao.py's `provider()`; None: 503).

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
    # GET /metrics (open, no data: counts and durations per route template; api/metrics.py)
    app.state.metrics = instrument(app)

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
    operacao.mount(app, operations)  # GET /v1/operacao (api/operacao.py), before the catch-all
    relatorios.mount(app)  # GET /v1/relatorios[/{mes}/{tipo}.{formato}] (api/relatorios.py)

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
