"""dlt source for the Banco Central do Brasil SGS API: the configured time series (settings.SERIES)
into raw_bcb.series, malformed items into raw_bcb.quarentena.

One code path for the live API and the offline emulator (emulators/bcb.py); only `base_url`
differs. Per series:

- incremental by date: a cursor per series (the last date loaded, in the source's dlt state)
  is the next run's `dataInicial`; that last day is read again, and rows merge on
  (codigo_serie, data), so a re-pull adds nothing. First run: settings.INITIAL_DATE;
- daily series are asked for in windows of at most settings.WINDOW_YEARS years (the live API
  refuses longer ones); monthly series in one request;
- a 404 fails the run with the series and the URL; another refusal (4xx, or 5xx after the
  retries) or a body that is not a JSON list fails it with the status and the API's message;
  an empty answer is no rows; an item whose date or value does not parse goes to quarantine
  with the reason, and the rest of the series loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import dlt

from mirante.loaders import DltLoader
from mirante.pipelines import SCHEMA_CONTRACT, retrying_session

from . import settings
from .settings import DATASET, DOMAIN, PIPELINE_NAME, BcbSettings, read_settings

__all__ = [
    "bcb_source",
    "read_settings",
    "windows",
    "LOADER",
    "BcbError",
    "BcbSeriesNotFound",
    "BcbSettings",
    "DATASET",
    "PIPELINE_NAME",
    "DOMAIN",
]


class BcbError(RuntimeError):
    """The SGS API refused a query or answered something that is not a list of observations."""


class BcbSeriesNotFound(BcbError):
    """404: the series (or the path) does not exist at that base URL."""


#: what the SGS API sends as a value: a plain decimal with a point ("0.55", "-0.11", "5.1234")
_VALUE = re.compile(r"^-?\d+(\.\d+)?$")
_COLUMNS = {
    "codigo_serie": {"data_type": "bigint", "nullable": False},
    "data": {"data_type": "date", "nullable": False},
    "valor": {"data_type": "decimal", "precision": 20, "scale": 6, "nullable": False},
}
_QUARANTINE_COLUMNS = {
    "codigo_serie": {"data_type": "bigint", "nullable": False},
    "data_bruta": {"data_type": "text", "nullable": False},
    "valor_bruto": {"data_type": "text", "nullable": False},
    "motivo": {"data_type": "text", "nullable": False},
    "url": {"data_type": "text"},
    "visto_em": {"data_type": "timestamp", "timezone": True},
}


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def windows(start: date, end: date, periodicity: str) -> list[tuple[date, date]]:
    """[start, end] cut into the query windows: one for a monthly series; for a daily one, windows
    of at most WINDOW_YEARS years (each ends the day before the same date WINDOW_YEARS later)."""
    if start > end:
        return []
    if periodicity != settings.DIARIA:
        return [(start, end)]
    out = []
    while start <= end:
        stop = min(_add_years(start, settings.WINDOW_YEARS) - timedelta(days=1), end)
        out.append((start, stop))
        start = stop + timedelta(days=1)
    return out


def parse_item(code: int, item: Any) -> tuple[dict | None, str | None]:
    """(row, None) for a well-formed `{"data": "dd/MM/yyyy", "valor": "0.55"}`, else (None, reason)."""
    if not isinstance(item, dict) or "data" not in item or "valor" not in item:
        return None, "item sem data ou valor"
    raw_date, raw_value = item["data"], item["valor"]
    try:
        day = datetime.strptime(str(raw_date), "%d/%m/%Y").date()
    except ValueError:
        return None, "data inválida (esperado dd/MM/aaaa)"
    if raw_value is None or str(raw_value).strip() == "":
        return None, "valor vazio"
    if not isinstance(raw_value, str) or not _VALUE.match(raw_value):
        return None, "valor não numérico"
    try:
        value = Decimal(raw_value)
    except InvalidOperation:
        return None, "valor não numérico"
    return {"codigo_serie": code, "data": day, "valor": value}, None


@dlt.source(name="bcb", max_table_nesting=0)
def bcb_source(
    base_url: str = settings.BASE_URL,
    series: dict[int, tuple[str, str]] | None = None,
    today: date | None = None,
    max_attempts: int = settings.MAX_ATTEMPTS,
    backoff_factor: float = settings.BACKOFF_FACTOR,
    max_retry_delay: float = settings.MAX_RETRY_DELAY,
    request_timeout: float = settings.REQUEST_TIMEOUT,
):
    """Resources `series` (merged on codigo_serie, data) and `quarentena`, for `series` (default:
    settings.SERIES) up to `today` (default: the current date). Building it makes no request."""
    base_url = base_url.rstrip("/")
    wanted = dict(series if series is not None else settings.SERIES)
    pulled: dict[int, tuple[list[dict], list[dict]]] = {}
    session = None

    def get(code: int, start: date, end: date) -> list:
        nonlocal session
        if session is None:
            session = retrying_session(
                max_attempts=max_attempts,
                backoff_factor=backoff_factor,
                max_retry_delay=max_retry_delay,
                request_timeout=request_timeout,
            )
        url = f"{base_url}/dados/serie/bcdata.sgs.{code}/dados"
        params = {
            "formato": "json",
            "dataInicial": start.strftime("%d/%m/%Y"),
            "dataFinal": end.strftime("%d/%m/%Y"),
        }
        resp = session.get(url, params=params, timeout=request_timeout)
        if resp.status_code == 404:
            raise BcbSeriesNotFound(f"BCB SGS series {code} not found (HTTP 404) at {resp.url}")
        if resp.status_code >= 400:
            raise BcbError(
                f"BCB SGS refused series {code} (HTTP {resp.status_code}) at {resp.url}: {resp.text[:300]}"
            )
        if not resp.text.strip():
            return []
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, list):
            raise BcbError(
                f"BCB SGS answered series {code} with something other than a JSON list at {resp.url}: "
                f"{resp.text[:300]}"
            )
        return body

    def pull(code: int) -> tuple[list[dict], list[dict]]:
        """(rows, quarantine) of one series from its cursor to today, fetched once per run."""
        if code not in pulled:
            cursor = dlt.current.source_state().get("cursores", {}).get(str(code))
            start = date.fromisoformat(cursor) if cursor else settings.INITIAL_DATE
            end = today or date.today()
            rows: dict[date, dict] = {}
            bad: dict[tuple, dict] = {}
            seen = datetime.now(UTC)
            for first, last in windows(start, end, wanted[code][1]):
                for item in get(code, first, last):
                    row, reason = parse_item(code, item)
                    if row is not None:
                        rows[row["data"]] = row
                        continue
                    raw = item if isinstance(item, dict) else {"valor": item}
                    quarantined = {
                        "codigo_serie": code,
                        "data_bruta": "" if raw.get("data") is None else str(raw.get("data")),
                        "valor_bruto": "" if raw.get("valor") is None else str(raw.get("valor")),
                        "motivo": reason,
                        "url": f"{base_url}/dados/serie/bcdata.sgs.{code}/dados",
                        "visto_em": seen,
                    }
                    bad[(quarantined["data_bruta"], quarantined["valor_bruto"])] = quarantined
            pulled[code] = ([rows[d] for d in sorted(rows)], list(bad.values()))
        return pulled[code]

    @dlt.resource(
        name="series",
        primary_key=settings.PRIMARY_KEY,
        write_disposition="merge",
        schema_contract=SCHEMA_CONTRACT,
        columns=_COLUMNS,
    )
    def series_rows() -> Iterator[list[dict]]:
        cursors = dlt.current.source_state().setdefault("cursores", {})
        for code in wanted:
            rows, _ = pull(code)
            if rows:
                yield rows
                cursors[str(code)] = rows[-1]["data"].isoformat()

    @dlt.resource(
        name="quarentena",
        primary_key=settings.QUARANTINE_KEY,
        write_disposition="merge",
        schema_contract=SCHEMA_CONTRACT,
        columns=_QUARANTINE_COLUMNS,
    )
    def quarentena() -> Iterator[list[dict]]:
        for code in wanted:
            _, bad = pull(code)
            if bad:
                yield bad

    return series_rows, quarentena


LOADER = DltLoader(
    name=PIPELINE_NAME,
    dataset=DATASET,
    domain=DOMAIN,
    source=bcb_source,
    read_settings=read_settings,
    placeholder={"base_url": "http://127.0.0.1:9/definition-only"},
    pending_packages=settings.PENDING_PACKAGES,
    clean_errors=(BcbError,),
    description="Banco Central SGS series (IPCA, Selic, CDI, dollar, IGP-M) over HTTP, incremental by date",
)
