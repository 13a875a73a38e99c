"""Prometheus metrics of the data API: `GET /metrics` on the app itself.

    mirante_api_requests_total{route,status}          requests answered, by route template and status
    mirante_api_request_duration_seconds{route}       histogram of the time to answer them

`route` is the template of the route that answered (`/v1/agg_saneamento_uf_ano`, `/v1/{mart}`,
`/health`), never the raw path: a flood of made-up paths adds no series. Requests no route matched
are `route="unmatched"`.

`/metrics` is open, like `/health`: Prometheus scrapes it on loopback without an API key, and it
carries no data, only counts and durations per route (the route names are the marts, which
`/openapi.json` already lists openly). It is left out of the OpenAPI document. Each app has a
registry of its own (tests build several apps in one process).
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.routing import Mount

#: seconds: a page from memory to the statement timeout (5 s by default)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
UNMATCHED = "unmatched"


def _template(app: FastAPI, scope) -> str:
    """The template of the route that answered: a route's path, a mount's `<path>/{path}` (the
    dashboard's static files), else `unmatched`."""
    route = getattr(scope.get("route"), "path", None)
    if route:
        return route
    path = scope.get("path", "")
    for r in app.router.routes:
        if isinstance(r, Mount) and path.startswith(r.path + "/"):
            return r.path + "/{path}"
    return UNMATCHED


def instrument(app: FastAPI) -> CollectorRegistry:
    """Count and time every HTTP request of `app` (pure ASGI middleware: a handler's exception is
    counted as 500 and re-raised to the app's error handler) and serve GET /metrics."""
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter(
        "mirante_api_requests",
        "Requests answered by the data API, by route template and status.",
        ["route", "status"],
        registry=registry,
    )
    duration = Histogram(
        "mirante_api_request_duration_seconds",
        "Time to answer a request of the data API, by route template.",
        ["route"],
        buckets=BUCKETS,
        registry=registry,
    )

    class Metrics:
        def __init__(self, asgi):
            self.asgi = asgi

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.asgi(scope, receive, send)
            status = {"code": 500}

            async def sending(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            t0 = time.perf_counter()
            try:
                await self.asgi(scope, receive, sending)
            finally:
                route = _template(app, scope)
                requests.labels(route, str(status["code"])).inc()
                duration.labels(route).observe(time.perf_counter() - t0)

    app.add_middleware(Metrics)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
