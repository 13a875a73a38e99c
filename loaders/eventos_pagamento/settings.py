"""Constants and configuration of the live payment event stream (Pix received/sent, card settlements).

Configuration is read at call time (`read_settings`), never at import: environment first, then the
`[sources.eventos_pagamento]` section of the git-ignored `.dlt/secrets.toml`:

    MIRANTE_EVENTOS_PAGAMENTO_BASE_URL  base URL of the stream (`GET <url>/v1/eventos`); no default:
                                        the offline world points it at the emulator
                                        (emulators/eventos_pagamento.py), a deployment at the real one
    MIRANTE_EVENTOS_PAGAMENTO_TOKEN     its bearer token (a secret; no default)
    MIRANTE_EVENTOS_PAGAMENTO_LOTE      events per micro-batch (default LOTE, at most the source's
                                        MAX_LIMITE)
    MIRANTE_EVENTOS_PAGAMENTO_MAX_LOTES micro-batches per run at most (default MAX_LOTES): a run
                                        catches up on a backlog, then stops
"""

from __future__ import annotations

from dataclasses import dataclass

from mirante import config

DATASET = "raw_eventos_pagamento"
#: name of its run lock and Dagster pool; not a dlt pipeline (loaders/eventos_pagamento/__init__.py)
PIPELINE_NAME = "eventos_pagamento"
DOMAIN = "financas"
#: the one stream of the source (raw_eventos_pagamento.deslocamentos has a row per stream)
STREAM = "eventos"

#: the source's path and its largest page
PATH = "/v1/eventos"
MAX_LIMITE = 10_000
LOTE = 5_000
MAX_LOTES = 50

#: retries on 429, 5xx and connection errors; 4xx never (a refused token fails at once)
MAX_ATTEMPTS = 5
BACKOFF_FACTOR = 1.0
MAX_RETRY_DELAY = 30.0
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class EventosSettings:
    base_url: str | None
    #: a secret: kept out of repr (Dagster logs and error messages)
    token: str | None = None
    lote: int = LOTE
    max_lotes: int = MAX_LOTES

    def __repr__(self) -> str:
        return f"EventosSettings(base_url={self.base_url!r}, lote={self.lote}, max_lotes={self.max_lotes})"

    def url(self) -> str:
        if not self.base_url:
            raise RuntimeError(
                "no payment event stream configured: set MIRANTE_EVENTOS_PAGAMENTO_BASE_URL (or base_url "
                "under [sources.eventos_pagamento] in .dlt/secrets.toml)"
            )
        return self.base_url + PATH


def _int(name: str, value: str | int | None, default: int, high: int | None = None) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if number < 1 or (high is not None and number > high):
        raise ValueError(f"{name} must be between 1 and {high or 'any'}, got {number}")
    return number


def read_settings(
    base_url: str | None = None,
    token: str | None = None,
    lote: int | str | None = None,
    max_lotes: int | str | None = None,
) -> EventosSettings:
    """The arguments, else MIRANTE_EVENTOS_PAGAMENTO_* / [sources.eventos_pagamento], else defaults."""
    url = base_url or config.source_setting(PIPELINE_NAME, "base_url")
    return EventosSettings(
        base_url=url.rstrip("/") if url else None,
        token=token or config.source_setting(PIPELINE_NAME, "token"),
        lote=_int("lote", lote or config.source_setting(PIPELINE_NAME, "lote"), LOTE, MAX_LIMITE),
        max_lotes=_int(
            "max_lotes", max_lotes or config.source_setting(PIPELINE_NAME, "max_lotes"), MAX_LOTES
        ),
    )
