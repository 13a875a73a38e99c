"""GET /v1/relatorios and GET /v1/relatorios/{mes}/{tipo}.{pdf|csv}: the monthly finance reports
(income statement and daily cash flow, PDF and CSV) that the Dagster asset `relatorios/financeiro_mensal`
archives, behind an API key with scope `relatorios` like every /v1 route.

Why this module exists: the reports are files, not marts, so they need routes of their own. The API
imports no orchestration (tests/test_layering.py): it reads the archive's manifest and files through
mirante/relatorios.py, whose folder mirante.config names (MIRANTE_RELATORIOS_DIR).

    GET /v1/relatorios[?mes=AAAA-MM&tipo=dre|fluxo_caixa&formato=pdf|csv]
        {"data": [{mes, tipo, formato, versao, sha256, bytes, gerado_em, url}, ...]}: the current
        version of every report, by month, type and format
    GET /v1/relatorios/{mes}/{tipo}.{formato}[?versao=N]
        the file (application/pdf or text/csv), as an attachment named tipo_AAAA-MM.formato, with
        its sha256 as ETag; `versao` asks for an earlier version (the manifest keeps them all)
A month, type, format or version the archive does not hold: 404 with a readable `detail`.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse

from mirante import relatorios as arquivo
from mirante.api.errors import ApiError
from mirante.api.openapi import AUTH_RESPONSES, SECURITY_SCHEME
from mirante.api.query import _shown

#: the scope a key needs (a pattern like `*` grants it too); the dashboard's key has it
SCOPE = "relatorios"
_ARQUIVO = re.compile(r"^([a-z_]+)\.([a-z]+)$")
_FILTROS = {"mes", "tipo", "formato"}

NOT_FOUND = {
    "404": {"description": "No such report in the archive", "content": AUTH_RESPONSES["401"]["content"]}
}


def _check_key(api, request: Request) -> None:
    key = api.key_of(request)
    if not key.allows(SCOPE):
        raise ApiError(403, f"API key {key.label} has no scope {SCOPE!r}")


def _params(request: Request, allowed: set[str]) -> dict[str, str]:
    unknown = [p for p in request.query_params if p not in allowed]
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter(s): {', '.join(map(_shown, unknown))}; "
            f"this route takes {', '.join(sorted(allowed)) or 'none'}",
        )
    repeated = [p for p in allowed if len(request.query_params.getlist(p)) > 1]
    if repeated:
        raise ApiError(400, f"query parameter(s) given more than once: {', '.join(sorted(repeated))}")
    return dict(request.query_params)


def url_of(entry: arquivo.Relatorio) -> str:
    return f"/v1/relatorios/{entry.mes}/{entry.tipo}.{entry.formato}"


def mount(app: FastAPI) -> None:
    """Add the two report routes to `app` (before its /v1/{mart} catch-all)."""
    api = app.state.api

    @app.get(
        "/v1/relatorios",
        tags=["relatorios"],
        summary="The monthly finance reports (DRE and cash flow, PDF and CSV): current versions",
        openapi_extra={"security": [{SECURITY_SCHEME: []}], "responses": AUTH_RESPONSES},
    )
    def listar(request: Request) -> dict:
        _check_key(api, request)
        params = _params(request, _FILTROS)
        try:
            if "mes" in params:
                arquivo.check_mes(params["mes"])
        except ValueError as exc:
            raise ApiError(400, f"mes: {exc}") from None
        for name, options in (("tipo", arquivo.TIPOS), ("formato", arquivo.FORMATOS)):
            if name in params and params[name] not in options:
                raise ApiError(400, f"{name}: {_shown(params[name])} is not one of {', '.join(options)}")
        rows = [
            {
                "mes": e.mes,
                "tipo": e.tipo,
                "formato": e.formato,
                "versao": e.versao,
                "sha256": e.sha256,
                "bytes": e.bytes,
                "gerado_em": e.gerado_em,
                "url": url_of(e),
            }
            for e in arquivo.current(params.get("mes"))
            if all(params.get(k) in (None, getattr(e, k)) for k in ("tipo", "formato"))
        ]
        return {"data": rows}

    @app.get(
        "/v1/relatorios/{mes}/{nome}",
        tags=["relatorios"],
        summary="One report file: /v1/relatorios/AAAA-MM/dre.pdf, .../fluxo_caixa.csv, ...",
        response_class=FileResponse,
        openapi_extra={
            "security": [{SECURITY_SCHEME: []}],
            "responses": {**AUTH_RESPONSES, **NOT_FOUND},
        },
    )
    def baixar(mes: str, nome: str, request: Request) -> FileResponse:
        _check_key(api, request)
        params = _params(request, {"versao"})
        found = _ARQUIVO.match(nome)
        try:
            arquivo.check_mes(mes)
            if not found:
                raise ValueError(f"{_shown(nome)} is not <tipo>.<formato>, e.g. dre.pdf or fluxo_caixa.csv")
            tipo, formato = found.groups()
            arquivo.check(mes, tipo, formato)
        except ValueError as exc:
            raise ApiError(404, f"no such report: {exc}") from None
        versao = None
        if "versao" in params:
            if not params["versao"].isdigit() or int(params["versao"]) < 1:
                raise ApiError(400, f"versao: {_shown(params['versao'])} is not a positive integer")
            versao = int(params["versao"])
        hit = arquivo.find(mes, tipo, formato, versao)
        if hit is None:
            which = f"version {versao} of " if versao else ""
            raise ApiError(
                404,
                f"the archive has no {which}report {tipo}.{formato} for {mes} "
                f"(GET /v1/relatorios lists the reports there are)",
            )
        entry, path = hit
        return FileResponse(
            path,
            media_type=arquivo.MEDIA_TYPES[formato],
            filename=entry.nome if versao is None else f"{tipo}_{mes}.v{entry.versao}.{formato}",
            headers={"ETag": f'"{entry.sha256}"', "Cache-Control": "no-cache"},
        )
