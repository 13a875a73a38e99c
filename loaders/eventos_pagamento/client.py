"""The HTTP client of the stream: one page of JSON lines from an offset (the same code for the real
source and the emulator; only the settings' base URL differs)."""

from __future__ import annotations

from dataclasses import dataclass

from mirante.pipelines import retrying_session

from . import settings as s
from .parse import EventosError


class EventosRecusados(EventosError):
    """The stream refused the token (401/403): not retried."""


@dataclass(frozen=True)
class Pagina:
    desde: int
    linhas: list[str]
    #: the latest offset the source says it has published (X-Ultimo-Deslocamento), None if absent
    ultimo_publicado: int | None


def session():
    return retrying_session(
        max_attempts=s.MAX_ATTEMPTS,
        backoff_factor=s.BACKOFF_FACTOR,
        max_retry_delay=s.MAX_RETRY_DELAY,
        request_timeout=s.REQUEST_TIMEOUT,
    )


def fetch(settings: s.EventosSettings, desde: int, limite: int | None = None, http=None) -> Pagina:
    """The events after `desde`, at most `limite` (default: the settings' batch size)."""
    http = http or session()
    headers = {"Accept": "application/x-ndjson"}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    url = settings.url()
    resp = http.get(
        url,
        params={"desde": desde, "limite": limite or settings.lote},
        headers=headers,
        timeout=s.REQUEST_TIMEOUT,
    )
    if resp.status_code in (401, 403):
        raise EventosRecusados(
            f"the payment event stream refused the token (HTTP {resp.status_code}) at {url}: check "
            "MIRANTE_EVENTOS_PAGAMENTO_TOKEN"
        )
    if resp.status_code >= 400:
        raise EventosError(
            f"the payment event stream answered HTTP {resp.status_code} at {url}: {resp.text[:300]}"
        )
    header = resp.headers.get("X-Ultimo-Deslocamento")
    try:
        ultimo = int(header) if header is not None else None
    except ValueError:
        ultimo = None
    return Pagina(desde, resp.content.decode("utf-8").splitlines(), ultimo)


def latest(settings: s.EventosSettings, desde: int, timeout: float = 10.0) -> int:
    """The latest offset the stream has published (what a sensor tick asks: one event after
    `desde`, no retries). Without the X-Ultimo-Deslocamento header: the offset of that event, or
    `desde` when there is none."""
    import requests

    from .parse import offset_of

    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    resp = requests.get(
        settings.url(), params={"desde": desde, "limite": 1}, headers=headers, timeout=timeout
    )
    if resp.status_code in (401, 403):
        raise EventosRecusados(f"the payment event stream refused the token (HTTP {resp.status_code})")
    resp.raise_for_status()
    header = resp.headers.get("X-Ultimo-Deslocamento")
    if header is not None and header.strip().isdigit():
        return int(header)
    lines = [line for line in resp.content.decode("utf-8").splitlines() if line.strip()]
    return offset_of(lines[0])[0] if lines else desde
