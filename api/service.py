"""Api: the catalogue, the pool and the request handling (key check, routes per mart, the page
query) behind the FastAPI app that app.py builds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import Response
from psycopg import sql

from mirante import config
from mirante.api import keys
from mirante.api.auth import bearer_token
from mirante.api.catalogue import _ROUTABLE, MANIFEST, Mart, read_catalogue
from mirante.api.errors import ApiError, _unauthorized
from mirante.api.openapi import describe, openapi_operation
from mirante.api.pool import Pool
from mirante.api.query import Query, _not_found, next_link, parse_query, where_clause

log = logging.getLogger("mirante.api")


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
