"""The OpenAPI document: one operation per mart with only its filters, the bearer key scheme, the
/docs page served from the swagger-ui-bundle package, and a mart's description for /v1/marts.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from mirante.api.catalogue import _INTEGER, _NUMERIC, _TEXT, Column, Mart
from mirante.api.query import ANO_MAX, ANO_MIN, DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, PAGING, UFS


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
