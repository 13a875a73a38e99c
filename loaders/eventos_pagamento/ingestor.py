"""A run of the ingester: micro-batches from the stored offset until the stream is caught up (or
`max_lotes` batches), each fetched, parsed and published in one transaction (raw.py). One run at a
time per warehouse (the `eventos_pagamento` lock, mirante.pipelines.exclusive); a second one waits.

Stages (what the kill drill of tests/test_eventos_pagamento.py interrupts): `fetch` (client.fetch),
`parse` (parse.parse_batch), `publish` (raw.publish: inserts and the offset update, then COMMIT).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from mirante import config

from . import client, raw
from .parse import parse_batch
from .settings import PIPELINE_NAME, EventosSettings, read_settings


@dataclass
class Resultado:
    desde: int = 0
    ate: int = 0
    lotes: list[raw.Publicado] = field(default_factory=list)
    #: the latest offset the source had published when the last batch was read
    ultimo_publicado: int | None = None

    @property
    def eventos(self) -> int:
        return sum(p.eventos for p in self.lotes)

    @property
    def quarentena(self) -> int:
        return sum(p.quarentena for p in self.lotes)

    @property
    def atraso(self) -> int | None:
        """Events the source had published past what this run loaded (0: caught up)."""
        return None if self.ultimo_publicado is None else max(self.ultimo_publicado - self.ate, 0)


def ingest(
    srv: config.Server | None = None,
    settings: EventosSettings | None = None,
    *,
    on_wait: Callable[[str], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> Resultado:
    """Load every event published after the stored offset (at most settings.max_lotes batches)."""
    from mirante import db
    from mirante.pipelines import exclusive

    srv = srv or db.running_server()
    settings = settings or read_settings()
    http = client.session()
    with (
        exclusive(PIPELINE_NAME, srv=srv, role="loader", on_wait=on_wait),
        psycopg.connect(
            srv.url("loader"), autocommit=True, application_name="mirante eventos_pagamento"
        ) as conn,
    ):
        raw.ensure_tables(conn)
        desde = raw.stored_offset(conn)
        result = Resultado(desde=desde, ate=desde)
        for _ in range(settings.max_lotes):
            pagina = client.fetch(settings, desde, http=http)
            result.ultimo_publicado = pagina.ultimo_publicado
            linhas = parse_batch(desde, pagina.linhas, pagina.ultimo_publicado)
            if not linhas:
                break
            published = raw.publish(conn, desde, linhas, uuid.uuid4().hex)
            result.lotes.append(published)
            result.ate = desde = published.ate
            if log:
                log(
                    f"batch {published.id_lote}: offsets {published.desde + 1}..{published.ate}, "
                    f"{published.eventos} events, {published.quarentena} quarantined"
                )
            if len(linhas) < settings.lote:
                break
    return result
