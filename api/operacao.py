"""GET /v1/operacao: the data of the dashboard's Operação page (runs, freshness, SLAs, late e-SUS
municipalities), behind an API key with scope `operacao` like every /v1 route.

Why this module exists: the page reads operations, not marts, so it needs a route of its own; the
numbers come from the Prometheus exporter's collector (orchestration/operacao.py over
orchestration/metrics.py), over the Dagster instance at `dagster_home` (default: the one `mirante
metrics` reads) and the running warehouse. The collector is built on the first request (reading the
Definitions takes seconds) and reused.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from mirante.api.errors import ApiError
from mirante.api.openapi import AUTH_RESPONSES, SECURITY_SCHEME

#: the scope a key needs (a mart-name pattern like `*` grants it too); the dashboard's key has it
SCOPE = "operacao"


def mount(app: FastAPI, dagster_home: Path | None = None) -> None:
    """Add GET /v1/operacao to `app` (before its /v1/{mart} catch-all)."""
    api = app.state.api
    lock = threading.Lock()
    collector = []

    def get_collector():
        with lock:
            if not collector:
                from mirante.orchestration import metrics

                collector.append(metrics.collector_for(dagster_home))
            return collector[0]

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
        from mirante.orchestration.operacao import snapshot

        return JSONResponse(
            jsonable_encoder(snapshot(get_collector())), headers={"Cache-Control": "no-store"}
        )
