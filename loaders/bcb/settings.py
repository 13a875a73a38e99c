"""Constants and settings of the Banco Central do Brasil SGS source (time series over HTTP).

MIRANTE_BCB_BASE_URL  (or base_url under [sources.bcb] in .dlt/secrets.toml) the API's root;
                      default: the live API. The offline world points it at the emulator
                      (emulators/bcb.py), which serves the same paths and shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mirante import config

DATASET = "raw_bcb"
PIPELINE_NAME = "bcb"
DOMAIN = "financas"

#: live API: GET {BASE_URL}/dados/serie/bcdata.sgs.{code}/dados?formato=json&dataInicial=..&dataFinal=..
BASE_URL = "https://api.bcb.gov.br"

DIARIA, MENSAL = "diaria", "mensal"

#: the series pulled: SGS code -> (name, periodicity). Adding a series is one line here; a daily
#: one is queried in windows of at most WINDOW_YEARS (the live API's limit)
SERIES: dict[int, tuple[str, str]] = {
    433: ("IPCA - variação mensal (%)", MENSAL),
    432: ("Meta Selic definida pelo Copom (% a.a.)", DIARIA),
    4390: ("Selic acumulada no mês (% a.m.)", MENSAL),
    12: ("CDI (% a.d.)", DIARIA),
    1: ("Dólar americano, venda, PTAX (R$/US$)", DIARIA),
    189: ("IGP-M - variação mensal (%)", MENSAL),
}

#: first date asked for on a series' first load (the project's history horizon: the offline
#: series start here too)
INITIAL_DATE = date(2015, 1, 1)
#: longest window the live API accepts for a daily series (a longer one is refused)
WINDOW_YEARS = 10
#: grain of raw_bcb.series (a re-read date replaces itself: merge)
PRIMARY_KEY = ("codigo_serie", "data")
#: grain of raw_bcb.quarentena: the same malformed item seen again is one row
QUARANTINE_KEY = ("codigo_serie", "data_bruta", "valor_bruto")

#: retries on 429, 5xx and connection errors (mirante.pipelines.retrying_session); 4xx never
MAX_ATTEMPTS = 5
BACKOFF_FACTOR = 1.0
MAX_RETRY_DELAY = 30.0
REQUEST_TIMEOUT = 60.0

#: a killed run's pending packages are resumed (mirante.pipelines.settle_pending): the package is
#: a whole extract and the per-series cursors already moved past it; one whose load began is
#: dropped and the cursors rewound with it
PENDING_PACKAGES = "resume"


@dataclass(frozen=True)
class BcbSettings:
    base_url: str

    def source_kwargs(self) -> dict[str, str]:
        return {"base_url": self.base_url}


def read_settings(base_url: str | None = None) -> BcbSettings:
    """The API root: the argument, else MIRANTE_BCB_BASE_URL / [sources.bcb], else the live API."""
    url = base_url or config.source_setting("bcb", "base_url") or BASE_URL
    return BcbSettings(base_url=url.rstrip("/"))
