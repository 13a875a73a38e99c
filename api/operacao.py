"""GET /v1/operacao: the data of the dashboard's Operação page (runs, freshness, SLAs, late e-SUS
municipalities), behind an API key with scope `operacao` like every /v1 route.

Why this module exists: the page reads operations, not marts, so it needs a route of its own. The
API layer imports no orchestration (tests/test_layering.py): the numbers come from the `operations`
callable the app is given (`mirante api` and `mirante dashboard` pass
orchestration/operacao.py's `provider()`: the Prometheus exporter's collector over the Dagster
instance and the running warehouse); an app given none answers 503.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from mirante.api.errors import ApiError
from mirante.api.openapi import AUTH_RESPONSES, SECURITY_SCHEME

#: the scope a key needs (a mart-name pattern like `*` grants it too); the dashboard's key has it
SCOPE = "operacao"


def mount(app: FastAPI, operations: Callable[[], dict] | None = None) -> None:
    """Add GET /v1/operacao to `app` (before its /v1/{mart} catch-all), answered by `operations()`."""
    api = app.state.api

    @app.get(
        "/v1/operacao",
        tags=["meta"],
        summary="Operations: latest runs by job, freshness, SLAs, late e-SUS municipalities",
        openapi_extra={"security": [{SECURITY_SCHEME: []}], "responses": AUTH_RESPONSES},
    )
    def operacao(request: Request) -> JSONResponse:
        key = api.key_of(request)
        if not key.allows(SCOPE):
            raise ApiError(403, f"API key {key.label} has no scope {SCOPE!r}")
        if request.query_params:
            raise ApiError(400, "/v1/operacao takes no query parameter")
        if operations is None:
            raise ApiError(503, "this API serves no operations data (start it with `mirante api`)")
        return JSONResponse(jsonable_encoder(operations()), headers={"Cache-Control": "no-store"})
