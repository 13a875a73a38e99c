"""A request's query string: the filters and paging it may carry, validated into a Query, and the
SQL where clause and next-page link built from it (values bound, names from the catalogue).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from fastapi import Request
from psycopg import sql

from mirante import config
from mirante.api.catalogue import _DATES, _INTEGER, _NUMERIC, _TEXT, FILTERS, Column, Mart
from mirante.api.errors import ApiError

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
PAGING = ("limit", "offset")
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 100, 1000, 1_000_000
ANO_MIN, ANO_MAX = 1900, 2100


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


def _valued(mart: Mart, name: str) -> Column | None:
    """The mart's column `name` when it holds the filter's own value (a year, a month number); a
    date column named like the filter (e.g. `mes`, the first day of the month) does not: the
    filter then applies to the mart's date column like on a mart without such a column."""
    col = mart.column(name)
    return col if col is not None and col.type not in _DATES else None


def where_clause(mart: Mart, q: Query) -> tuple[sql.Composable, list]:
    conds: list[sql.Composable] = []
    params: list = []

    def add(cond: sql.Composable, *values) -> None:
        conds.append(cond)
        params.extend(values)

    for name in ("id_municipio", "sigla_uf", "ano", "mes"):
        if name in q.filters and _valued(mart, name):
            add(*_equals(mart.column(name), q.filters[name]))
    dcol = mart.date_column
    if dcol is not None:
        ident = sql.Identifier(dcol.name)
        as_date = ident if dcol.type == "date" else sql.SQL("({})::date").format(ident)
        ano, mes = q.filters.get("ano"), q.filters.get("mes")
        derive_ano, derive_mes = not _valued(mart, "ano") and ano, not _valued(mart, "mes") and mes
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
